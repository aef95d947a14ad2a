"""``compat decode``: KVM register index -> fields and known name."""

from __future__ import annotations

import argparse
import sys

from compat.commands.common import print_json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("indices", nargs="+", metavar="INDEX",
                        help="a 64-bit register index (0x6030000000160003)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-r", "--registry", metavar="REGISTRY",
                        help="also name registers from this registry (default: ./registry.toml "
                        "if present, else the bundled one)")


def registry_names(args: argparse.Namespace) -> dict[int, str]:
    """Index -> registry name; the registry is optional for decoding."""
    from compat import resources
    from compat.diagnostics import CompatError
    from compat.validate import load_registry
    from pathlib import Path

    if args.registry:
        path, name = Path(args.registry), args.registry
    else:
        path, name = resources.default_registry()
    try:
        registry = load_registry(path, name)
    except CompatError:
        if args.registry:
            raise
        return {}
    return {reg.index: reg.name for reg in registry.registers.values()}


def run(args: argparse.Namespace) -> int:
    from compat import codec

    names = registry_names(args)
    results, status = [], 0
    for text in args.indices:
        try:
            decoded = codec.decode(codec.parse_index(text))
        except codec.CodecError as exc:
            print(f"compat decode: error: {text}: {exc}", file=sys.stderr)
            status = 1
            continue
        name = names.get(decoded.index) or decoded.name
        results.append((decoded, name))
    if args.json:
        print_json([dict(d.to_json(), name=n) for d, n in results])
        return status
    for decoded, name in results:
        label = f"  {name}" if name else ""
        print(f"{codec.format_index(decoded.index)}  {decoded.qemu_name}{label}")
        print(f"    {decoded.arch} {decoded.group} U{decoded.size}  {decoded.macro}"
              + ("" if decoded.in_cpreg_list() else "  (not in QEMU's cpreg list)"))
    return status
