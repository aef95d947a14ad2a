"""``compat samples``: the real register lists bundled with compat.

Two lists of one host, Debian's Linux 7.2 and 7.3 under QEMU 7.2's
``-cpu max`` (``compat/data/samples/README.md`` says where they come from
and what a real QEMU 11.1 made of them), so the README's tour needs no
checkout: ``compat samples -o DIR`` copies them and their README.
"""

from __future__ import annotations

import argparse
from pathlib import Path

_EPILOG = """\
Without -o, lists the samples (file, host, kernel, entries) and where they
are installed.  With -o DIR, copies them and their README (provenance) into
DIR, which is created if needed; a file there with the same name and other
content is an error, nothing is overwritten.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``compat samples``."""
    parser.epilog = _EPILOG
    parser.add_argument("-o", "--output", metavar="DIR", type=Path,
                        help="copy the samples and their README into DIR")


def sample_files() -> dict[str, str]:
    """File name -> text of every bundled sample, README included."""
    from compat.core.resources import samples_dir
    folder = samples_dir()
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())
            if p.is_file() and (p.suffix == ".reglist" or p.name == "README.md")}


def run(args: argparse.Namespace) -> int:
    """List or copy the samples; 0 done, 1 a file could not be written."""
    from compat.core.diagnostics import CompatError, Diagnostic, Location
    from compat.core.resources import samples_dir
    from compat.core.style import echo
    from compat.output import read_existing, write_files

    files = sample_files()
    lists = [name for name in files if name.endswith(".reglist")]
    if args.output is None:
        from compat.analysis.reglist import read_reglist
        width = max(len(name) for name in lists)
        lines = [f"{len(lists)} sample register lists in {samples_dir()} (README.md: where "
                 "they come from):"]
        for name in lists:
            r = read_reglist(samples_dir() / name)
            lines.append(f"  {name:<{width}}  host {r.host}, Linux {r.kernel}, "
                         f"{len(r.indices)} entries")
        lines.append("copy them with: compat samples -o DIR")
        echo("\n".join(lines))
        return 0
    out = args.output
    if out.exists() and not out.is_dir():
        raise CompatError.at(Location(str(out)), "not a directory",
                             hint="give -o a directory (it is created if missing)")
    clashes = [Diagnostic(Location(str(out / name)), "exists with other content; not "
                          "overwritten", hint="copy the samples into another directory")
               for name, text in files.items()
               if (out / name).exists() and read_existing(out / name) != text]
    if clashes:
        raise CompatError(clashes)
    written = write_files(out, files)
    echo("\n".join([f"{out}: wrote {len(written)} of {len(files)} files ({len(lists)} "
                    "register lists and README.md)"] + [f"  {out / name}" for name in lists]))
    return 0
