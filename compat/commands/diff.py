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
    from compat.qemu import modes
    parser.epilog = modes.help_text(
        "without --rules: whether the registry has a rule (applied by a QEMU carrying\n"
        "compat's tables or tolerances)") + "\n\n" + _EPILOG
    add_registry_option(parser)
    parser.add_argument("old", metavar="OLD", help="the older host's register list")
    parser.add_argument("new", metavar="NEW", help="the newer host's register list")
    add_kernel_option(parser, ("--old-kernel", "old"), ("--new-kernel", "new"))
    parser.add_argument("--rules", choices=modes.NAMES, metavar="MODE",
                        help="also say what that QEMU does with each register (see 'rules' "
                        "below; compat-props needs --machine)")
    parser.add_argument("--machine", metavar="virt-X.Y",
                        help="the machine type, for --rules compat-props (the default with it)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Print the difference; 1 if a register that breaks migration has no
    registry rule (see :func:`uncovered`), else 0."""
    from compat.analysis.listdiff import diff_lists
    from compat.analysis.reglist import same_vcpu_class

    check_kernel_files(args, (args.old, args.new))
    old_kernel = kernel_for(args, args.old, "old_kernel")
    new_kernel = kernel_for(args, args.new, "new_kernel")
    registry = open_loaded(args).registry
    old = read_list(args.old, kernel=old_kernel)
    new = read_list(args.new, kernel=new_kernel)
    same_vcpu_class(old, new)
    rows = diff_lists(old, new, registry)
    mode = _under_rules(args, registry, old, new, rows)
    if args.json:
        data = {"old": old.to_json(), "new": new.to_json(), "changes": rows}
        if mode is not None:
            data["rules"] = mode.to_json(args.machine)
        print_json(data)
        return 1 if uncovered(rows) else 0
    lines = [f"{old.name} -> {new.name}: {sum(r['change'] == 'added' for r in rows)} added, "
             f"{sum(r['change'] == 'removed' for r in rows)} removed"
             + (f", assuming {mode.describe(args.machine)}" if mode is not None else "")]
    for r in rows:
        sign = "+" if r["change"] == "added" else "-"
        lines.append(f"{sign} {r['index']} {r['name'] or '(unnamed)'} [{r['qemu_name']}]")
        lines.append(f"    breaks {r['breaks']}; {r['covered']}"
                     + (f"; {r['under_rules']}" if "under_rules" in r else ""))
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


def _under_rules(args, registry, old, new, rows):
    """With ``--rules``: each cpreg row's ``under_rules``, what that QEMU does
    with the register in the migration it would break; the mode, or None."""
    if args.rules is None and args.machine is None:
        return None
    from compat.analysis.simulate import COMPAT_PROPS, Simulator
    from compat.core.codec import c_number
    from compat.qemu import modes
    mode = modes.resolve(args.rules or COMPAT_PROPS)
    sim = Simulator(registry)
    rules = sim.rule_set(mode.name, args.machine)
    for row in rows:
        if not row["in_cpreg_list"]:
            continue
        index = c_number(row["index"])
        source = new if row["change"] == "added" else old
        short = mode.short(args.machine)
        if index in rules.hidden or index in rules.tolerated:
            row["under_rules"] = f"{short} lets it through"
            continue
        test = rules.value_tests.get(index)
        value = sim.source_value(index, source, rules)[0] if test is not None else None
        if test is not None and value is not None and test.allows(value):
            row["under_rules"] = (f"{short} lets it through while it holds {value:#x} "
                                  f"(value & {test.mask:#x} == {test.value:#x})")
        else:
            row["under_rules"] = f"{short} fails on it"
    return mode
