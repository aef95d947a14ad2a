"""``compat diff``: registers added and removed between two register lists."""

from __future__ import annotations

import argparse

from compat.commands.common import add_registry_option, open_registry, print_json

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


def diff_lists(old, new, registry) -> list[dict]:
    """Each register in exactly one list, decoded, named and with what it breaks."""
    from compat import codec
    by_index = registry.register_by_index()
    rows = []
    for change, indices in (("added", set(new.indices) - set(old.indices)),
                            ("removed", set(old.indices) - set(new.indices))):
        for index in sorted(indices):
            decoded = codec.decode(index)
            reg = by_index.get(index)
            migrates = decoded.in_cpreg_list()
            if not migrates:
                breaks = "nothing (not in QEMU's cpreg list)"
            elif change == "added":
                breaks = f"backward migration {new.name} -> {old.name}"
            else:
                breaks = f"forward migration {old.name} -> {new.name}"
            if reg is None:
                covered = "not in the registry"
            elif reg.compat is None:
                covered = "in the registry, without a compat rule"
            else:
                covered = f"in the registry: compat = \"{reg.compat}\""
            rows.append({"change": change, "index": codec.format_index(index),
                         "name": reg.name if reg is not None else decoded.name,
                         "qemu_name": decoded.qemu_name, "encoding": decoded.encoding(),
                         "in_cpreg_list": migrates, "breaks": breaks,
                         "in_registry": reg is not None,
                         "compat": reg.compat if reg is not None else None,
                         "covered": covered})
    return rows


def run(args: argparse.Namespace) -> int:
    """Print the difference; always 0 unless the input is bad."""
    from compat.analysis.reglist import read_reglist

    registry = open_registry(args)
    old = read_reglist(args.old, kernel=args.old_kernel)
    new = read_reglist(args.new, kernel=args.new_kernel)
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
