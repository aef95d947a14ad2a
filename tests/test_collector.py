"""The stdlib collector (compat/collector.py) against a fake ioctl layer."""

from __future__ import annotations

import errno
import struct

import pytest

from compat import collector as c

REGS = [0x603000000013C103, 0x6030000000160000, 0x6030000000100000 + 2]


class FakeKVM:
    """Records ioctls; answers like KVM does."""

    def __init__(self, caps=(c.CAP_PSCI_0_2, c.CAP_PMU_V3), regs=REGS, open_error=None,
                 fail=None, grow=0):
        self.caps, self.regs, self.open_error, self.fail = set(caps), list(regs), open_error, fail
        self.calls, self.closed, self.grow, self.next_fd = [], [], grow, 3
        self.init_features = None

    def open(self, path):
        if self.open_error:
            raise self.open_error
        self.next_fd += 1
        return self.next_fd

    def close(self, fd):
        self.closed.append(fd)

    def ioctl(self, fd, request, arg=0):
        self.calls.append(request)
        if self.fail == request:
            raise OSError(errno.EINVAL, "Invalid argument")
        if request == c.KVM_GET_API_VERSION:
            return 12
        if request == c.KVM_CHECK_EXTENSION:
            return 1 if arg in self.caps else 0
        if request in (c.KVM_CREATE_VM, c.KVM_CREATE_VCPU):
            self.next_fd += 1
            return self.next_fd
        if request == c.KVM_ARM_PREFERRED_TARGET:
            arg[:] = c.VCPU_INIT.pack(5, *[0] * 7)
            return 0
        if request == c.KVM_ARM_VCPU_INIT:
            target, *features = c.VCPU_INIT.unpack(arg)
            assert target == 5
            self.init_features = features[0]
            return 0
        if request == c.KVM_ARM_VCPU_FINALIZE:
            assert struct.unpack("<i", arg)[0] == 4
            return 0
        if request == c.KVM_GET_REG_LIST:
            n = struct.unpack_from("<Q", arg)[0]
            if self.grow and n > 0:      # the list grows after the count was read
                self.regs += [0x6030000000130000 + i for i in range(self.grow)]
                self.grow = 0
            regs = self.regs
            if n < len(regs):
                struct.pack_into("<Q", arg, 0, len(regs))
                raise OSError(errno.E2BIG, "Argument list too long")
            struct.pack_into(f"<Q{len(regs)}Q", arg, 0, len(regs), *regs)
            return 0
        raise AssertionError(hex(request))


def test_e2big_protocol_returns_sorted_list():
    kvm = FakeKVM()
    indices, enabled, target = c.collect(["psci-0.2", "pmu-v3"], layer=kvm)
    assert indices == sorted(REGS)
    assert enabled == ["psci-0.2", "pmu-v3"] and target == 5
    assert kvm.calls.count(c.KVM_GET_REG_LIST) == 2
    assert kvm.init_features == (1 << 2) | (1 << 3)
    assert len(kvm.closed) == 3


def test_list_growing_between_calls_is_retried():
    kvm = FakeKVM(grow=2)
    indices, _, _ = c.collect(["psci-0.2"], layer=kvm)
    assert len(indices) == len(REGS) + 2
    assert kvm.calls.count(c.KVM_GET_REG_LIST) == 3


def test_host_default_features_follow_capabilities():
    kvm = FakeKVM(caps=(c.CAP_PSCI_0_2, c.CAP_SVE, c.CAP_PTRAUTH_ADDRESS, c.CAP_PTRAUTH_GENERIC))
    _, enabled, _ = c.collect(layer=kvm)
    assert enabled == ["psci-0.2", "sve", "ptrauth"]
    assert kvm.init_features == (1 << 2) | (1 << 4) | (1 << 5) | (1 << 6)
    assert c.KVM_ARM_VCPU_FINALIZE in kvm.calls


def test_ptrauth_needs_both_capabilities_and_no_finalize_without_sve():
    kvm = FakeKVM(caps=(c.CAP_PSCI_0_2, c.CAP_PTRAUTH_ADDRESS))
    _, enabled, _ = c.collect(layer=kvm)
    assert enabled == ["psci-0.2"]
    assert c.KVM_ARM_VCPU_FINALIZE not in kvm.calls


def test_features_turned_off_are_not_requested():
    kvm = FakeKVM(caps=(c.CAP_PSCI_0_2, c.CAP_PMU_V3, c.CAP_SVE))
    _, enabled, _ = c.collect(["psci-0.2"], layer=kvm)
    assert enabled == ["psci-0.2"] and kvm.init_features == 1 << 2


def test_el2_on_request():
    kvm = FakeKVM(caps=(c.CAP_PSCI_0_2, c.CAP_EL2))
    _, enabled, _ = c.collect(["psci-0.2"], required=["el2"], layer=kvm)
    assert enabled == ["psci-0.2", "el2"] and kvm.init_features == (1 << 2) | (1 << 7)


def test_missing_required_capability():
    with pytest.raises(c.CollectError, match="lacks the capability for vCPU feature 'el2'"):
        c.collect(["psci-0.2"], required=["el2"], layer=FakeKVM())


@pytest.mark.parametrize("error, message, hint", [
    (FileNotFoundError(errno.ENOENT, "x"), "does not exist", "load KVM"),
    (PermissionError(errno.EACCES, "x"), "permission denied", "'kvm' group"),
    (OSError(errno.EBUSY, "busy"), "cannot open", None),
])
def test_open_errors(error, message, hint):
    with pytest.raises(c.CollectError) as info:
        c.collect(layer=FakeKVM(open_error=error))
    assert message in info.value.message
    if hint:
        assert hint in info.value.hint


@pytest.mark.parametrize("request_, name", [
    (c.KVM_CREATE_VM, "KVM_CREATE_VM"), (c.KVM_ARM_PREFERRED_TARGET, "KVM_ARM_PREFERRED_TARGET"),
    (c.KVM_CREATE_VCPU, "KVM_CREATE_VCPU"), (c.KVM_ARM_VCPU_INIT, "KVM_ARM_VCPU_INIT"),
    (c.KVM_GET_REG_LIST, "KVM_GET_REG_LIST"),
])
def test_ioctl_failures_name_the_ioctl_and_close_fds(request_, name):
    kvm = FakeKVM(fail=request_)
    with pytest.raises(c.CollectError, match=name):
        c.collect(["psci-0.2"], layer=kvm)
    assert kvm.closed  # every opened fd closed


def test_finalize_failure():
    kvm = FakeKVM(caps=(c.CAP_PSCI_0_2, c.CAP_SVE), fail=c.KVM_ARM_VCPU_FINALIZE)
    with pytest.raises(c.CollectError, match="KVM_ARM_VCPU_FINALIZE"):
        c.collect(layer=kvm)


def test_parse_features():
    assert c.parse_features("pmu,psci") == ["psci-0.2", "pmu-v3"]
    assert c.parse_features("none") == []
    with pytest.raises(c.CollectError, match="unknown vCPU feature 'mte'"):
        c.parse_features("mte")


def test_format_list_is_readable_by_the_reglist_reader():
    from compat.analysis.reglist import parse_reglist
    text = c.format_list(REGS, kernel="6.12.0-55.el10.aarch64", host="box", cpu="MIDR 0x1",
                         features=["psci-0.2"])
    reg = parse_reglist(text, "x.reglist")
    assert str(reg.kernel) == "6.12" and reg.host == "box" and set(reg.indices) == set(REGS)
    assert "# vcpu-features: psci-0.2" in text and "# cpu: MIDR 0x1" in text


def test_guest_main_prints_markers(monkeypatch, capsys):
    monkeypatch.setattr(c, "collect", lambda *a, **k: (REGS, ["psci-0.2"], 5))
    assert c.guest_main(["--guest", "--features", "psci"]) == 0
    out = capsys.readouterr().out
    assert c.BEGIN in out and f"{c.END} 3 ===" in out


def test_guest_main_reports_errors(monkeypatch, capsys):
    def boom(*a, **k):
        raise c.CollectError("KVM_CREATE_VM failed: x", "hint")
    monkeypatch.setattr(c, "collect", boom)
    assert c.guest_main(["--guest"]) == 1
    assert "compat-collector: error: KVM_CREATE_VM failed" in capsys.readouterr().out


def test_compat_collect_off_arm64_is_a_clean_error(monkeypatch, capsys):
    import platform
    from compat.cli import main
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert main(["collect"]) == 1
    err = capsys.readouterr().err
    assert "needs an arm64 host" in err and "Traceback" not in err


def test_compat_collect_without_kvm_device(monkeypatch, capsys, tmp_path):
    import platform
    from compat.cli import main
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert main(["collect", "--device", str(tmp_path / "kvm")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "load KVM" in err


def test_a_device_that_is_not_kvm_is_named_so(tmp_path):
    """``--device /dev/null``: the ioctl answers ENOTTY, which means "not a KVM
    device", not a missing capability (issue 20.10); the real ioctl layer."""
    for dev in ("/dev/null", str(tmp_path / "file")):
        (tmp_path / "file").write_bytes(b"")
        with pytest.raises(c.CollectError) as info:
            c.collect(["psci-0.2"], required=["psci-0.2"], dev=dev)
        assert info.value.message.startswith(f"{dev} is not a KVM device (KVM_GET_API_VERSION: ")
        assert "capability" not in info.value.message


def test_enotty_on_a_capability_check_is_not_kvm_either():
    class NoCaps(FakeKVM):
        def ioctl(self, fd, request, arg=0):
            if request == c.KVM_CHECK_EXTENSION:
                raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")
            return super().ioctl(fd, request, arg)
    with pytest.raises(c.CollectError, match="is not a KVM device .KVM_CHECK_EXTENSION"):
        c.collect(["psci-0.2"], layer=NoCaps())


def test_another_api_version_is_refused():
    class Old(FakeKVM):
        def ioctl(self, fd, request, arg=0):
            return 11 if request == c.KVM_GET_API_VERSION else super().ioctl(fd, request, arg)
    with pytest.raises(c.CollectError, match="answers KVM API version 11, not 12"):
        c.collect(["psci-0.2"], layer=Old())
