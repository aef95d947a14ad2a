"""``compat encode``: a macro expression or a known name -> index."""

from __future__ import annotations

import argparse
import sys

from compat.commands.common import add_registry_option, print_json, registry_names


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", nargs="+", metavar="EXPR",
                        help="ARM64_SYS_REG(3,0,2,0,3), KVM_REG_ARM_FW_FEAT_BMAP_REG(3), "
                        "'KVM_REG_ARM64 | KVM_REG_SIZE_U64 | ...', or a name (TCR2_EL1)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_registry_option(parser)  # its register names are accepted too


def run(args: argparse.Namespace) -> int:
    from compat.core import codec

    names = {name: index for index, name in registry_names(args).items()}
    text = " ".join(args.expression)
    try:
        index = codec.parse_expr(text, names)
    except codec.CodecError as exc:
        print(f"compat encode: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print_json(codec.decode(index).to_json())
    else:
        print(codec.format_index(index))
    return 0
