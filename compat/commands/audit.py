"""``compat audit``: simulate every promised migration among register lists."""

from __future__ import annotations

import argparse
from pathlib import Path

from compat.core.style import echo
from compat.commands.common import (add_kernel_option, add_registry_option, check_kernel_files,
                                   kernel_for, open_loaded, print_json)

_EPILOG = """\
For each machine type, every ordered pair of lists of the same host whose
kernels are both within the machine type's promise (min-kernel and later) is
simulated with the machine type's compat properties.  Registers that come and
go between one host's lists and that the registry lacks are reported with a
registry entry to paste (fill in its FIXMEs).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``compat audit``."""
    parser.epilog = _EPILOG
    add_registry_option(parser)
    parser.add_argument("reglists", metavar="REGLIST", nargs="+", type=Path,
                        help="register lists (HOST-linux-KERNEL.reglist, or with "
                        "'# kernel:' / '# host:' headers)")
    parser.add_argument("--machine", metavar="virt-X.Y", action="append",
                        help="audit only this machine type (repeatable; default: all)")
    add_kernel_option(parser)
    parser.add_argument("--host", metavar="NAME",
                        help="the host of lists that name none in header or file name")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--html", metavar="FILE", type=Path,
                        help="also write a self-contained HTML report to FILE")


def run(args: argparse.Namespace) -> int:
    """Audit; 0 if nothing is found, 1 otherwise."""
    from compat.analysis.audit import audit
    from compat.analysis.reglist import read_reglist
    from compat.core.diagnostics import CompatError, Location

    loaded = open_loaded(args)
    check_kernel_files(args, args.reglists)
    lists = [read_reglist(path, kernel=kernel_for(args, path), host=args.host)
             for path in args.reglists]
    report = audit(lists, loaded.registry, loaded.derivation, machines=args.machine)
    if args.html is not None:
        from compat.analysis.html_report import render_html
        try:
            args.html.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            raise CompatError.at(Location(str(args.html)),
                                 f"cannot write the HTML report: {exc.strerror or exc}") from None
    if args.json:
        print_json(report.to_json())
    else:
        echo(report.to_text())
    return 0 if report.ok else 1
