"""``compat build`` of 1k, 10k and 100k registers (target: linear, 10k in
under 2 s), with a per-stage split of one run.

    python benchmarks/bench_build.py [--sizes 1000,10000,100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_help import machine  # noqa: E402
from gen_registry import generate  # noqa: E402

STAGES = r"""
import sys, time
from pathlib import Path
from compat.load import pipeline as build
from compat import output
from compat.core.derive import derive
from compat.load.source import load_toml_file
from compat.load.semantic import build_registry
path, out = Path(sys.argv[1]), Path(sys.argv[2])
t = time.perf_counter(); doc = load_toml_file(path); parse = time.perf_counter() - t
t = time.perf_counter(); reg = build_registry(doc); check = time.perf_counter() - t
t = time.perf_counter(); derive(reg); der = time.perf_counter() - t
t = time.perf_counter(); loaded = build.load(path, path.name); load = time.perf_counter() - t
row = [f"parse {parse:.2f}", f"schema+semantics {check:.2f}", f"derive {der:.2f}",
       f"load total {load:.2f}"]
for spec in build.select_outputs(loaded):
    t = time.perf_counter(); build.render(loaded, [spec])
    row.append(f"{spec.name} {time.perf_counter() - t:.2f}")
print("  " + ", ".join(row))
"""


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-runs", type=int, default=1,
                        help="runs for sizes of 50k registers and more (default 1)")
    parser.add_argument("--stages", action="store_true", help="also split one run by stage")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"r{size}.toml"
            path.write_text(generate(size))
            times = []
            runs = args.runs if size < 50_000 else args.big_runs
            for i in range(runs):
                out = Path(tmp) / f"out{size}-{i}"  # a fresh directory: every file is written
                start = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "compat", "build", "-r", str(path),
                                       "-o", str(out)], capture_output=True, text=True)
                times.append(time.perf_counter() - start)
                if proc.returncode:
                    raise SystemExit(proc.stderr[-3000:])
            results[size] = statistics.median(times)
            per = results[size] / size * 1e6
            print(f"{size:>7} registers: {results[size]:7.2f} s median of {runs} "
                  f"({per:.0f} us/register)")
            if args.stages:
                subprocess.run([sys.executable, "-c", STAGES, str(path), str(out)], check=True)
    sizes = sorted(results)
    if len(sizes) > 1:
        small, big = sizes[0], sizes[-1]
        growth = (results[big] / results[small]) / (big / small)
        print(f"scaling {small} -> {big}: {growth:.2f} of linear (1.0 = linear)")
    ok = results.get(10000, 0) < 2.0
    print(f"target 10k < 2 s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
