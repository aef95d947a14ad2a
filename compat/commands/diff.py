"""``compat diff``: registers added and removed between two register lists."""

from __future__ import annotations

import argparse

from compat.commands.common import (add_kernel_option, add_registry_option, check_kernel_files,
                                    kernel_for, open_loaded, print_json, read_list)
from compat.core.style import echo

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
    add_kernel_option(parser, ("--old-kernel", "old"), ("--new-kernel", "new"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Print the difference; 1 if a register that breaks migration has no
    registry rule (see :func:`uncovered`), else 0."""
    from compat.analysis.listdiff import diff_lists

    check_kernel_files(args, (args.old, args.new))
    old_kernel = kernel_for(args, args.old, "old_kernel")
    new_kernel = kernel_for(args, args.new, "new_kernel")
    registry = open_loaded(args).registry
    old = read_list(args.old, kernel=old_kernel)
    new = read_list(args.new, kernel=new_kernel)
    rows = diff_lists(old, new, registry)
    if args.json:
        print_json({"old": old.to_json(), "new": new.to_json(), "changes": rows})
        return 1 if uncovered(rows) else 0
    lines = [f"{old.name} -> {new.name}: {sum(r['change'] == 'added' for r in rows)} added, "
             f"{sum(r['change'] == 'removed' for r in rows)} removed"]
    for r in rows:
        sign = "+" if r["change"] == "added" else "-"
        lines.append(f"{sign} {r['index']} {r['name'] or '(unnamed)'} [{r['qemu_name']}]")
        lines.append(f"    breaks {r['breaks']}; {r['covered']}")
    missing = uncovered(rows)
    if missing:
        verb = "register breaks" if len(missing) == 1 else "registers break"
        lines.append(f"{len(missing)} {verb} migration without a registry rule; "
                     "'compat audit' prints entries to add")
    echo("\n".join(lines))
    if missing:
        return 1
    return 0


def uncovered(rows: list[dict]) -> list[dict]:
    """Rows of registers in QEMU's cpreg list that the registry has no
    compat rule for: the findings that make ``compat diff`` exit 1."""
    return [r for r in rows if r["in_cpreg_list"] and r["compat"] is None]
