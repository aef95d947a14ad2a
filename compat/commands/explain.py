"""``compat explain``: one register's facts and its rule on every machine type."""

from __future__ import annotations

import argparse
import sys

from compat.commands.common import add_registry_option, open_loaded, print_json


def configure(parser: argparse.ArgumentParser) -> None:
    add_registry_option(parser)
    parser.add_argument("register", metavar="NAME_OR_INDEX",
                        help="a register name (TCR2_EL1), an index or a macro expression")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from compat.core import codec
    from compat.analysis.explain import explain_register
    from compat.core.diagnostics import CompatError, Location, did_you_mean

    loaded = open_loaded(args)
    registry = loaded.registry
    reg = registry.lookup_register(args.register)
    if reg is None:
        try:
            index = codec.parse_expr(args.register, {n: r.index for n, r in registry.registers.items()})
            reg = registry.register_by_index().get(index)
        except codec.CodecError:
            index = None
        if reg is None:
            hint = did_you_mean(args.register, registry.registers)
            known = "" if index is None else f" ({codec.format_index(index)} is " \
                f"{codec.decode(index).qemu_name}, not in the registry)"
            # not a usage mistake: the register is not in this registry (exit 1)
            raise CompatError.at(Location(registry.filename),
                                 f"unknown register '{args.register}'{known}{hint}",
                                 hint="'compat decode INDEX' names any index; 'compat "
                                 "new-register' scaffolds an entry")
    report = explain_register(registry, loaded.derivation, reg)
    if args.json:
        print_json(report.to_json())
    else:
        print(report.to_text())
    return 0
