"""Nested vCPUs in the lab (`--features ...,el2`): the feature word, the
guest kernel's `kvm-arm.mode=nested`, the refusal of a host QEMU without
FEAT_NV2, and (slow) one real kernel booted nested on QEMU 11.1."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from compat import collector
from compat.core.diagnostics import CompatError
from compat.lab import collect as lab_collect
from compat.lab import hostqemu, kernels, nested

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"


def _compat(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "compat", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


# -- the feature: parsed, and bit 7 of features[0] -----------------------------------

def test_el2_feature_parses_in_canonical_order():
    assert collector.parse_features("el2,pmu-v3,psci-0.2") == ["psci-0.2", "pmu-v3", "el2"]
    assert collector.parse_features("psci,pmu,nested") == ["psci-0.2", "pmu-v3", "el2"]
    with pytest.raises(collector.CollectError, match="unknown vCPU feature 'el3'"):
        collector.parse_features("psci-0.2,el3")


class _FakeKvm:
    """Answers the collector's ioctls like a kernel with every capability,
    recording the features word of KVM_ARM_VCPU_INIT."""

    def __init__(self, el2_cap=True):
        self.el2_cap = el2_cap
        self.init_words = []

    def open(self, path):
        return 3

    def close(self, fd):
        pass

    def ioctl(self, fd, request, arg=0):
        if request == collector.KVM_GET_API_VERSION:
            return collector.KVM_API_VERSION
        if request == collector.KVM_CHECK_EXTENSION:
            return 0 if arg == collector.CAP_EL2 and not self.el2_cap else 1
        if request == collector.KVM_ARM_VCPU_INIT:
            self.init_words.append(struct.unpack_from("<I7I", arg)[1])
            return 0
        if request == collector.KVM_GET_REG_LIST:
            if len(arg) == 8:   # n = 0: E2BIG, the count written back
                struct.pack_into("<Q", arg, 0, 1)
                raise OSError(7, "Argument list too long")
            struct.pack_into("<QQ", arg, 0, 1, 0x603000000013e088)
            return 0
        return 4


def test_el2_sets_bit_7_of_the_vcpu_features():
    kvm = _FakeKvm()
    _, enabled, _ = collector.collect(["psci-0.2", "pmu-v3", "el2"], required=["el2"], layer=kvm)
    assert enabled == ["psci-0.2", "pmu-v3", "el2"]
    assert kvm.init_words == [1 << 2 | 1 << 3 | 1 << 7]
    kvm = _FakeKvm()
    collector.collect(["psci-0.2", "pmu-v3"], layer=kvm)
    assert kvm.init_words == [1 << 2 | 1 << 3]


def test_a_kernel_without_the_el2_capability_is_named():
    # what Debian's 6.1 and 6.12 answer, booted with kvm-arm.mode=nested
    with pytest.raises(collector.CollectError, match=r"'el2' \(KVM_CHECK_EXTENSION 240 returned 0\)"):
        collector.collect(["psci-0.2", "el2"], required=["el2"], layer=_FakeKvm(el2_cap=False))


# -- the guest kernel's command line and the list's header ---------------------------

def test_el2_appends_the_nested_mode_only_for_el2():
    assert nested.append("console=ttyAMA0", ["psci-0.2", "el2"]) == \
        "console=ttyAMA0 kvm-arm.mode=nested"
    assert nested.append("console=ttyAMA0", ["psci-0.2", "pmu-v3"]) == "console=ttyAMA0"


_CONSOLE_616 = """\
[    0.000000] Kernel command line: console=ttyAMA0 panic=-1 kvm-arm.mode=nested
[    1.700000] kvm [1]: nv: 566 coarse grained trap handlers
[    1.750000] kvm [1]: IPA Size Limit: 48 bits
[    1.760000] kvm [1]: VHE+NV2 mode initialized successfully
compat-guest: init reached

=== compat-reglist begin ===
# kernel: 6.16.12+deb13-arm64
# host: guest
# cpu: MIDR 0x00000000000f0510
# vcpu-features: psci-0.2,pmu-v3,el2
# entries: 2
0x603000000013e080
0x603000000013e088
=== compat-reglist end 2 ===
"""


def _fake_boot(console, seen):
    def boot(vmlinuz, initrd, **kw):
        seen.append(kw)
        from compat.lab.boot import BootResult
        return BootResult(console, 3.0, 0, False)
    return boot


def test_a_nested_boot_appends_the_mode_and_records_it(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(lab_collect.boot_mod, "boot", _fake_boot(_CONSOLE_616, seen))
    k = kernels.Kernel("6.16.12+deb13", "linux-image-6.16.12+deb13-arm64", "6.16.12-1", "trixie")
    host = hostqemu.HostQemu("qemu-system-aarch64", "10.0.2 (Debian 1:10.0.2+ds-2)")
    c = lab_collect.collect_one(k, tmp_path / "vmlinuz", tmp_path / "initrd", tmp_path,
                                host=host, cpu="max", name="qemu10.0-max-el2", timeout=60,
                                features=["psci-0.2", "pmu-v3", "el2"])
    assert seen[0]["append"] == "console=ttyAMA0 panic=-1 kvm-arm.mode=nested"
    text = c.path.read_text()
    assert c.path.name == "qemu10.0-max-el2-linux-6.16.12+deb13.reglist"
    assert "# vcpu-features: psci-0.2,pmu-v3,el2\n" in text
    assert "# kernel-command-line: console=ttyAMA0 panic=-1 kvm-arm.mode=nested\n" in text
    assert "# kvm-mode: VHE+NV2 mode initialized successfully\n" in text
    # without el2: the command line and the header are as before
    seen.clear()
    c = lab_collect.collect_one(k, tmp_path / "vmlinuz", tmp_path / "initrd", tmp_path / "p",
                                host=host, cpu="max", name="qemu10.0-max", timeout=60,
                                features=["psci-0.2", "pmu-v3"])
    assert seen[0]["append"] == "console=ttyAMA0 panic=-1"
    assert "kvm-mode" not in c.path.read_text()


def test_a_refusing_kernel_is_quoted_with_its_own_words(tmp_path, monkeypatch):
    console = ("[    0.000000] Malformed early option 'kvm-arm.mode'\n"
               "[    0.000000] Kernel command line: console=ttyAMA0 kvm-arm.mode=nested\n"
               "[    1.7] kvm [1]: VHE mode initialized successfully\n"
               "compat-collector: error: this kernel's KVM lacks the capability for vCPU "
               "feature 'el2' (KVM_CHECK_EXTENSION 240 returned 0)\n")
    monkeypatch.setattr(lab_collect.boot_mod, "boot", _fake_boot(console, []))
    k = kernels.Kernel("6.1.0-50", "linux-image-6.1.0-50-arm64", "6.1.176-1", "bookworm")
    host = hostqemu.HostQemu("qemu-system-aarch64", "11.1.3")
    with pytest.raises(CompatError) as err:
        lab_collect.collect_one(k, tmp_path / "v", tmp_path / "i", tmp_path, host=host,
                                cpu="max", name="h", timeout=60, features=["psci-0.2", "el2"])
    detail = err.value.diagnostics[0].detail
    assert "kernel (booted with kvm-arm.mode=nested): Malformed early option 'kvm-arm.mode'" in detail
    assert "kernel (booted with kvm-arm.mode=nested): kvm [1]: VHE mode initialized successfully" in detail
    assert not list(tmp_path.glob("*.reglist"))


# -- FEAT_NV2: QEMU 7.2 lacks it, refused before anything boots ----------------------

@pytest.mark.parametrize("version,cpu,ok", [
    ("7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)", "max", False),
    ("8.2.2", "max", False),
    ("9.0.0", "max", True),
    ("10.0.2 (Debian 1:10.0.2+ds-2~bpo12+1)", "max,pauth-impdef=on", True),
    ("11.1.3", "max", True),
    ("11.1.3", "neoverse-n1", False),
])
def test_feat_nv2_is_the_max_cpu_of_qemu_9_0_on(version, cpu, ok):
    assert nested.has_nv2(version, cpu) is ok


def _fake_qemu(tmp_path: Path, version: str) -> Path:
    exe = tmp_path / "qemu-system-aarch64"
    log = tmp_path / "ran"
    exe.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n"
                   f"echo 'QEMU emulator version {version}'\n")
    exe.chmod(0o755)
    return exe


def test_qemu_7_2_is_refused_before_the_archive_or_a_boot(tmp_path):
    exe = _fake_qemu(tmp_path, "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)")
    proc = _compat("lab", "collect", "6.16.12+deb13", "--features", "psci-0.2,pmu-v3,el2",
                   "--qemu", str(exe), "--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 1, proc.stderr
    assert "error: vCPU feature el2 needs a host CPU with FEAT_NV2: QEMU 7.2.22" in proc.stderr
    assert "lacks it" in proc.stderr and "--qemu-suite bookworm-backports" in proc.stderr
    assert "Traceback" not in proc.stderr
    # QEMU was asked its version only; no list, no kernel download
    assert (tmp_path / "ran").read_text().split() == ["--version"]
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())
    assert not (tmp_path / "cache" / "kernels").exists()


def test_the_systems_qemu_7_2_is_refused(tmp_path):
    exe = shutil.which("qemu-system-aarch64")
    if exe is None:
        pytest.skip("qemu-system-arm is not installed")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    if "version 7.2" not in version:
        pytest.skip("the system's QEMU is not 7.2")
    proc = _compat("lab", "collect", "6.16.12+deb13", "--features", "psci-0.2,pmu-v3,el2",
                   "--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 1
    assert "FEAT_NV2: QEMU 7.2" in proc.stderr and "lacks it" in proc.stderr


def test_a_cpu_model_without_nv2_is_refused(tmp_path):
    exe = _fake_qemu(tmp_path, "11.1.3")
    proc = _compat("lab", "collect", "6.16.12+deb13", "--features", "el2", "--cpu", "neoverse-n1",
                   "--qemu", str(exe), "--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 1
    assert "-cpu neoverse-n1 of QEMU 11.1.3" in proc.stderr and "has none" in proc.stderr


# -- the checked-in nested lists ----------------------------------------------------

def _nested_lists():
    return sorted(REAL.glob("qemu*-max-el2-linux-*.reglist"))


def test_checked_in_nested_lists_record_features_and_mode():
    lists = _nested_lists()
    assert lists, "no nested list in tests/data/real"
    for path in lists:
        text = path.read_text()
        assert "# vcpu-features: psci-0.2,pmu-v3,el2\n" in text, path.name
        assert "kvm-arm.mode=nested" in text and "# kvm-mode: VHE+NV2 mode" in text, path.name


# -- slow: one real kernel nested on QEMU 11.1 ---------------------------------------

@pytest.mark.lab
@pytest.mark.slow
def test_real_nested_list_has_the_el2_registers(tmp_path):
    # the lab cache is $XDG_CACHE_HOME/compat-lab, as for the other lab tests
    proc = _compat("lab", "collect", "6.17.13+deb13", "--features", "psci-0.2,pmu-v3,el2",
                   "--qemu-suite", "trixie-backports", "-j", "1", "-o", str(tmp_path),
                   timeout=900)
    if proc.returncode != 0 and ("unshare" in proc.stderr or "mount" in proc.stderr):
        pytest.skip("cannot run an unpacked QEMU here: " + proc.stderr.strip()[-200:])
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "qemu11.1-max-el2-linux-6.17.13+deb13.reglist"
    indices = {int(l, 16) for l in out.read_text().splitlines() if l.startswith("0x")}
    # system registers (group 0x0013) with op1 = 4: the EL2 registers
    el2 = {i for i in indices if (i >> 16) & 0xffff == 0x13 and (i >> 11) & 7 == 4}
    hcr_el2, vttbr_el2 = 0x603000000013e088, 0x603000000013e108
    assert {hcr_el2, vttbr_el2} <= el2 and len(el2) > 40
    assert "# kvm-mode: VHE+NV2 mode initialized successfully" in out.read_text()
    checked_in = REAL / out.name
    assert indices == {int(l, 16) for l in checked_in.read_text().splitlines() if l.startswith("0x")}


# -- lab migrate: nested cases -------------------------------------------------------

def test_a_nested_case_is_machine_options_on_the_case():
    from compat.lab.cases import matrix, parse_case
    c = parse_case("6.16.12+deb13:6.17.13+deb13:11.1:virt-11.0,virtualization=on")
    assert c.el2 and c.machine == "virt-11.0,virtualization=on" and c.machine_type == "virt-11.0"
    assert c.name == "6.16-to-6.17_qemu11.1_virt-11.0_el2"
    plain = parse_case("6.16.12+deb13:6.17.13+deb13:11.1:virt-11.0")
    assert not plain.el2 and plain.name == "6.16-to-6.17_qemu11.1_virt-11.0"
    for bad in ("virt-11.0,virtualization=off", "virt-11.0,gic-version=3", "virt-11.0;x"):
        with pytest.raises(CompatError, match="MACHINE"):
            parse_case(f"6.16.12+deb13:6.17.13+deb13:11.1:{bad}")
    assert [c.name for c in matrix("nested")] == [
        "6.16-to-6.17_qemu11.1_virt-11.0_el2", "6.17-to-6.16_qemu11.1_virt-11.0_el2",
        "6.17-to-6.17_qemu11.1_virt-11.0_el2"]
    assert not any(c.el2 for c in matrix("oracle"))


def test_nested_case_guests_boot_in_nested_mode(tmp_path, monkeypatch):
    from compat.lab import runcase
    from compat.lab.guest import DONE
    seen = []
    monkeypatch.setattr(runcase.boot_mod, "boot", _fake_boot(DONE + "\n", seen))
    ctx = runcase.Context(None, {"6.17.13+deb13": (None, tmp_path / "v")}, {}, "qemu", "11.1.3",
                          60, tmp_path)
    runcase._boot(ctx, "6.17.13+deb13", [tmp_path / "i"], "x", True)
    runcase._boot(ctx, "6.17.13+deb13", [tmp_path / "i"], "x")
    assert [kw["append"] for kw in seen] == ["console=ttyAMA0 panic=-1 kvm-arm.mode=nested",
                                            "console=ttyAMA0 panic=-1"]


def test_a_nested_migration_on_qemu_7_2_is_refused(tmp_path):
    exe = _fake_qemu(tmp_path, "7.2.22")
    proc = _compat("lab", "migrate", "--matrix", "nested", "--qemu", str(exe),
                   "--cache", str(tmp_path / "cache"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 1
    assert "FEAT_NV2: QEMU 7.2.22" in proc.stderr and "Traceback" not in proc.stderr


def test_a_migration_blocker_is_recorded_as_blocked(tmp_path):
    import json
    from compat.lab import runcase
    from compat.lab.cases import parse_case
    case = parse_case("6.17.13+deb13:6.17.13+deb13:11.1:virt-11.0,virtualization=on")
    ctx = runcase.Context(None, {}, {"11.1": (tmp_path / "base", {"suite": "sid"})}, "qemu",
                          "11.1.3", 900, tmp_path, cpu="max,pauth-impdef=on")
    msgs = ["t=40.1 source-qemu-start", "source qemu exit 0",
            "source monitor: Outgoing migration blocked:",
            "source monitor: Live migration disabled because KVM nested virt is enabled",
            runcase.KVM_MODE + "VHE+NV2 mode initialized successfully"]
    o = runcase.run_case(ctx, case, None, 77.0, msgs)
    info = json.loads((tmp_path / case.name / "case.json").read_text())
    assert not o.ok and info["verdict"] == "blocked"
    assert info["qemu_messages"] == msgs[1:4]
    assert info["nested"]["source_kvm_mode"] == "VHE+NV2 mode initialized successfully"
    assert info["nested"]["machine_options"] == "virtualization=on"
    assert info["qemu"]["machine"] == "virt-11.0,virtualization=on"
    assert info["lab"]["host_qemu"] == "11.1.3"      # the host the nested lists must come from
    # the same refusal without a blocker line stays a source error
    o = runcase.run_case(ctx, parse_case("6.17.13+deb13:6.16.12+deb13"), None, 1.0,
                         ["source qemu exit 1", "source stderr: qemu: bad option"])
    assert o.data["verdict"] == "source-error"
