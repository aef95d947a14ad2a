"""Nested vCPUs (KVM_ARM_VCPU_HAS_EL2, vcpu-features el2) in the analysis:
check, diff and audit compare lists only within a vCPU class, and the
registry's nested facts decide what each machine type does with them.
Inputs are the real nested lists in tests/data/real (compat lab collect
--features psci-0.2,pmu-v3,el2 on QEMU 10.0 -cpu max hosts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compat.analysis.audit import audit
from compat.analysis.reglist import read_reglist
from compat.core.diagnostics import CompatError
from compat.load.pipeline import load
from conftest import ROOT, run_compat

REAL = ROOT / "tests" / "data" / "real"
N616 = REAL / "qemu10.0-max-el2-linux-6.16.12+deb13.reglist"
N617 = REAL / "qemu10.0-max-el2-linux-6.17.13+deb13.reglist"
N618 = REAL / "qemu10.0-max-el2-linux-6.18.15+deb13.reglist"
N73 = REAL / "qemu10.0-max-el2-linux-7.3.4+deb13.reglist"
FLAT617 = REAL / "qemu10.0-max-linux-6.17.13+deb13.reglist"

ICH = ([f"ICH_AP0R{n}_EL2" for n in range(4)] + [f"ICH_AP1R{n}_EL2" for n in range(4)]
       + ["ICH_HCR_EL2", "ICH_VMCR_EL2"] + [f"ICH_LR{n}_EL2" for n in range(16)])


def test_the_nested_lists_say_their_vcpu_features():
    assert read_reglist(N616).vcpu_features == {"psci-0.2", "pmu-v3", "el2"}
    assert read_reglist(FLAT617).vcpu_features == {"psci-0.2", "pmu-v3"}
    assert len(read_reglist(N616).indices) == 399 and len(read_reglist(N617).indices) == 374


def test_diff_of_6_16_and_6_17_nested_names_the_27_and_the_2():
    result = run_compat("diff", "--json", str(N616), str(N617))
    assert result.rc == 0, result.err      # every change has a registry rule
    rows = json.loads(result.out)["changes"]
    removed = {r["name"] for r in rows if r["change"] == "removed"}
    added = {r["name"] for r in rows if r["change"] == "added"}
    assert removed == set(ICH) | {"RVBAR_EL2"} and len(removed) == 27
    assert added == {"VSESR_EL2", "VDISR_EL2"}
    assert {r["compat"] for r in rows if r["name"] in ICH} == {"refuse"}
    text = run_compat("diff", str(N616), str(N617)).out
    assert "2 added, 27 removed" in text and "(unnamed)" not in text


@pytest.mark.parametrize("command", [["check"], ["diff"], ["check", "--machine", "virt-11.1"]])
def test_a_nested_list_against_a_non_nested_one_is_an_error(command):
    result = run_compat(*command, str(N616), str(FLAT617))
    assert result.rc == 1 and not result.out
    first = result.err.splitlines()[0]
    assert first.startswith(f"{FLAT617}: error: vCPU features differ:"), first
    assert "el2,pmu-v3,psci-0.2" in first and "has pmu-v3,psci-0.2" in first
    assert "note: compare lists collected with the same vCPU features" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("machine", ["virt-10.0", "virt-10.2", "virt-11.0"])
def test_check_says_the_machine_type_refuses_nested_vcpus(machine):
    result = run_compat("check", "--machine", machine, str(N616), str(N617))
    assert result.rc == 1
    assert "-machine virtualization=on" in result.out and "cannot be used with machine " \
        f"type {machine} under KVM" in result.out
    assert "c70a4027f5f3" in result.out and "use machine type virt-11.1 or newer" in result.out
    # the VM does not start: no register-by-register failure follows
    assert "cpreg_vmstate_array_len" not in result.out


def test_check_on_virt_11_1_passes_nested_migrations_inside_its_promise():
    for src, dst in ((N618, N73), (N73, N618)):   # PMMIR_EL1 (7.3) is hidden there
        result = run_compat("check", "--machine", "virt-11.1", str(src), str(dst))
        assert result.rc == 0, result.out


def test_compat_s_tolerances_do_not_let_the_vgic_registers_through():
    """A QEMU with compat's generated tolerances (no machine-type guard)
    tolerates RVBAR_EL2 and value-tests nothing of the vGIC: 6.16 -> 6.17
    fails on exactly the 26 ICH_*_EL2 registers (refused, never dropped)."""
    result = run_compat("check", "--json", "--rules", "tolerances", str(N616), str(N617))
    assert result.rc == 1
    names = {f["name"] for f in json.loads(result.out)["failures"]}
    assert names == set(ICH)


def _relabelled(tmp_path: Path, path: Path, host: str) -> Path:
    """``path`` with its ``# host:`` header naming ``host``: one host whose
    lists come from two vCPU classes."""
    lines = path.read_text().splitlines()
    lines = [f"# host: {host} (relabelled)" if line.startswith("# host:") else line
             for line in lines]
    out = tmp_path / path.name.replace("-el2", "")
    out.write_text("\n".join(lines) + "\n")
    return out


def test_audit_groups_a_host_s_lists_by_vcpu_class(tmp_path):
    """The same host name with nested and non-nested lists: two classes,
    named HOST [FEATURES], each audited on its own (kernels repeat across
    classes without clashing)."""
    nested = [_relabelled(tmp_path, p, "qemu10.0-max") for p in (N616, N617, N618)]
    flat = sorted(REAL.glob("qemu10.0-max-linux-6.1[678]*.reglist"))
    registry = load(ROOT / "registry.toml", "registry.toml")
    lists = [read_reglist(p) for p in nested + flat]
    report = audit(lists, registry.registry, registry.derivation)
    hosts = {m.host for m in report.matrices}
    assert hosts == {"qemu10.0-max [el2,pmu-v3,psci-0.2]", "qemu10.0-max [pmu-v3,psci-0.2]"}
    assert report.ok, report.to_text()
    # virt-11.0 refuses nested vCPUs: their pairs are outside its promise
    nested_11_0 = next(m for m in report.matrices if m.machine.name == "virt-11.0"
                       and m.vcpu_class == "el2,pmu-v3,psci-0.2")
    reasons = {c.reason for c in nested_11_0.cells.values() if c.reason != "same list"}
    assert reasons and all(r.startswith("outside virt-11.0's promise: -machine "
                                        "virtualization=on") for r in reasons), reasons


def test_audit_of_mixed_real_lists_exits_0():
    paths = [str(p) for p in sorted(REAL.glob("qemu10.0-max*.reglist"))]
    result = run_compat("audit", *paths)
    assert result.rc == 0, result.out[-2000:]
    assert "qemu10.0-max-el2" in result.out


def test_same_vcpu_class_raises_a_located_error():
    from compat.analysis.reglist import same_vcpu_class
    with pytest.raises(CompatError) as caught:
        same_vcpu_class(read_reglist(N616), read_reglist(FLAT617))
    assert str(FLAT617) in caught.value.format()
    same_vcpu_class(read_reglist(N616), read_reglist(N617))   # same class: no error


@pytest.mark.parametrize("rules, words", [
    ("qemu-10.0", "mach-virt: KVM does not support providing Virtualization extensions"),
    ("qemu-11.1", "Live migration disabled because KVM nested virt is enabled"),
])
def test_check_says_a_stock_qemu_migrates_no_nested_vcpu(rules, words):
    """Even between kernels whose nested lists are equal (6.18 -> 6.19), a
    stock QEMU does not migrate a nested vCPU: check says so, quoting it."""
    result = run_compat("check", "--json", "--rules", rules, str(N618), str(N73))
    assert result.rc == 1
    data = json.loads(result.out)
    assert data["verdict"] == "fail" and len(data["failures"]) == 1
    failure = data["failures"][0]
    assert failure["kind"] == "guard" and words in failure["qemu_error"]
    assert "cannot migrate nested vCPUs at all" in failure["qemu_error"]


def test_a_stock_qemu_refusal_only_concerns_nested_vcpus():
    flat = sorted(REAL.glob("qemu10.0-max-linux-6.1[89]*.reglist"))
    result = run_compat("check", "--rules", "qemu-11.1", *map(str, flat))
    assert result.rc == 0, result.out
    assert "nested" not in result.out
