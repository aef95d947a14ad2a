"""Boot + collect seconds per kernel under QEMU (``compat lab collect``).

    python3 benchmarks/bench_lab.py [--qemu PATH] [--cpu MODEL] VERSION...

One boot at a time (-j 1), kernels and initramfs from the lab's cache (run
once first to fill it); prints seconds per kernel and the QEMU version.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compat.lab import boot, collect  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("versions", nargs="+")
    p.add_argument("--qemu")
    p.add_argument("--cpu", default="max")
    a = p.parse_args()
    qemu = boot.qemu_binary(a.qemu)
    print(f"QEMU {boot.qemu_version(qemu)} -cpu {a.cpu}")
    with tempfile.TemporaryDirectory() as out:
        for v in a.versions:
            (c,) = collect.collect([v], out, cpu=a.cpu, qemu=qemu, jobs=1)
            print(f"linux {v}: {c.entries} registers, boot + collect {c.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
