"""``compat validate``: schema and semantic checks, derivation, and the
plugins' own checks (a compat table that would abort QEMU, for instance)."""

from __future__ import annotations

import argparse

from compat.commands.common import add_registry_option, open_loaded, print_json
from compat.core.style import plural


def configure(parser: argparse.ArgumentParser) -> None:
    add_registry_option(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output: counts, or the diagnostics as objects "
                        "(docs/json.md)")


def run(args: argparse.Namespace) -> int:
    loaded = open_loaded(args)
    registry, derivation = loaded.registry, loaded.derivation
    rules = sum(len(m.hidden) + len(m.tolerated) for m in derivation.machines)
    if args.json:
        print_json({"ok": True, "registry": registry.filename,
                    "diagnostics": [w.to_json() for w in loaded.warnings],
                    "registers": len(registry.registers), "features": len(registry.features),
                    "machine_types": len(derivation.machines), "derived_rules": rules})
    elif loaded.warnings and not args.quiet:
        # a promise no rule keeps (compat.qemu.id_rules): part of the report
        for warning in loaded.warnings:
            print(warning.format())
    if not args.json and not args.quiet:
        rules = sum(len(m.hidden) + len(m.tolerated) for m in derivation.machines)
        print(f"{registry.filename}: valid: {plural(len(registry.registers), 'register')}, "
              f"{plural(len(registry.features), 'feature')}, "
              f"{plural(len(derivation.machines), 'machine type')}, "
              f"{plural(rules, 'derived rule')}")
    return 0
