"""Peak RSS of ``compat validate`` and ``compat build`` at 100k registers
(``resource.getrusage(RUSAGE_CHILDREN)`` of one child per measurement).

    python benchmarks/bench_memory.py [--registers 100000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_help import machine  # noqa: E402
from gen_registry import generate  # noqa: E402

CHILD = r"""
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if proc.returncode:
    sys.exit(proc.stderr[-3000:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_kib(argv: list[str]) -> int:
    """Peak RSS (KiB on Linux) of ``argv``, measured in a fresh parent so
    no other child counts."""
    out = subprocess.run([sys.executable, "-c", CHILD, *argv], check=True,
                         capture_output=True, text=True).stdout
    return int(out.split()[-1])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registers", type=int, default=100_000)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.toml"
        path.write_text(generate(args.registers))
        size_mb = path.stat().st_size / 1e6
        base = peak_kib([sys.executable, "-c", "pass"])
        val = peak_kib([sys.executable, "-m", "compat", "validate", "-q", "-r", str(path)])
        bld = peak_kib([sys.executable, "-m", "compat", "build", "-r", str(path),
                        "-o", str(Path(tmp) / "out")])
    print(f"registry: {args.registers} registers, {size_mb:.1f} MB of TOML")
    print(f"python -c pass   peak RSS {base / 1024:8.1f} MiB")
    print(f"compat validate  peak RSS {val / 1024:8.1f} MiB")
    print(f"compat build     peak RSS {bld / 1024:8.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
