"""``compat validate``: schema and semantic checks, derivation, and the
plugins' own checks (a compat table that would abort QEMU, for instance)."""

from __future__ import annotations

import argparse

from compat.commands.common import add_registry_option, open_loaded


def configure(parser: argparse.ArgumentParser) -> None:
    add_registry_option(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")


def run(args: argparse.Namespace) -> int:
    loaded = open_loaded(args)
    registry, derivation = loaded.registry, loaded.derivation
    if not args.quiet:
        rules = sum(len(m.hidden) + len(m.tolerated) for m in derivation.machines)
        print(f"{registry.filename}: valid: {len(registry.registers)} registers, "
              f"{len(registry.features)} features, {len(derivation.machines)} machine types, "
              f"{rules} derived rules")
    return 0
