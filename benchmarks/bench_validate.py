"""``compat validate`` against ``check-jsonschema`` on the same registries
(target: compat no slower, although it also checks semantics and derives
rules).

    python benchmarks/bench_validate.py [--sizes 1000,10000] [--runs 3]

``check-jsonschema`` is a benchmark-only tool: ``pip install
check-jsonschema``.
"""

from __future__ import annotations

import argparse
import shutil
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

SCHEMA = HERE.parent / "schemas" / "registry.schema.json"


def timed(argv: list[str], runs: int) -> float:
    """Median wall time; the command must succeed."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{argv[0]} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="12,1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    tool = shutil.which("check-jsonschema")
    print(f"machine: {machine()}")
    if tool is None:
        print("check-jsonschema is not installed (pip install check-jsonschema)")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'registers':>9}  {'compat validate':>15}  {'check-jsonschema':>16}  ratio")
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"r{size}.toml"
            if size == 12:
                path.write_text((HERE.parent / "registry.toml").read_text())
            else:
                path.write_text(generate(size))
            ours = timed([sys.executable, "-m", "compat", "validate", "-q", "-r", str(path)],
                         args.runs)
            theirs = timed([tool, "--schemafile", str(SCHEMA), str(path)], args.runs) \
                if tool else float("nan")
            ok &= not ours > theirs
            print(f"{size:>9}  {ours:>14.2f}s  {theirs:>15.2f}s  {ours / theirs:5.2f}x")
    print(f"target compat <= check-jsonschema: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
