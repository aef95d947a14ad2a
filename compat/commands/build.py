"""``compat build``: generate QEMU's compat tables, guards and docs."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from compat.commands.common import add_registry_option, print_json, registry_path
from compat.core.style import plural


def configure(parser: argparse.ArgumentParser) -> None:
    add_registry_option(parser)
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("generated"),
                        metavar="DIR", help="where to write (default: ./generated)")
    parser.add_argument("--only", action="append", metavar="OUTPUT", default=[],
                        help="build only this output (repeatable); see 'compat plugins'")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; print a diff and exit 1 if files are stale")
    parser.add_argument("--depfile", type=Path, metavar="FILE",
                        help="also write a Makefile-style depfile (for meson/ninja)")
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output: files written, unchanged, stale "
                        "(docs/json.md)")


def run(args: argparse.Namespace) -> int:
    from compat.load import pipeline as build
    from compat import output
    from compat.core.diagnostics import CompatError, Location

    path, name = registry_path(args)
    loaded = build.load(path, name, args.plugin)
    specs = build.select_outputs(loaded, args.only)
    out_dir: Path = args.output_dir
    if args.check:
        diffs: dict[str, str] = {}
        names = []
        for rel, text in build.render_each(loaded, specs):
            names.append(rel)
            diff = output.stale_diff(out_dir, rel, text)
            del text  # not held while the next output renders
            if diff is not None:
                diffs[rel] = diff
        if args.json:
            print_json(_json(out_dir, names, written=[], stale=sorted(diffs)))
            return 1 if diffs else 0
        if not diffs:
            print(f"{out_dir}: {plural(len(names), 'file')} up to date")
            return 0
        for rel in sorted(diffs):
            sys.stdout.write(diffs[rel])
        print(f"{out_dir}: {len(diffs)} of {plural(len(names), 'file')} "
              f"{'is' if len(diffs) == 1 else 'are'} stale; regenerate with:\n"
              f"  {_regenerate_command(args)}", file=sys.stderr)
        return 1
    targets = [out_dir / rel for rel in build.declared_files(specs)]
    for target in targets:  # an output over the registry or a plugin's source
        for source in loaded.inputs:
            if output.same_file(target, source):
                raise CompatError.at(Location(str(target)), f"this output would overwrite "
                                     f"an input of the build ({source})",
                                     hint="choose another output directory (-o DIR)")
    if args.depfile:
        output.refuse_clobbering(args.depfile, "--depfile", inputs=loaded.inputs,
                                 outputs=targets)
        from compat.core.resources import compat_module_files
        depfile = output.depfile_text(targets, sorted({*loaded.inputs,
                                                       *compat_module_files()}))
    # each file goes to its staging file as soon as it is rendered; nothing
    # is renamed into place unless every output rendered
    from compat.load.parallel import stage_outputs
    with output.StagedOutputs(out_dir) as staged:
        stage_outputs(loaded, specs, staged)  # the docs in a second process, on 2 CPUs
        changed = staged.commit()
    names = sorted(staged.names)
    if args.depfile:
        output.write_file(args.depfile, depfile)
    if args.json:
        print_json(_json(out_dir, names, written=changed, stale=[]))
        return 0
    print(f"{out_dir}: wrote {len(changed)} of {plural(len(names), 'file')}"
          + ("" if changed else " (all up to date)"))
    return 0


def _json(out_dir: Path, files: list[str], *, written: list[str],
          stale: list[str]) -> dict:
    """``compat build --json``: paths relative to ``output_dir``.  With
    ``--check`` nothing is written and ``stale`` lists the files that differ."""
    done = set(written) | set(stale)
    return {"ok": not stale, "output_dir": str(out_dir), "written": written,
            "unchanged": sorted(rel for rel in files if rel not in done), "stale": stale,
            "diagnostics": []}


def _regenerate_command(args: argparse.Namespace) -> str:
    words = ["compat", "build"]
    if args.registry is not None:
        words += ["-r", str(args.registry)]
    words += ["-o", str(args.output_dir)]
    for only in args.only:
        words += ["--only", only]
    for plugin in args.plugin:
        words += ["--plugin", plugin]
    return shlex.join(words)
