"""``compat lab qemu build``: Debian's QEMU with the project's patch series and
compat's generated C, cross-built into the lab cache (:mod:`compat.lab.qemubuild`).

compat's outputs are rendered here, from the registry in use, and handed to
the lab as text: the lab does not load registries itself."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compat.commands.common import add_registry_option, registry_path


def configure(sub) -> None:
    """``compat lab qemu build`` under the ``lab`` subcommands ``sub``."""
    q = sub.add_parser("qemu", help="build a QEMU carrying compat's generated C (lab qemu build)")
    qs = q.add_subparsers(dest="qemu_command", metavar="SUBCOMMAND", parser_class=type(q))
    qs.required = True
    b = qs.add_parser("build", help="cross-build a static KVM-only arm64 qemu-system-aarch64 "
                      "from Debian's source, the patch series and compat's outputs")
    add_registry_option(b)
    from compat.lab.qemubuild import DEFAULT_SOURCE
    b.add_argument("--source", default=DEFAULT_SOURCE, metavar="VERSION",
                   help=f"Debian's qemu source version (default: {DEFAULT_SOURCE})")
    b.add_argument("--patches", type=Path, metavar="DIR",
                   help="apply this series instead of the project's (a 'series' file "
                   "and *.patch files, or *.patch files applied in name order)")
    b.add_argument("--cache", type=Path, metavar="DIR", help="cache directory")
    b.add_argument("-j", "--jobs", type=int, default=2, metavar="N",
                   help="ninja jobs (default: 2)")


def generated_outputs(args: argparse.Namespace) -> dict[str, str]:
    """compat's outputs a patched QEMU includes, rendered from the registry in use
    (``compat build --only ...`` in process)."""
    from compat.lab.qemubuild import QEMU_OUTPUTS
    from compat.load import pipeline
    path, name = registry_path(args)
    loaded = pipeline.load(path, name, args.plugin)
    return pipeline.render(loaded, pipeline.select_outputs(loaded, QEMU_OUTPUTS))


def release_of(source: str) -> str:
    """``10.2.2+ds-1`` -> ``10.2``: the project's series directory for it."""
    parts = source.split(":", 1)[-1].split(".")
    return ".".join(parts[:2])


def run(args: argparse.Namespace) -> int:
    from compat.core.diagnostics import COMMAND_LINE, CompatError
    from compat.lab.apt import default_cache
    from compat.lab.qemubuild import build, series, toolchain

    if args.jobs < 1:
        raise CompatError.at(COMMAND_LINE, f"-j {args.jobs}: give 1 or more jobs")
    if not args.source or "/" in args.source or not args.source[:1].isdigit():
        raise CompatError.at(COMMAND_LINE, f"--source {args.source!r} is not a Debian version",
                             hint="e.g. 10.2.2+ds-1")
    directory = args.patches or series.project_series(release_of(args.source))
    if args.patches is None and not directory.is_dir():
        raise CompatError.at(COMMAND_LINE, f"the project has no patch series for QEMU "
                             f"{release_of(args.source)} ({directory})",
                             hint="give one with --patches DIR")
    the_series = series.read_series(directory)
    tools = toolchain.check()
    outputs = generated_outputs(args)
    path, name = registry_path(args)

    def report(message: str) -> None:
        print(f"qemu build: {message}", file=sys.stderr, flush=True)

    built = build.build(args.cache or default_cache(), source=args.source, series=the_series,
                        outputs=outputs, registry=name, jobs=args.jobs, report=report,
                        tools=tools)
    print(built.binary)
    return 0
