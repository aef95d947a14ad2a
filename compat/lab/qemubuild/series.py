"""A QEMU patch series: which patches, in which order, their hash, applying them.

A series directory holds ``*.patch`` files and, usually, a ``series`` file
naming them one per line, in order (``#`` starts a comment; quilt's
``-p1`` option after a name is accepted, any other option refused).  Without
a ``series`` file every ``*.patch`` applies in name order.  Each patch
applies with ``patch -p1 --forward --batch``: a patch that does not apply
stops the build with the patch's name and ``patch``'s own words about the
hunk.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from compat.core.diagnostics import CompatError, Location
from compat.lab.errors import lab_error, need_tool

#: the project's own series, per QEMU release (the one built by default)
PROJECT_SERIES = Path(__file__).resolve().parents[2] / "data" / "qemu-patches"


@dataclass(frozen=True)
class Series:
    """The patches of one series, in order, and where they came from."""

    directory: Path
    patches: tuple[Path, ...]
    from_series_file: bool

    @property
    def digest(self) -> str:
        """sha256 over each patch's name and bytes, in order: the series' part of
        the build's cache key (the ``series`` file's comments do not count)."""
        h = hashlib.sha256()
        for p in self.patches:
            data = p.read_bytes()
            h.update(f"{p.name}\0{len(data)}\0".encode())
            h.update(data)
        return h.hexdigest()

    @property
    def name(self) -> str:
        """How records name the series: the project's as ``compat/data/qemu-patches/X.Y``
        (not a path of this machine), a user's by the path given."""
        try:
            return "compat/data/" + self.directory.resolve().relative_to(PROJECT_SERIES.parent).as_posix()
        except ValueError:
            return str(self.directory)

    def describe(self) -> str:
        return f"{self.directory} ({len(self.patches)} patch{'es' if len(self.patches) != 1 else ''})"


def project_series(release: str) -> Path:
    """The project's series directory for QEMU ``release`` (``10.2``)."""
    return PROJECT_SERIES / release


def read_series(directory: Path, where: str = "--patches") -> Series:
    """The series in ``directory``; an error naming the file and line of a
    ``series`` entry that is not a patch of the directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CompatError.at(Location("<command line>"),
                             f"{where} {str(directory)!r} is not a directory",
                             hint="give a directory of *.patch files (and a 'series' file)")
    listing = directory / "series"
    if not listing.exists():
        patches = tuple(sorted(p for p in directory.glob("*.patch") if p.is_file()))
        if not patches:
            raise CompatError.at(Location(str(directory)), "no 'series' file and no *.patch file",
                                 hint="a series directory lists its patches in 'series', "
                                 "or holds *.patch files applied in name order")
        return Series(directory, patches, False)
    names: list[Path] = []
    for n, raw in enumerate(listing.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        here = Location(str(listing), n)
        name, options = words[0], words[1:]
        if options not in ([], ["-p1"]):
            raise CompatError.at(here, f"unsupported option {' '.join(options)!r} after {name!r}",
                                 hint="every patch applies with -p1")
        path = directory / name
        if "/" in name or name in (".", "..") or not path.is_file():
            raise CompatError.at(here, f"{name!r} is not a patch file in {directory}")
        if path in names:
            raise CompatError.at(here, f"{name!r} is listed twice")
        names.append(path)
    return Series(directory, tuple(names), True)


def apply_series(series: Series, tree: Path, report=print) -> None:
    """``patch -p1 --forward --batch`` each patch of ``series`` in ``tree``, in order."""
    patch = need_tool("patch")
    for i, p in enumerate(series.patches, 1):
        report(f"patch {i}/{len(series.patches)}: {p.name}")
        proc = subprocess.run([patch, "-p1", "--forward", "--batch", "-i", str(p)], cwd=tree,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            said = [l for l in proc.stdout.splitlines() if l.strip()]
            hunks = [l for l in said if "FAILED" in l or "Reversed" in l or "malformed" in l
                     or "Only garbage" in l or "can't find file" in l]
            raise lab_error(f"{p}: patch {i} of the series does not apply to the QEMU source "
                            f"(patch -p1 --forward --batch exit {proc.returncode}):",
                            "the series must match the source version (--source); "
                            "refresh the patch or give another --patches directory",
                            detail=tuple(hunks or said[-8:]))
