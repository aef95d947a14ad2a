"""``compat decode``: KVM register index -> fields and known name."""

from __future__ import annotations

import argparse
import shlex
import sys

from compat.commands.common import add_registry_option, print_json, registry_names


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("indices", nargs="+", metavar="INDEX",
                        help="a 64-bit register index (0x6030000000160003)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_registry_option(parser)


def run(args: argparse.Namespace) -> int:
    from compat.core import codec

    names = registry_names(args)
    results, status = [], 0
    for text in args.indices:
        try:
            index = codec.parse_index(text)
            decoded = codec.decode(index)
        except codec.CodecError as exc:
            print(f"compat decode: error: {text}: {exc}", file=sys.stderr)
            if _is_name(text.strip()):
                print(f"compat decode: note: decode reads an index; for the index of a "
                      f"name, run: compat encode {shlex.quote(text.strip())}", file=sys.stderr)
            status = 1
            continue
        problem = codec.index_problem(index)
        if problem and index not in names:
            print(f"compat decode: error: {text}: not a KVM register index: {problem}",
                  file=sys.stderr)
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


def _is_name(text: str) -> bool:
    """A register name or a macro expression (what ``compat encode`` reads)."""
    return bool(text) and (text[0].isalpha() or text[0] == "_")
