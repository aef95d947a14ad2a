"""``compat validate``: schema and semantic checks, then derivation."""

from __future__ import annotations

import argparse

from compat.commands.common import add_registry_option, open_registry


def configure(parser: argparse.ArgumentParser) -> None:
    add_registry_option(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")


def run(args: argparse.Namespace) -> int:
    from compat.derive import derive

    registry = open_registry(args)
    derivation = derive(registry)
    if not args.quiet:
        rules = sum(len(m.hidden) + len(m.tolerated) for m in derivation.machines)
        print(f"{registry.filename}: valid: {len(registry.registers)} registers, "
              f"{len(registry.features)} features, {len(derivation.machines)} machine types, "
              f"{rules} derived rules")
    return 0
