"""Wall and CPU seconds of the lab, with and without ``pauth-impdef``.

    python3 benchmarks/bench_lab.py collect [--modes on,off] VERSION...
        each kernel alone (-j 1), the modes alternating per kernel
    python3 benchmarks/bench_lab.py collect-all [--modes on] [-j 2] VERSION...
        all kernels in one ``lab collect`` run per mode
    python3 benchmarks/bench_lab.py migrate [--modes on,off] [-j 2] CASE...
        each ``lab migrate`` case alone (its two or three guests, -j 2)

Kernels, packages and guest initramfs come from the lab's cache: run once
first to fill it (the first run's downloads are not what is measured).
Every line gives wall seconds, CPU seconds (user + system of the child
processes: QEMU, apt, cpio) and the 1-minute load average before and after,
because on a shared machine the wall clock says more about the neighbours
than about the lab.  ``--qemu-suite`` / ``--qemu`` choose the host QEMU.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compat.lab import collect, hostqemu, migrate  # noqa: E402
from compat.lab.apt import default_cache  # noqa: E402


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _measure(label: str, fn):
    load0, cpu0, t0 = os.getloadavg()[0], _children_cpu(), time.monotonic()
    result = fn()
    wall, cpu, load1 = time.monotonic() - t0, _children_cpu() - cpu0, os.getloadavg()[0]
    print(f"{label}: wall {wall:.1f} s, cpu {cpu:.1f} s, load {load0:.1f} -> {load1:.1f}",
          flush=True)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=("collect", "collect-all", "migrate"))
    p.add_argument("items", nargs="+", metavar="VERSION|CASE")
    p.add_argument("--modes", default="on,off", help="--pauth-impdef values to compare")
    p.add_argument("-j", "--jobs", type=int, default=2)
    p.add_argument("--qemu")
    p.add_argument("--qemu-suite")
    p.add_argument("--cpu", default="max")
    a = p.parse_args()
    modes = a.modes.split(",")
    cache = default_cache()
    host = hostqemu.resolve(a.qemu, a.qemu_suite, cache)
    print(f"host QEMU {host.version}; {os.cpu_count()} CPUs; uptime: "
          f"{open('/proc/loadavg').read().split()[:3]}", flush=True)
    for m in modes:
        print(f"  --pauth-impdef {m}: -cpu {hostqemu.tcg_cpu(host, a.cpu, m, cache)}")
    kw = {"qemu": a.qemu, "qemu_suite": a.qemu_suite}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if a.what == "collect":
            for v in a.items:
                for m in modes:
                    (c,) = _measure(f"collect {v} pauth-impdef={m}", lambda: collect.collect(
                        [v], out / m, cpu=a.cpu, jobs=1, pauth_impdef=m, **kw))
                    print(f"  {c.entries} registers, boot {c.seconds:.1f} s", flush=True)
        elif a.what == "collect-all":
            for m in modes:
                done = _measure(f"collect {len(a.items)} kernels -j {a.jobs} pauth-impdef={m}",
                                lambda: collect.collect(a.items, out / m, cpu=a.cpu, jobs=a.jobs,
                                                        pauth_impdef=m, **kw))
                print("  " + ", ".join(f"{c.kernel.abi} {c.seconds:.1f} s" for c in done))
        else:
            for text in a.items:
                case = migrate.parse_case(text)
                for m in modes:
                    (o,) = _measure(f"migrate {case.name} pauth-impdef={m}", lambda: migrate.migrate(
                        [case], out / m, jobs=a.jobs, pauth_impdef=m, report=lambda *x: None, **kw))
                    secs = o.data.get("seconds", {})
                    print(f"  verdict {o.data['verdict']}, source boot {secs.get('source_boot')} s, "
                          f"destination boot {secs.get('destination_boot')} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
