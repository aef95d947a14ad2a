"""``compat --help`` wall time against ``python -c pass`` (target: < 1.2x).

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
import tempfile
import time
from pathlib import Path

TARGET = 1.2
NEUTRAL_DIR = tempfile.gettempdir()


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


def wall(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time of each command over ``runs`` rounds (one warm-up).
    The commands take turns within a round, so a change of machine load
    between rounds moves all of them alike."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    for i in range(runs + 1):
        for label, argv in commands.items():
            start = time.perf_counter()
            # from a neutral directory: '-c' puts the working directory first
            # on sys.path, and a checkout there would shadow the installed compat
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=NEUTRAL_DIR)
            if i:
                times[label].append(time.perf_counter() - start)
    return {label: statistics.median(t) for label, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    # compat's own cost is its entry point, called the way the launchers call
    # it, timed in rounds with the baseline alone (a heavy command in the same
    # round disturbs the light ones that follow it)
    base_argv = [sys.executable, "-c", "pass"]
    entry = "compat.cli main(['--help'])"
    own = wall({"python -c pass": base_argv,
                entry: [sys.executable, "-c", "from compat.cli import main; main(['--help'])"]},
               args.runs)
    base = own["python -c pass"]
    for label, t in own.items():
        print(f"{label:<32} {t * 1000:7.1f} ms  {t / base:4.2f}x")
    ok = own[entry] / base < TARGET
    # the launchers add imports of their own (runpy for -m, 're' in pip's
    # console script); commands' help builds their parsers: for information
    commands = {"python -c pass": base_argv,
                "python -m compat --help": [sys.executable, "-m", "compat", "--help"]}
    script = Path(sys.executable).with_name("compat")
    if script.is_file():
        commands["compat --help (pip script)"] = [str(script), "--help"]
    for cmd in ("build --help", "validate --help"):
        commands[f"python -m compat {cmd}"] = [sys.executable, "-m", "compat", *cmd.split()]
    medians = wall(commands, args.runs)
    for label, t in list(medians.items())[1:]:
        print(f"{label:<32} {t * 1000:7.1f} ms  {t / medians['python -c pass']:4.2f}x")
    print(f"(medians of {args.runs} interleaved rounds)")
    print(f"target < {TARGET}x for compat's own entry: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
