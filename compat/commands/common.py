"""Options and loading steps that several subcommands share."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compat.core import resources

if TYPE_CHECKING:  # keep `compat SUBCOMMAND --help` free of the model's imports
    from compat.load.pipeline import Loaded


def add_registry_option(parser: argparse.ArgumentParser) -> None:
    """``-r REGISTRY`` and ``--plugin NAME``: which registry, with which
    third-party plugins (their fragments and checks are part of it)."""
    parser.add_argument("-r", "--registry", metavar="REGISTRY", type=Path,
                        help="the registry to read (default: ./registry.toml, "
                        "else the bundled registry)")
    parser.add_argument("--plugin", action="append", default=[], metavar="NAME",
                        help="also load this third-party plugin (entry point in "
                        "group compat.plugins); repeatable")


def registry_path(args: argparse.Namespace) -> tuple[Path, str]:
    """The registry file the user means, and the name to use in messages."""
    if getattr(args, "registry", None) is not None:
        return args.registry, str(args.registry)
    return resources.default_registry()


def open_loaded(args: argparse.Namespace) -> "Loaded":
    """Load, validate and derive the registry with its plugins, once per
    command (:class:`compat.load.pipeline.Loaded`: the registry and its
    derivation)."""
    from compat.load.pipeline import load
    path, name = registry_path(args)
    return load(path, name, getattr(args, "plugin", ()))


def registry_names(args: argparse.Namespace) -> dict[int, str]:
    """Index -> name of the registry's registers, for ``decode`` and
    ``encode``.  When the user named no registry and the default one does
    not load, names come from the built-in tables alone."""
    from compat.core.diagnostics import CompatError

    try:
        registry = open_loaded(args).registry
    except CompatError:
        if args.registry is not None:
            raise
        return {}
    return {reg.index: reg.name for reg in registry.registers.values()}


def kernel_option(value: str | None, option: str):
    """The kernel release an option names (a :class:`~compat.core.versions.Version`),
    or None when not given.  A value that is no release is a ``<command
    line>`` error (exit 2), never blamed on the file it would describe."""
    if value is None:
        return None
    from compat.core.diagnostics import COMMAND_LINE, CompatError
    from compat.core.versions import Version, VersionError
    try:
        return Version.parse(value)
    except VersionError as exc:
        raise CompatError.at(COMMAND_LINE, f"{option} {value!r}: {exc}") from None


def read_list(path: "str | Path", **fallbacks: Any):
    """:func:`compat.analysis.reglist.read_reglist`, its warnings (a
    stream's list located heuristically, a register listed twice in
    selftest source) printed on stderr as ``FILE: warning: ...``."""
    from compat.analysis.reglist import read_reglist
    from compat.core.style import echo
    reglist = read_reglist(path, **fallbacks)
    for warning in reglist.warnings:
        echo(warning.format(), sys.stderr)
    return reglist


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


#: The kernel option every command that reads register lists shares
#: (``check``, ``diff``, ``audit``), as hints name it.
KERNEL_OPTION = "--kernel FILE=X.Y"


def add_kernel_option(parser: argparse.ArgumentParser, *aliases: tuple[str, str]) -> None:
    """``--kernel FILE=X.Y`` (repeatable): the kernel of register list FILE
    when neither its ``# kernel:`` header nor its name says.  ``aliases``
    are older per-position spellings (``("--from-kernel", "source")``), kept
    working but not shown in ``--help``."""
    parser.add_argument("--kernel", action="append", default=[], metavar="FILE=X.Y",
                        help="FILE's kernel when neither its '# kernel:' header nor its "
                        "name (HOST-linux-KERNEL.reglist) says; repeatable")
    for option, _ in aliases:
        parser.add_argument(option, metavar="X.Y", help=argparse.SUPPRESS)


def kernel_for(args: argparse.Namespace, path: "str | Path", alias: str | None = None):
    """The kernel the user gave for register list ``path`` with
    ``--kernel FILE=X.Y`` (FILE as given, or the same file), else the old
    alias option ``alias`` (``"from_kernel"``); checked here, so a bad
    release is a ``<command line>`` error before any file is read."""
    from compat.core.diagnostics import COMMAND_LINE, CompatError
    from compat.output import same_file

    found, option = None, "--kernel"
    for item in getattr(args, "kernel", None) or ():
        file, sep, version = item.rpartition("=")
        if not sep or not file or not version:
            raise CompatError.at(COMMAND_LINE, f"--kernel {item!r}: write FILE=X.Y",
                                 hint="e.g. --kernel n1.reglist=6.12")
        if same_file(file, path):
            found, option = version, f"--kernel {file}="
    if found is None and alias is not None:
        found, option = getattr(args, alias, None), "--" + alias.replace("_", "-")
    return kernel_option(found, option)


def check_kernel_files(args: argparse.Namespace, paths) -> None:
    """Every ``--kernel FILE=...`` must name one of the command's lists."""
    from compat.core.diagnostics import COMMAND_LINE, CompatError
    from compat.output import same_file

    for item in getattr(args, "kernel", None) or ():
        file = item.rpartition("=")[0]
        if file and not any(same_file(file, p) for p in paths):
            raise CompatError.at(COMMAND_LINE,
                                 f"--kernel {item!r}: {file} is not one of the register lists",
                                 hint="name a list exactly as on the command line")
