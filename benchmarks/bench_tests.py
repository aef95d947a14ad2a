"""Wall and CPU time of the fast test set, two checkouts alternating.

Runs ``python -m pytest -q -n 2 -m "not slow" -p no:cacheprovider`` in each
checkout in turn (``--runs`` rounds), each with that checkout first on
``PYTHONPATH`` (so one venv serves both), and reports per run: wall
seconds, CPU seconds of pytest and every process it started (user + sys,
``os.wait4``), the 1-minute load average before and after, and pytest's
summary line.  Compare CPU when the machine is busy; wall only when the
load stayed under 1.5.  One venv serves both checkouts, but its editable
install maps ``compat.plugins`` to one checkout's ``plugins/``: compare
checkouts that do not differ there.

    git archive main | tar -x -C /tmp/main-tree
    python benchmarks/bench_tests.py /tmp/main-tree . --runs 2 [PYTEST ARGS]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

COMMAND = ["-m", "pytest", "-q", "-n", "2", "-m", "not slow", "-p", "no:cacheprovider"]


def one_run(tree: Path, extra: list[str]) -> dict:
    """The fast set in ``tree``: wall, CPU, loads, summary."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    load_before = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *COMMAND, *extra], cwd=tree, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # pytest and what it waited for
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    lines = [line for line in proc.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return {"wall": wall, "cpu": cpu, "load": load_before, "load_after": os.getloadavg()[0],
            "summary": lines[-1] if lines else proc.stdout[-300:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", type=Path, help="checkouts to compare")
    parser.add_argument("--runs", type=int, default=1, help="rounds (each tree once a round)")
    args, extra = parser.parse_known_args()  # the rest goes to pytest
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    for round_ in range(args.runs):
        for tree in args.trees:
            r = one_run(tree.resolve(), extra)
            print(f"round {round_ + 1} {tree}: wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, "
                  f"load {r['load']:.2f} -> {r['load_after']:.2f}; {r['summary'].strip()}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
