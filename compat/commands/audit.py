"""``compat audit``: simulate every promised migration among register lists."""

from __future__ import annotations

import argparse
from pathlib import Path

from compat.commands.common import (add_kernel_option, add_registry_option, check_kernel_files,
                                    kernel_for, open_loaded, print_json, read_list, registry_path)
from compat.core.style import echo

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

    check_kernel_files(args, args.reglists)
    kernels = [kernel_for(args, path) for path in args.reglists]
    loaded = open_loaded(args)
    lists = [read_list(path, kernel=kernel, host=args.host)
             for path, kernel in zip(args.reglists, kernels)]
    report = audit(lists, loaded.registry, loaded.derivation, machines=args.machine)
    if args.html is not None:
        from compat.analysis.html_report import render_html
        from compat.output import refuse_clobbering, write_file
        refuse_clobbering(args.html, "--html", inputs=[registry_path(args)[0], *args.reglists])
        write_file(args.html, render_html(report))
    if args.json:
        print_json(report.to_json())
    else:
        echo(report.to_text())
    return 0 if report.ok else 1
