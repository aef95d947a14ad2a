"""Generate a realistic synthetic registry (TOML text) for benchmarks and
stress tests.

    python benchmarks/gen_registry.py --registers 10000 -o /tmp/reg-10k.toml

Registers are spread over the sysreg encoding space (then cp15/cp14 when
more are asked for than sysregs exist), about a third of them carry changes
across 24 kernel versions, 20 machine versions of ``virt`` promise
increasing minimum kernels, and a few features write hidden registers.
The output is a pure function of the arguments (``--seed``).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

KERNELS = [f"5.{m}" for m in (4, 10, 15, 19)] + [f"6.{m}" for m in range(0, 20)]
#: (machine version, min-kernel); newest first as the schema wants.
MACHINES = [(f"{major}.{minor}", KERNELS[min(4 + i, len(KERNELS) - 1)])
            for i, (major, minor) in enumerate(
                [(7, m) for m in range(3)] + [(8, m) for m in range(3)]
                + [(9, m) for m in range(3)] + [(10, m) for m in range(3)]
                + [(11, m) for m in range(2)] + [(12, m) for m in range(3)]
                + [(13, m) for m in range(3)])]
MACHINES.reverse()

_SYSREG_SPACE = 4 * 8 * 16 * 16 * 8       # op0 op1 crn crm op2
_CP_SPACE = 8 * 16 * 16 * 8               # opc1 crn crm opc2


def _spread(n: int, space: int) -> list[int]:
    """``n`` distinct points spread evenly over ``range(space)``."""
    stride = 40503  # odd, hence coprime with the power-of-two spaces
    return sorted((i * stride) % space for i in range(n))


def _encodings(n: int):
    """Yield ``(name, inline-table text)`` for ``n`` distinct registers."""
    made = 0
    for k in _spread(min(n, _SYSREG_SPACE), _SYSREG_SPACE):
        op0, op1, crn, crm, op2 = k >> 14, (k >> 11) & 7, (k >> 7) & 15, (k >> 3) & 15, k & 7
        yield (f"SYN_S{op0}_{op1}_C{crn}_C{crm}_{op2}",
               f'{{ group = "sysreg", op0 = {op0}, op1 = {op1}, crn = {crn}, crm = {crm}, '
               f'op2 = {op2} }}')
        made += 1
    for group in ("cp15", "cp14"):
        for ns in (False, True):
            if made >= n:
                return
            for k in _spread(min(n - made, _CP_SPACE), _CP_SPACE):
                opc1, crn, crm, opc2 = k >> 11, (k >> 7) & 15, (k >> 3) & 15, k & 7
                suffix = "_NS" if ns else ""
                yield (f"SYN_{group.upper()}_{opc1}_C{crn}_C{crm}_{opc2}{suffix}",
                       f'{{ group = "{group}", opc1 = {opc1}, crn = {crn}, crm = {crm}, '
                       f'opc2 = {opc2}, ns = {"true" if ns else "false"} }}')
                made += 1
    if made < n:
        raise SystemExit(f"gen_registry: at most {made} distinct registers can be generated")


def generate(registers: int, seed: int = 1) -> str:
    """The registry text with ``registers`` registers."""
    rng = random.Random(seed)
    out = ["schema-version = 1", "",
           "[machines.virt]",
           'description = "The arm64 virt board (synthetic)."',
           'cpu-driver = "TYPE_ARM_CPU"',
           "versions = ["]
    for version, kernel in MACHINES:
        out.append(f'  {{ version = "{version}", min-kernel = "{kernel}", '
                   f'description = "Supported on Linux {kernel} and later hosts." }},')
    out += ["]", ""]
    hidden: list[str] = []
    body: list[str] = []
    for i, (name, encoding) in enumerate(_encodings(registers)):
        body += [f"[registers.{name}]",
                 f'description = "Synthetic register {i} ({name}), generated for benchmarks."',
                 f"encoding = {encoding}",
                 'reset = "0x0"']
        mask = "0xffffffffffffffff" if "sysreg" in encoding else "0xffffffff"  # cp14/15: 32-bit
        roll = rng.random()
        if roll < 0.35:
            first = rng.randrange(4, len(KERNELS) - 1)
            commit = f"{rng.getrandbits(48):012x}"
            if roll < 0.12:
                change = (f'{{ kernel = "{KERNELS[first]}", change = "added", commit = "{commit}", '
                          f'subject = "KVM: arm64: Expose {name} to userspace", '
                          'source = "synthetic" }')
                body += [f"changes = [\n  {change},\n]", 'compat = "hide"',
                         f'safe-when = {{ mask = "{mask}", value = "0x0" }}']
                hidden.append(name)
            else:
                change = (f'{{ kernel = "{KERNELS[first]}", change = "gated", '
                          f'cpu-feature = "FEAT_SYN{i % 97}", commit = "{commit}", '
                          f'subject = "KVM: arm64: Hide {name} when disabled for guests", '
                          'source = "synthetic" }')
                body += [f"changes = [\n  {change},\n]", 'compat = "tolerate-missing"',
                         f'safe-because = "A guest without FEAT_SYN{i % 97} cannot access '
                         f'{name}, so its value carries no guest state."']
        body += ['sources = ["synthetic"]', ""]
    features: list[str] = []
    for j, name in enumerate(hidden[: min(8, len(hidden))]):
        hidden_users = f"feat-{j}"
        features += [f"[features.{hidden_users}]",
                     f'description = "Synthetic feature {j} writing {name}."',
                     f'property = "-machine feat-{j}=on"',
                     'source = "synthetic"',
                     f'writes = {{ register = "{name}", value = "0x1" }}', ""]
        idx = body.index(f"[registers.{name}]")
        body.insert(idx + 4, f'used-by = ["{hidden_users}"]')
    return "\n".join(out + features + body)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--registers N -o FILE``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registers", "-n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-o", "--output", type=Path, help="default: stdout")
    args = parser.parse_args(argv)
    text = generate(args.registers, args.seed)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
