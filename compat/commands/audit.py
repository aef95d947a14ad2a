"""``compat audit``: simulate every promised migration among register lists."""

from __future__ import annotations

import argparse
from pathlib import Path

from compat.commands.common import (add_kernel_option, add_registry_option, check_kernel_files,
                                    kernel_for, open_loaded, print_json, read_list, registry_path)
from compat.core.style import echo

_EPILOG = """\
For each machine type, every ordered pair of lists of the same host and
vCPU features (their '# vcpu-features:' header; nested vCPUs, el2, form a
class of their own) whose kernels are both within the machine type's
promise (min-kernel and later) is simulated under --rules (default: the machine type's compat properties; the
lists' values are what each source kernel gives a new vCPU).  A machine type
that refuses a class's vCPU feature (virtualization=on on a type whose
promise nested vCPUs cannot keep) promises that class nothing.

The report leads with the verdict, then one block per failing register: the
error QEMU prints, the machine types and kernel pairs it breaks, the fix.  A
register the registry lacks that breaks a promised migration comes with a
registry entry to paste (fill in its FIXMEs).  Registers that come and go
only between kernels no machine type promises are counted and named on one
line, not failed; --suggest prints their entries too.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``compat audit``."""
    from compat.qemu import modes
    parser.epilog = modes.help_text("compat-props (each machine type's tables) is the "
                                    "default") + "\n\n" + _EPILOG
    add_registry_option(parser)
    parser.add_argument("reglists", metavar="REGLIST", nargs="+", type=Path,
                        help="register lists (HOST-linux-KERNEL.reglist, or with "
                        "'# kernel:' / '# host:' headers)")
    parser.add_argument("--machine", metavar="virt-X.Y", action="append",
                        help="audit only this machine type (repeatable; default: all)")
    add_kernel_option(parser)
    parser.add_argument("--host", metavar="NAME",
                        help="the host of lists that name none in header or file name")
    parser.add_argument("--rules", choices=modes.NAMES, metavar="MODE", default="compat-props",
                        help="the QEMU that runs the migrations (see 'rules' below)")
    parser.add_argument("--suggest", action="store_true",
                        help="also print a registry entry for each register that varies "
                        "only outside every machine type's promise")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--html", metavar="FILE", type=Path,
                        help="also write a self-contained HTML report to FILE")


def run(args: argparse.Namespace) -> int:
    """Audit; 0 if every promised migration passes, 1 if one fails."""
    from compat.analysis.audit import audit

    check_kernel_files(args, args.reglists)
    kernels = [kernel_for(args, path) for path in args.reglists]
    loaded = open_loaded(args)
    lists = [read_list(path, kernel=kernel, host=args.host)
             for path, kernel in zip(args.reglists, kernels)]
    report = audit(lists, loaded.registry, loaded.derivation, machines=args.machine,
                   rules=args.rules)
    if args.html is not None:
        from compat.analysis.html_report import render_html
        from compat.output import refuse_clobbering, write_file
        refuse_clobbering(args.html, "--html", inputs=[registry_path(args)[0], *args.reglists])
        write_file(args.html, render_html(report))
    if args.json:
        print_json(report.to_json())
    else:
        echo(report.to_text(suggest=args.suggest))
    return 0 if report.ok else 1
