"""The tools a QEMU build needs, each missing one named with its package.

Debian packages give the cross compiler and the host tools; meson comes
from PyPI (QEMU 10.2 needs meson >= 1.5; Debian bookworm has 1.0.1, and the
``+ds`` tarball ships no ``python/wheels`` to install one from).  QEMU's
configure runs meson with the Python given by ``--python``: the Python
that runs compat, so meson must be installed there (``pip install
'compat[lab]'``).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from compat.lab.errors import lab_error

CROSS = "aarch64-linux-gnu-"
#: tool -> the Debian package that installs it
BUILD_TOOLS = {
    f"{CROSS}gcc": "gcc-aarch64-linux-gnu",
    f"{CROSS}strip": "binutils-aarch64-linux-gnu",
    "ninja": "ninja-build",
    "pkg-config": "pkg-config",
    "dpkg-source": "dpkg-dev",
    "patch": "patch",
    "xz": "xz-utils",
}
MESON_MIN = (1, 5)


@dataclass(frozen=True)
class Toolchain:
    """Paths of the tools found, and the meson version of ``python``."""

    tools: dict
    python: str
    meson: str

    def __getitem__(self, name: str) -> str:
        return self.tools[name]


def _version_tuple(text: str) -> tuple[int, ...]:
    out = []
    for part in text.split("."):
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def meson_version() -> str | None:
    """The version of the ``meson`` distribution installed for this Python, or None."""
    from importlib import metadata
    try:
        return metadata.version("meson")
    except metadata.PackageNotFoundError:
        return None


def check(path: str | None = None, meson: str | None | bool = False) -> Toolchain:
    """Every build tool on ``path`` (default ``$PATH``) and meson >= 1.5 for this
    Python (``meson`` overrides the version found, for tests); the first one
    missing is an error naming the package that installs it."""
    search = os.environ.get("PATH", "") if path is None else path
    found = {}
    for tool, package in BUILD_TOOLS.items():
        hit = shutil.which(tool, path=search)
        if hit is None:
            raise lab_error(f"'{tool}' is not installed (or not on PATH); a QEMU build needs it",
                            f"install it with: apt-get install {package}")
        found[tool] = hit
    version = meson_version() if meson is False else meson
    if version is None:
        raise lab_error(f"meson is not installed for {sys.executable}; QEMU 10.2 needs meson >= 1.5",
                        "install it with: pip install 'meson>=1.5' (or pip install 'compat[lab]')")
    if _version_tuple(version) < MESON_MIN:
        raise lab_error(f"meson {version} is too old for QEMU 10.2 (needs >= 1.5)",
                        "upgrade it with: pip install 'meson>=1.5' (Debian bookworm's is 1.0.1)")
    return Toolchain(found, sys.executable, version)


def search_path(tools: Toolchain) -> str:
    """``$PATH`` for configure and ninja: the tools' directories first."""
    dirs = list(dict.fromkeys(str(Path(p).parent) for p in tools.tools.values()))
    return os.pathsep.join(dirs + [os.environ.get("PATH", "")])
