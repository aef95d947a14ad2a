"""``compat lab migrate``'s cases: the CASE grammar and the named matrices."""

from __future__ import annotations

import re
from dataclasses import dataclass

from compat.core.diagnostics import COMMAND_LINE, CompatError
from compat.lab import grammar, kernels

#: the machine option that gives the inner vCPU EL2 (a nested case)
NESTED_OPTION = ",virtualization=on"
#: QEMU version -> Debian suite of its arm64 qemu-system-arm
QEMU_SUITES = {"11.1": "sid", "10.0": "trixie"}


@dataclass(frozen=True)
class Case:
    source: str                   # Debian kernel ABI (6.16.12+deb13)
    destination: str
    qemu: str = "11.1"            # 11.1 (sid) or 10.0 (trixie)
    machine: str = "virt-11.0"
    source_cpu: str = "host"      # -cpu value on the source (host,kvm-psci-version=1.1)
    destination_cpu: str = "host"

    @property
    def name(self) -> str:
        def short(abi):
            return kernels.release_of(abi) and "%d.%d" % kernels.release_of(abi)

        def opts(cpu):
            rest = cpu.split(",", 1)[1] if "," in cpu else ""
            return re.sub(r"[^A-Za-z0-9.=]+", "_", rest)
        base = (f"{short(self.source)}-to-{short(self.destination)}_qemu{self.qemu}_"
                f"{self.machine_type}{'_el2' if self.el2 else ''}")
        so, do = opts(self.source_cpu), opts(self.destination_cpu)
        if so and so == do:
            base += f"_{so}"
        else:
            if so:
                base += f"_src-{so}"
            if do:
                base += f"_dst-{do}"
        return base

    @property
    def el2(self) -> bool:
        """Nested: the inner vCPU has EL2 (``-M ...,virtualization=on``), so
        both guest kernels boot with ``kvm-arm.mode=nested``."""
        return self.machine.endswith(NESTED_OPTION)

    @property
    def machine_type(self) -> str:
        """The machine type without its options (``virt-11.0``)."""
        return self.machine.removesuffix(NESTED_OPTION)



_FORM = "SRC:DST[:QEMU[:MACHINE[:SRC_CPU[:DST_CPU]]]]"
_EXAMPLE = "6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0:host,kvm-psci-version=1.1"


def parse_case(text: str, default_qemu: str = "11.1", default_machine: str = "virt-11.0") -> Case:
    """``SRC:DST[:QEMU[:MACHINE[:SRC_CPU[:DST_CPU]]]]`` (``-`` keeps a default).

    Every field is checked against its grammar (:mod:`compat.lab.grammar`):
    a bad one is a ``<command line>`` error before anything runs, since the
    fields become directory names and text in the guest's shell script."""
    parts = text.split(":")
    if len(parts) < 2 or len(parts) > 6 or not parts[0] or not parts[1]:
        raise CompatError.at(COMMAND_LINE, f"bad case {text!r}: write {_FORM}",
                             hint=f"e.g. {_EXAMPLE}")
    vals = parts + ["-"] * (6 - len(parts))
    q = vals[2] if vals[2] != "-" else default_qemu
    m = vals[3] if vals[3] != "-" else default_machine
    sc = vals[4] if vals[4] != "-" else "host"
    dc = vals[5] if vals[5] != "-" else "host"
    where = f"CASE {text!r}:"
    if q not in QEMU_SUITES:
        raise CompatError.at(COMMAND_LINE, f"{where} unknown QEMU version {q!r}",
                             hint="known: " + ", ".join(QEMU_SUITES))
    grammar.check("kernel", vals[0], f"{where} SRC")
    grammar.check("kernel", vals[1], f"{where} DST")
    grammar.check("machine", m, f"{where} MACHINE")
    grammar.check("cpu", sc, f"{where} SRC_CPU")
    grammar.check("cpu", dc, f"{where} DST_CPU")
    return Case(vals[0], vals[1], q, m, sc, dc)


K612, K616, K72, K73 = "6.12.117+deb13", "6.16.12+deb13", "7.2.13+deb14", "7.3.4+deb13"
PSCI11 = "host,kvm-psci-version=1.1"


def matrix(name: str) -> list[Case]:
    """The named matrix (``oracle``: the cases of tests/data/real-migrations
    without EL2; ``nested``: :func:`nested_matrix`),
    most informative first (results come in as cases finish): QEMU 10.0,
    QEMU 11.1 on virt-11.0, the PSCI pin, pmu=off, same-kernel controls, then
    the other machine types of 11.1."""
    if name == "nested":
        return nested_matrix()
    cases: list[Case] = []
    pairs = [(K612, K616), (K616, K612), (K72, K73), (K73, K72)]
    for s, d in pairs:
        cases.append(Case(s, d, "10.0", "virt-10.0"))
    cases.append(Case(K612, K612, "10.0", "virt-10.0"))
    cases.append(Case(K616, K612, "10.0", "virt-10.0", PSCI11))
    for s, d in pairs:
        cases.append(Case(s, d, "11.1", "virt-11.0"))
    cases.append(Case(K616, K612, "11.1", "virt-11.0", PSCI11))
    cases.append(Case(K616, K612, "11.1", "virt-10.0", PSCI11))
    for s, d in pairs:
        cases.append(Case(s, d, "11.1", "virt-11.0", "host,pmu=off", "host,pmu=off"))
    for k in (K612, K616, K73):
        cases.append(Case(k, k, "11.1", "virt-11.0"))
    for machine in ("virt-10.0", "virt-11.1"):
        for s, d in pairs:
            cases.append(Case(s, d, "11.1", machine))
    return cases


K617 = "6.17.13+deb13"


def nested_matrix() -> list[Case]:
    """``--matrix nested``: QEMU 11.1 migrating a vCPU with EL2 (both guest
    kernels in nested mode) 6.16 -> 6.17, back, and a same-kernel control."""
    m = "virt-11.0" + NESTED_OPTION
    return [Case(K616, K617, "11.1", m), Case(K617, K616, "11.1", m), Case(K617, K617, "11.1", m)]
