"""Where a ``compat build`` goes, phase by phase: the CPU seconds of each
step of loading and of each output, in one process, the minimum of
``--runs`` (no profiler: cProfile inflates Python-level code several
times), and the critical path on two CPUs that follows from them.

    python benchmarks/bench_phases.py -r reg10k.toml [--runs 3]

On two CPUs a build runs the position scan in a child while the parent
parses (compat/load/background.py), then forks once more after the
resolved view's summaries and renders the docs in that child
(compat/load/parallel.py): the wall time is about ``serial + max(parent,
child)``.  The figure leaves out the interpreter's start, the forks and
the writing of the files (about 0.1 s at 10k).  It reaches into compat's
internals (those of main before the round too, for a paired profile).
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import time
from pathlib import Path

T = time.process_time


def phases(path: Path, runs: int) -> tuple[float, dict[str, float]]:
    """(CPU of the imports a build makes, {phase: minimum CPU seconds})."""
    start = T()
    from compat.core.derive import derive
    from compat.core.diagnostics import Location
    from compat.load import pipeline, semantic, source
    from compat.load.fragments import merge_fragments
    from compat.load.schema import registry_schema, validate_structure
    from compat.load.schema_ext import extend_schema
    from compat.plugin.api import RenderContext
    from compat.plugin.host import PluginHost
    PluginHost.create()  # imports the built-in plugins' modules
    imports = T() - start
    best: dict[str, float] = {}

    def timed(name, func, *args, **kwargs):
        began = T()
        result = func(*args, **kwargs)
        best[name] = min(best.get(name, float("inf")), T() - began)
        return result

    where = Location(path.name)
    gc.disable()  # as the build does while it loads and renders
    for _ in range(runs):
        text = timed("read", lambda: path.read_bytes().decode("utf-8"))
        data = timed("tomli parse", source._parse, text)
        index = timed("position scan (child)", source.PositionIndex.scan, text,
                      entities_only=True)
        blob = timed("scan pickled (child)", pickle.dumps, index.root, pickle.HIGHEST_PROTOCOL)
        index.root = timed("scan unpickled", pickle.loads, blob)
        doc = source.SourceDocument(path.name, text, data, index)
        host = timed("plugin host", PluginHost.create)
        schema = extend_schema(registry_schema(), host.call("compat_schema_fragments",
                                                            location=where))
        doc = merge_fragments(doc, host.call("compat_registry_fragments", location=where), schema)
        problems = timed("JSON Schema", validate_structure, doc, schema)
        assert not problems, problems
        registry = timed("semantic pass", lambda: semantic._SemanticPass(doc).run())
        derivation = timed("derive", derive, registry)
        timed("validate hooks", lambda: host.call("compat_validate", location=where,
                                                  registry=registry, derivation=derivation))
        loaded = pipeline.Loaded(host, registry, derivation, path.name, [], host.outputs(where))
        specs = pipeline.select_outputs(loaded)
        memo: dict = {}
        view = timed("resolved view", lambda: RenderContext(
            registry, derivation, specs[0], path.name, memo).resolved())
        timed("summaries", lambda: [r.summary for r in view.registers()])
        for spec in specs:
            timed(f"output {spec.name}", lambda: [
                chunk for _, chunks in pipeline.stream_each(loaded, [spec], memo)
                for chunk in chunks])
    return imports, best


def main(argv: list[str] | None = None) -> int:
    """Print the phases and the critical path."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-r", "--registry", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    imports, best = phases(args.registry, args.runs)
    print(f"{'imports':32s} {imports:6.3f}")
    for name, seconds in best.items():
        print(f"{name:32s} {seconds:6.3f}")
    child_only = {"position scan (child)", "scan pickled (child)"}
    docs = {"output docs-md", "output docs-rst"}
    serial = imports + sum(v for k, v in best.items()
                           if not k.startswith("output ") and k not in child_only)
    child = sum(best.get(k, 0.0) for k in docs)
    parent = sum(v for k, v in best.items() if k.startswith("output ") and k not in docs)
    print(f"two CPUs: serial {serial:.2f} s + max(parent {parent:.2f} s, docs child "
          f"{child:.2f} s) = {serial + max(parent, child):.2f} s of critical path "
          f"(one CPU: {serial + parent + child + best['position scan (child)']:.2f} s)")
    print(f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
