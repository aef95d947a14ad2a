"""``compat diff``: registers added and removed between two register lists."""

from __future__ import annotations

import argparse

from compat.commands.common import add_registry_option, kernel_option, open_loaded, print_json

_EPILOG = """\
A register NEW adds breaks backward migration (NEW -> OLD); a register NEW
removes breaks forward migration (OLD -> NEW), unless the registry has a rule.
Only registers in QEMU's cpreg list count; core and SVE registers are listed
but break nothing.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``compat diff``."""
    parser.epilog = _EPILOG
    add_registry_option(parser)
    parser.add_argument("old", metavar="OLD", help="the older host's register list")
    parser.add_argument("new", metavar="NEW", help="the newer host's register list")
    parser.add_argument("--old-kernel", metavar="X.Y", help="OLD's kernel, if it does not say")
    parser.add_argument("--new-kernel", metavar="X.Y", help="NEW's kernel, if it does not say")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Print the difference; always 0 unless the input is bad."""
    from compat.analysis.listdiff import diff_lists
    from compat.analysis.reglist import read_reglist

    old_kernel = kernel_option(args.old_kernel, "--old-kernel")
    new_kernel = kernel_option(args.new_kernel, "--new-kernel")
    registry = open_loaded(args).registry
    old = read_reglist(args.old, kernel=old_kernel)
    new = read_reglist(args.new, kernel=new_kernel)
    rows = diff_lists(old, new, registry)
    if args.json:
        print_json({"old": old.to_json(), "new": new.to_json(), "changes": rows})
        return 0
    print(f"{old.name} -> {new.name}: {sum(r['change'] == 'added' for r in rows)} added, "
          f"{sum(r['change'] == 'removed' for r in rows)} removed")
    for r in rows:
        sign = "+" if r["change"] == "added" else "-"
        print(f"{sign} {r['index']} {r['name'] or '(unnamed)'} [{r['qemu_name']}]")
        print(f"    breaks {r['breaks']}; {r['covered']}")
    return 0
