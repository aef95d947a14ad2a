"""``compat --help`` wall time against ``python -c pass`` (target: < 3x).

    python benchmarks/bench_help.py [--runs 15]

Prints the machine, the median of each and the ratio; exits 1 when the
ratio misses the target.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

TARGET = 3.0


def machine() -> str:
    """One line naming the machine the figures come from."""
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"{platform.platform()}, {cpu}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}")


def wall(argv: list[str], runs: int) -> float:
    """Median wall time of ``argv`` over ``runs`` runs (one warm-up)."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    base = wall([sys.executable, "-c", "pass"], args.runs)
    helps = {cmd: wall([sys.executable, "-m", "compat", *cmd.split()], args.runs)
             for cmd in ("--help", "build --help", "validate --help")}
    print(f"python -c pass      {base * 1000:7.1f} ms (median of {args.runs})")
    ok = True
    for cmd, t in helps.items():
        ratio = t / base
        ok &= ratio < TARGET
        print(f"compat {cmd:<13} {t * 1000:7.1f} ms  {ratio:4.2f}x")
    print(f"target < {TARGET}x: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
