"""The migration stream reader, streams in the commands, and value rules."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from compat.analysis.readers.stream import read_stream
from compat.core.diagnostics import CompatError
from conftest import REGLISTS, ROOT, run_compat
from stream_util import reglist_values, write_stream

STREAMS = ROOT / "tests" / "data" / "streams"
PSCI = 0x6030000000140000
BMAP_2 = 0x6030000000160003


def _real(name: str) -> bytes:
    return gzip.decompress((STREAMS / name).read_bytes())


@pytest.mark.parametrize("name,machine,count", [
    ("qemu-7.2-tcg-max-virt.qevm.gz", "virt-7.2", 304),
    ("qemu-7.2-tcg-a57-virt-7.0.qevm.gz", "virt-7.0", 258),
])
def test_real_streams(name, machine, count):
    s = read_stream(STREAMS / name)
    assert (s.machine, len(s.indexes), s.vmstate_version, s.described) == (machine, count, 22, True)
    assert list(s.indexes) == sorted(set(s.indexes)) and set(s.values) == set(s.indexes)
    assert all(i >> 56 in (0x40, 0x60) for i in s.indexes)


def test_real_stream_without_description_and_smp2():
    full = read_stream(STREAMS / "qemu-7.2-tcg-max-virt.qevm.gz")
    bare = read_stream(STREAMS / "qemu-7.2-tcg-max-virt-novmdesc.qevm.gz")
    assert not bare.described and bare.indexes == full.indexes and bare.notes
    smp = read_stream(STREAMS / "qemu-7.2-tcg-max-virt-smp2.qevm.gz", instance=1)
    assert smp.cpus == 2 and smp.instance_id == 1 and smp.indexes == full.indexes


@pytest.mark.parametrize("cut", [4, 9, 100, 468400])
def test_truncated_stream_is_located(cut):
    data = _real("qemu-7.2-tcg-max-virt-novmdesc.qevm.gz")[:cut]
    with pytest.raises(CompatError) as info:
        read_stream(data, name="cut.qevm")
    text = info.value.format()
    assert text.startswith("cut.qevm:0x") and "Traceback" not in text


def test_bad_magic_version_no_cpu_and_unknown_version():
    with pytest.raises(CompatError, match="not a QEMU migration stream"):
        read_stream(b"QEVX\0\0\0\3", name="x")
    with pytest.raises(CompatError, match="unknown migration stream version 2"):
        read_stream(b"QEVM\0\0\0\2\0", name="x")
    with pytest.raises(CompatError, match="the stream has no 'cpu' section"):
        read_stream(write_stream({}, cpus=0), name="x")
    bare = write_stream({0x603000000013c103: 0}, cpu_version=99, vmdesc=False)
    with pytest.raises(CompatError, match="unknown cpu vmstate version 99"):
        read_stream(bare, name="x")
    # with a description, a newer version is read and noted
    assert read_stream(write_stream({1 << 62 | 5: 7}, cpu_version=23)).notes


def test_synthetic_round_trip():
    values = {PSCI: 0x10003, BMAP_2: 3, 0x603000000013c103: 9}
    s = read_stream(write_stream(values, cpus=2))
    assert dict(s.values) == values and s.cpus == 2


def _psci_stream(tmp_path: Path, psci: int, bmap2: int = 0) -> Path:
    values = reglist_values(REGLISTS / "n1-linux-6.16.reglist", {PSCI: psci, BMAP_2: bmap2})
    path = tmp_path / f"n1-linux-6.16-{psci:x}-{bmap2}.qevm"
    path.write_bytes(write_stream(values))
    return path


def test_check_psci_value_rule(tmp_path):
    dst = str(REGLISTS / "n1-linux-6.12.reglist")
    bad = run_compat("check", str(_psci_stream(tmp_path, 0x10003)), dst, "--rules", "tolerances")
    assert bad.rc == 1, bad.out + bad.err
    assert "Could not set register fw reg 0 to 10003 (is 10001)" in bad.out
    assert "KVM_REG_ARM_PSCI_VERSION" in bad.out and "kvm-psci-version=1.1" in bad.out
    good = run_compat("check", str(_psci_stream(tmp_path, 0x10001)), dst, "--rules", "tolerances")
    assert good.rc == 0 and ": ok, assuming" in good.out.splitlines()[0], good.out + good.err


def test_check_without_values_assumes_the_source_kernels_defaults(tmp_path):
    """Plain lists: the 6.16 source sends what Linux 6.16 gives a new vCPU
    (PSCI 1.3, BMAP_2 0), so the verdict is a FAIL on PSCI_VERSION with the
    pin as the fix, and BMAP_2's tolerance test passes on its known default."""
    res = run_compat("check", str(REGLISTS / "n1-linux-6.16.reglist"),
                     str(REGLISTS / "n1-linux-6.12.reglist"), "--rules", "tolerances")
    assert res.rc == 1 and ": FAILS, assuming" in res.out, res.out
    assert "KVM_REG_ARM_PSCI_VERSION (0x6030000000140000): Could not set register fw reg 0 " \
        "to 10003 (is 10001)" in res.out
    assert "what Linux 6.16 gives a new vCPU" in res.out
    assert "--cpu-option kvm-psci-version=1.1" in res.out
    assert "depend" not in res.out and "BMAP_2" not in res.out
    pinned = run_compat("check", str(REGLISTS / "n1-linux-6.16.reglist"),
                        str(REGLISTS / "n1-linux-6.12.reglist"), "--rules", "tolerances",
                        "--cpu-option", "kvm-psci-version=1.1")
    assert pinned.rc == 0 and ": ok, assuming" in pinned.out, pinned.out
    # forward: a 6.12 source cannot hold a value 6.16 refuses
    fwd = run_compat("check", str(REGLISTS / "n1-linux-6.12.reglist"),
                     str(REGLISTS / "n1-linux-6.16.reglist"), "--rules", "tolerances")
    assert "PSCI_VERSION" not in fwd.out
    # a machine type whose promise spans 6.13 pins the value
    pinned = run_compat("check", str(REGLISTS / "n1-linux-6.16.reglist"),
                        str(REGLISTS / "n1-linux-6.12.reglist"), "--machine", "virt-10.1")
    assert pinned.rc == 0 and "PSCI_VERSION" not in pinned.out, pinned.out


def test_bmap2_uses_the_stream_value(tmp_path):
    dst = str(REGLISTS / "n1-linux-6.12.reglist")
    res = run_compat("check", str(_psci_stream(tmp_path, 0x10001, bmap2=3)), dst,
                     "--rules", "tolerances")
    assert res.rc == 1 and "its value 0x3 fails the tolerance test" in res.out


def test_streams_on_both_sides_and_diff(tmp_path):
    src = _psci_stream(tmp_path, 0x10001)
    dst_values = reglist_values(REGLISTS / "n1-linux-6.12.reglist", {PSCI: 0x10001})
    dst = tmp_path / "n1-linux-6.12.qevm"
    dst.write_bytes(write_stream(dst_values))
    res = run_compat("check", str(src), str(dst), "--rules", "tolerances", "--json")
    assert res.rc == 0, res.out + res.err
    assert '"format": "qemu-stream"' in res.out
    diff = run_compat("diff", str(dst), str(src))
    assert diff.rc == 0 and "KVM_REG_ARM_VENDOR_HYP_BMAP_2" in diff.out


def test_stream_needs_a_kernel(tmp_path):
    path = tmp_path / "x.qevm"
    path.write_bytes(write_stream({PSCI: 0x10001}))
    res = run_compat("check", str(path), str(REGLISTS / "n1-linux-6.12.reglist"))
    assert res.rc == 1 and "Traceback" not in res.err
    assert res.err.startswith(f"{path}: error: cannot tell which host kernel")
    trunc = tmp_path / "n1-linux-6.16.qevm"
    trunc.write_bytes(write_stream({PSCI: 0x10001})[:30])
    res = run_compat("check", str(trunc), str(REGLISTS / "n1-linux-6.12.reglist"))
    assert res.rc == 1 and res.err.startswith(f"{trunc}:0x") and "truncated" in res.err


def test_real_tcg_stream_in_check():
    src = STREAMS / "qemu-7.2-tcg-max-virt.qevm.gz"
    res = run_compat("check", str(src), str(STREAMS / "qemu-7.2-tcg-a57-virt-7.0.qevm.gz"),
                     "--from-kernel", "6.12", "--to-kernel", "6.12", "--json")
    assert res.rc == 1 and res.err == ""
    # why: the max CPU's stream carries 304 cpregs, the a57's list has 258, all
    # of them among max's; each of the 46 others (SVE, SME, pointer auth,
    # LOR, RAS ... that the a57 lacks) makes the incoming array too long
    data = json.loads(res.out)
    failures = data["failures"]
    assert len(failures) == 304 - 258
    assert {f["kind"] for f in failures} == {"length"}
    assert {f["direction"] for f in failures} == {"same-kernel"}
    assert {"ZCR_EL1", "APIAKEYLO_EL1", "LORC_EL1", "DISR_EL1"} <= {f["name"] for f in failures}
    assert all(f["qemu_error"].startswith("failed to load cpu:cpreg_vmstate_array_len")
               for f in failures)
    # the counts are said once per check, not per failure
    assert data["length"] == {"incoming": 304, "destination": 258}


@pytest.mark.parametrize("level", [1, 6, 9])
def test_gzipped_streams_are_recognised_at_every_level(tmp_path, level):
    """gzip -9 can spend the first ~100 bytes on Huffman tables: the sniffing
    must decompress until the QEVM magic comes out, not stop at 64 bytes."""
    from compat.analysis.readers.stream import is_stream
    raw = _real("qemu-7.2-tcg-max-virt.qevm.gz")
    packed = gzip.compress(raw, level, mtime=0)
    assert is_stream(packed) and is_stream(raw)
    assert not is_stream(gzip.compress(b"0x6030000000140000\n" * 50, level))
    path = tmp_path / "n1-linux-6.12.qevm.gz"
    path.write_bytes(packed)
    from compat.analysis.reglist import read_reglist
    rl = read_reglist(path)
    assert rl.values is not None and len(rl.indices) == 304


def test_real_level9_oracle_stream_is_a_stream():
    from compat.analysis.readers.stream import is_stream
    for p in sorted((ROOT / "tests/data/real-migrations").glob("*/*.qevm.gz")):
        assert is_stream(p.read_bytes()), p


def test_cpregs_value_lists_carry_values(tmp_path):
    """``INDEX VALUE`` lists (what ``compat lab migrate`` checks in) keep the
    values, so value rules see the source's PSCI version."""
    from compat.analysis.reglist import read_reglist
    values = reglist_values(REGLISTS / "n1-linux-6.12.reglist", {PSCI: 0x10003})
    src = tmp_path / "source.cpregs"
    src.write_text("# kernel: 6.16.12+deb13\n# cpregs: with values\n"
                   + "".join(f"0x{i:016x} 0x{v:x}\n" for i, v in sorted(values.items())))
    rl = read_reglist(src)
    assert rl.format == "cpregs" and rl.values[PSCI] == 0x10003 and str(rl.kernel).startswith("6.16")
    assert len(rl.indices) == len(values)
    res = run_compat("check", str(src), str(REGLISTS / "n1-linux-6.12.reglist"), "--rules", "tolerances")
    assert res.rc == 1 and "the source's recorded value" in res.out and "fw reg 0" in res.out
    bad = tmp_path / "bad.cpregs"
    bad.write_text("# kernel: 6.12\n0x6030000000140000 0x10001\n0x6030000000140000 0x10001\n")
    res = run_compat("check", str(bad), str(REGLISTS / "n1-linux-6.12.reglist"))
    assert res.rc == 1 and "listed twice" in res.err and "Traceback" not in res.err
