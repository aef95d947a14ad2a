"""``compat new-register``: scaffold a ``[registers.NAME]`` entry.

From an index or macro expression (``ARM64_SYS_REG(3,0,2,0,3)``,
``0x603000000013c103``, ``KVM_REG_ARM_FW_FEAT_BMAP_REG(3)``, a known name)
and the kernel release that changed the register, print a registry entry
with the decoded encoding, the index, a reset value, the change and a
suggested compat rule.  What compat cannot know is written as ``FIXME``;
the commit placeholder fails ``compat validate`` on purpose, so an entry
cannot be committed before someone looks the facts up.

With ``--write`` the entry is appended to the registry file (plain text,
the rest of the file is untouched) after checking that the name and index
are new and that the result still parses.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compat.core.diagnostics import COMMAND_LINE, CompatError, Location
from compat.core.model import CHANGE_KINDS

if TYPE_CHECKING:  # the command imports compat.load.source only when it runs
    from compat.load.source import SourceDocument

CHANGES = tuple(CHANGE_KINDS)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,79}$")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", nargs="+", metavar="EXPR",
                        help="an index (0x603000000013c103), a macro expression "
                        "(ARM64_SYS_REG(3,0,2,0,3)) or a known register name")
    parser.add_argument("--kernel", required=True, metavar="X.Y",
                        help="the first Linux release with the change")
    parser.add_argument("--change", choices=CHANGES, default="added",
                        help="how the register's exposure changed (default: added)")
    parser.add_argument("--name", help="the register's name (default: its architectural or "
                        "KVM name; required when compat does not know one)")
    parser.add_argument("--write", action="store_true",
                        help="append the entry to the registry file instead of printing it")
    parser.add_argument("-r", "--registry", metavar="REGISTRY", type=Path,
                        help="the registry to check against and write to "
                        "(default: ./registry.toml)")


def _registry_file(args: argparse.Namespace) -> tuple[Path | None, str]:
    """``-r``, else ``./registry.toml``; never the bundled registry, which
    compat does not write."""
    if args.registry is not None:
        return args.registry, str(args.registry)
    from compat.core.resources import local_registry
    local = local_registry()
    return local, "registry.toml"


def _read(path: Path | None, display: str) -> SourceDocument | None:
    from compat.load.source import load_toml_file
    return load_toml_file(path, display) if path is not None else None


def run(args: argparse.Namespace) -> int:
    path, display = _registry_file(args)
    if args.write and path is None:
        raise CompatError.at(COMMAND_LINE, "--write needs a registry file: "
                             "there is no ./registry.toml",
                             hint="pass -r REGISTRY (compat never writes the bundled registry)")
    if not args.write:
        return _scaffold(args, path, display)
    from compat.output import locked_for_update
    assert path is not None
    with locked_for_update(path.resolve()):  # read, check and append as one step
        return _scaffold(args, path, display)


def _scaffold(args: argparse.Namespace, path: Path | None, display: str) -> int:
    from compat.analysis.scaffold import PLACEHOLDER, register_name, scaffold
    from compat.core import codec
    from compat.core.versions import Version, VersionError

    doc = _read(path, display)
    text, data = (doc.text, doc.data) if doc is not None else ("", {})
    registers = data.get("registers", {}) if isinstance(data.get("registers"), dict) else {}

    names: dict[str, int] = {}
    for reg_name, entry in registers.items():
        try:  # the index if written, else the one the encoding gives
            names[reg_name] = (codec.parse_index(str(entry["index"])) if "index" in entry
                               else codec.encode_fields(**entry["encoding"]))
        except (codec.CodecError, AttributeError, KeyError, TypeError, ValueError):
            pass  # a broken entry: 'compat validate' explains it
    expression = " ".join(args.expression)
    try:
        index = codec.parse_expr(expression, names)
        decoded = codec.decode(index)
    except codec.CodecError as exc:
        raise CompatError.at(COMMAND_LINE, f"cannot read {expression!r}: {exc}",
                             hint="write an index (0x6030...) or a macro such as "
                             "ARM64_SYS_REG(3,0,2,0,3)") from None
    try:
        kernel = str(Version.parse(args.kernel))
    except VersionError as exc:
        raise CompatError.at(COMMAND_LINE, f"--kernel: {exc}") from None
    if not re.fullmatch(r"[0-9]{1,4}\.[0-9]{1,4}", kernel):
        raise CompatError.at(COMMAND_LINE,
                             f"--kernel {args.kernel!r}: write a Linux release as MAJOR.MINOR")

    if not decoded.in_cpreg_list():
        raise CompatError.at(COMMAND_LINE,
                             f"{codec.format_index(index)} ({decoded.qemu_name}) is not migrated "
                             "in QEMU's cpreg list, so no compat rule can apply to it",
                             hint="the registry holds 32- and 64-bit registers outside the "
                             "core and SVE groups")
    name = args.name or register_name(decoded)
    if name is None:
        raise CompatError.at(COMMAND_LINE,
                             f"compat knows no name for {codec.format_index(index)} "
                             f"({decoded.qemu_name})", hint="pass --name NAME (a C identifier)")
    if not _IDENT.fullmatch(name):
        raise CompatError.at(COMMAND_LINE, f"--name {name!r} is not a C "
                             "identifier (letters, digits and '_', not starting with a digit)")
    from compat.load.semantic import name_problem
    problem = name_problem(name, index)
    if problem:
        raise CompatError.at(COMMAND_LINE, f"--name {name}: {problem[0]}", hint=problem[1])
    if name in registers:
        assert doc is not None
        where = doc.locate(("registers", name), value=False)
        raise CompatError.at(where, f"register '{name}' is already in the registry",
                             hint=f"run 'compat explain {name} -r {display}' to see it")
    same = sorted(n for n, i in names.items() if i == index)
    if same:
        raise CompatError.at(Location(display), f"index {codec.format_index(index)} is already "
                             f"in the registry as '{same[0]}'")

    entry = scaffold(decoded, name, kernel, args.change)
    if not args.write:
        sys.stdout.write(entry)
        print(f"compat new-register: fill in the {PLACEHOLDER} placeholders, then run "
              "'compat validate'", file=sys.stderr)
        return 0

    assert path is not None
    separator = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
    updated = text + separator + entry
    from compat.load.source import TOMLDecodeError, toml_parser  # the parser load uses
    try:
        parsed = toml_parser.loads(updated)
    except TOMLDecodeError as exc:
        raise CompatError.at(Location(display), f"appending '{name}' would break the file: "
                             f"{exc}", hint="add the entry by hand (run without --write "
                             "to print it)") from None
    if name not in parsed.get("registers", {}):
        raise CompatError.at(Location(display), f"appending '{name}' did not add a register "
                             "(the file's layout is unusual)",
                             hint="add the entry by hand (run without --write to print it)")
    from compat.output import write_file
    write_file(path.resolve(), updated)  # through a symlink, not over it
    line = updated[: len(text) + len(separator)].count("\n") + 3
    print(f"{display}:{line}: added register '{name}'; fill in the {PLACEHOLDER} placeholders, "
          "then run 'compat validate'", file=sys.stderr)
    return 0
