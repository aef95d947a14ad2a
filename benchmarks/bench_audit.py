"""Time ``compat audit`` on a synthetic fleet: 20 kernels x 3 hosts, ~450
registers per list, 8 machine versions.

The registry and the lists are built in memory; only the audit itself is
timed (median of 5 runs).  Target: under one second.

    python benchmarks/bench_audit.py
"""

from __future__ import annotations

import statistics
import time

from compat.core import codec
from compat.analysis.audit import audit
from compat.analysis.reglist import RegList
from compat.load.semantic import load_registry_text
from compat.core.versions import Version

KERNELS = [Version(6, minor) for minor in range(20)]          # 6.0 .. 6.19
SCALING = (10, 20, 40)                                         # kernels, to check growth
HOSTS = ("alpha", "beta", "gamma")
BASE = 440                                                     # stable registers per host
CHANGING = 24                                                  # registers that come or go
MACHINES = 8
RUNS = 5


def _sysregs(count: int, start: int) -> list[int]:
    out = []
    n = start
    while len(out) < count:
        crn, crm, op2 = (n >> 6) & 15, (n >> 3) & 7, n & 7
        out.append(codec.sysreg(3, (n >> 10) & 7, crn, crm, op2))
        n += 1
    return out


def changing_registers() -> list[tuple[int, str, Version]]:
    """(index, added|removed, kernel): one change every few kernels."""
    out = []
    for i, index in enumerate(_sysregs(CHANGING, 5000)):
        kernel = KERNELS[1 + (i * 7) % (len(KERNELS) - 1)]
        out.append((index, "added" if i % 2 == 0 else "removed", kernel))
    return out


def registry_text(changes: list[tuple[int, str, Version]]) -> str:
    """A valid registry covering every change, with MACHINES machine versions."""
    lines = ["schema-version = 1", "", "[machines.virt]", 'description = "synthetic"',
             'cpu-driver = "TYPE_ARM_CPU"', "versions = ["]
    for m in range(MACHINES):
        version = f"10.{MACHINES - 1 - m}"
        min_kernel = KERNELS[(MACHINES - 1 - m) * len(KERNELS) // 10]
        lines.append(f'  {{ version = "{version}", min-kernel = "{min_kernel}" }},')
    lines += ["]", ""]
    for index, change, kernel in changes:
        d = codec.decode(index)
        f = d.fields
        compat = "hide" if change == "added" else "tolerate-missing"
        lines += [
            f"[registers.S{f['op0']}_{f['op1']}_C{f['crn']}_C{f['crm']}_{f['op2']}]",
            'description = "synthetic register"',
            "encoding = { group = \"sysreg\", op0 = %(op0)d, op1 = %(op1)d, crn = %(crn)d, "
            "crm = %(crm)d, op2 = %(op2)d }" % f,
            f'index = "{codec.format_index(index)}"',
            f'changes = [{{ kernel = "{kernel}", change = "{change}", commit = "0123456" }}]',
            f'compat = "{compat}"',
            'safe-because = "synthetic"',
            "",
        ]
    return "\n".join(lines)


def reglists(changes: list[tuple[int, str, Version]]) -> list[RegList]:
    """Every host's list on every kernel; hosts differ in a few registers."""
    out = []
    for h, host in enumerate(HOSTS):
        base = _sysregs(BASE + 3 * h, 0)
        for kernel in KERNELS:
            regs = set(base)
            for index, change, at in changes:
                present = kernel >= at if change == "added" else kernel < at
                if present:
                    regs.add(index)
            out.append(RegList(f"{host}-linux-{kernel}.reglist", host, kernel,
                               tuple(sorted(regs))))
    return out


def timed(kernels: list[Version]) -> tuple[float, int]:
    """Median audit time and number of migrations for a fleet of ``kernels``."""
    global KERNELS
    saved, KERNELS = KERNELS, kernels
    try:
        changes = changing_registers()
        registry = load_registry_text(registry_text(changes), "synthetic.toml")
        lists = reglists(changes)
    finally:
        KERNELS = saved
    times, report = [], None
    for _ in range(RUNS):
        start = time.perf_counter()
        report = audit(lists, registry)
        times.append(time.perf_counter() - start)
    assert report is not None and report.ok, report.to_text()
    return statistics.median(times), report.pair_count


def main() -> None:
    changes = changing_registers()
    registry = load_registry_text(registry_text(changes), "synthetic.toml")
    lists = reglists(changes)
    times = []
    report = None
    for _ in range(RUNS):
        start = time.perf_counter()
        report = audit(lists, registry)
        times.append(time.perf_counter() - start)
    assert report is not None and report.ok, report.to_text()
    sizes = sorted(len(r.indices) for r in lists)
    print(f"{len(lists)} lists ({len(HOSTS)} hosts x {len(KERNELS)} kernels, "
          f"{sizes[0]}-{sizes[-1]} registers), {MACHINES} machine versions, "
          f"{report.pair_count} migrations audited")
    print(f"audit: median {statistics.median(times):.3f} s over {RUNS} runs "
          f"(min {min(times):.3f} s, max {max(times):.3f} s)")
    print("growth (the audit should grow no faster than the number of migrations):")
    for count in SCALING:
        kernels = [Version(6 + minor // 40, minor % 40) for minor in range(count)]
        median, pairs = timed(kernels)
        print(f"  {count:3d} kernels: {pairs:6d} migrations, median {median:.3f} s, "
              f"{1e6 * median / pairs:.1f} us per migration")


if __name__ == "__main__":
    main()
