"""``compat lab migrate``'s case syntax and the oracle matrix (no boots)."""

from __future__ import annotations

import pytest

from compat.core.diagnostics import CompatError
from compat.lab import migrate as m


def test_parse_case_defaults_and_dashes():
    c = m.parse_case("6.16.12+deb13:6.12.117+deb13")
    assert c == m.Case("6.16.12+deb13", "6.12.117+deb13", "11.1", "virt-11.0", "host", "host")
    assert c.name == "6.16-to-6.12_qemu11.1_virt-11.0"
    c = m.parse_case("6.16.12+deb13:6.12.117+deb13:-:virt-10.0:host,kvm-psci-version=1.1")
    assert (c.qemu, c.machine, c.source_cpu, c.destination_cpu) == \
        ("11.1", "virt-10.0", "host,kvm-psci-version=1.1", "host")
    assert c.name == "6.16-to-6.12_qemu11.1_virt-10.0_src-kvm_psci_version=1.1"
    c = m.parse_case("7.3.4+deb13:7.2.13+deb14:10.0:virt-10.0:host,pmu=off:host,pmu=off")
    assert c.name == "7.3-to-7.2_qemu10.0_virt-10.0_pmu=off"
    c = m.parse_case("7.3.4+deb13:7.2.13+deb14:-:-:-:host,pmu=off")
    assert c.name == "7.3-to-7.2_qemu11.1_virt-11.0_dst-pmu=off"


@pytest.mark.parametrize("text", ["", "6.16.12+deb13", ":6.12.117+deb13", "6.16.12+deb13:",
                                  "6.16.12+deb13:6.12.117+deb13:9.2"])
def test_parse_case_errors_are_clean(text):
    with pytest.raises(CompatError) as exc:
        m.parse_case(text)
    assert "Traceback" not in str(exc.value)


def test_oracle_matrix_covers_the_issue():
    cases = m.matrix("oracle")
    names = [c.name for c in cases]
    assert len(names) == len(set(names)) == 27
    pairs = {(m.K612, m.K616), (m.K616, m.K612), (m.K72, m.K73), (m.K73, m.K72)}
    for qemu, machines in (("11.1", ("virt-10.0", "virt-11.0", "virt-11.1")), ("10.0", ("virt-10.0",))):
        for machine in machines:
            got = {(c.source, c.destination) for c in cases if c.qemu == qemu and c.machine == machine
                   and c.source_cpu == c.destination_cpu == "host" and c.source != c.destination}
            assert got == pairs, (qemu, machine)
    assert {c.qemu for c in cases if c.source == c.destination} == {"10.0", "11.1"}
    psci = [c for c in cases if "kvm-psci-version=1.1" in c.source_cpu]
    assert {c.qemu for c in psci} == {"10.0", "11.1"} and all(c.destination_cpu == "host" for c in psci)
    pmu = [c for c in cases if "pmu=off" in c.source_cpu]
    assert {(c.source, c.destination) for c in pmu} == pairs
    assert all("pmu=off" in c.destination_cpu for c in pmu)
    assert all(c.qemu in m.QEMU_SUITES for c in cases)
    assert all(c.machine == "virt-10.0" for c in cases if c.qemu == "10.0")
