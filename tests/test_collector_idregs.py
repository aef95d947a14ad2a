"""The collector's feature ID registers (compat/collector.py): the ioctl
numbers and structs against the uapi definitions compiled by gcc, the reads
against a fake KVM that writes through the user addresses as the kernel
does, the ``.idregs`` writer, and the lab's reading of the guest's console."""

from __future__ import annotations

import ctypes
import errno
import shutil
import subprocess
import textwrap

import pytest

from compat import collector as c

from test_collector import FakeKVM

MMFR3 = 0x603000000013C03B        # ID_AA64MMFR3_EL1 (3,0,0,7,3)
PFR0 = 0x603000000013C020         # ID_AA64PFR0_EL1 (3,0,0,4,0)
CTR = 0x603000000013C001 | 0x3 << 11 | 0   # CTR_EL0 (3,3,0,0,1)
NOT_ID = [0x603000000013C103, 0x6030000000160000, 0x6030000000100002,
          0x603000000013C080]     # TCR2_EL1, BMAP_2, a core register, SCTLR_EL1 (CRn 1)
LISTED = sorted(NOT_ID + [MMFR3, PFR0, CTR])


def _slot_reference(op1: int, crm: int, op2: int) -> int:
    # KVM_ARM_FEATURE_ID_RANGE_IDX as the uapi header writes it
    o = op1 & 3
    o -= o == 3
    return o << 6 | (crm & 7) << 3 | op2


class IdKVM(FakeKVM):
    """A fake KVM that also answers KVM_GET_ONE_REG and the writable masks,
    writing the answers at the user addresses the structs carry."""

    def __init__(self, values, masks=None, mask_caps=1, fail_one=None, fail_masks=None, **kw):
        super().__init__(regs=LISTED, **kw)
        self.values, self.masks, self.mask_caps = values, masks, mask_caps
        self.fail_one, self.fail_masks, self.mask_fds = fail_one, fail_masks, []

    def ioctl(self, fd, request, arg=0):
        if request == c.KVM_CHECK_EXTENSION and arg == c.CAP_REG_MASK_RANGES:
            self.calls.append(request)
            return self.mask_caps
        if request == c.KVM_GET_ONE_REG:
            self.calls.append(request)
            assert isinstance(arg, bytearray) and len(arg) == 16
            index, addr = c.ONE_REG.unpack(arg)
            if index == self.fail_one:
                raise OSError(errno.ENOENT, "No such file or directory")
            ctypes.c_uint64.from_address(addr).value = self.values[index]
            return 0
        if request == c.KVM_ARM_GET_REG_WRITABLE_MASKS:
            self.calls.append(request)
            self.mask_fds.append(fd)
            if self.fail_masks:
                raise OSError(self.fail_masks, "x")
            assert isinstance(arg, bytearray) and len(arg) == 64
            addr, range_, *reserved = c.REG_MASK_RANGE.unpack(arg)
            assert range_ == 0 and reserved == [0] * 13
            (ctypes.c_uint64 * 192).from_address(addr)[:] = self.masks
            return 0
        return super().ioctl(fd, request, arg)


VALUES = {MMFR3: 0x111, PFR0: 0x1101001021110222, CTR: 0x84448004}


def _masks():
    masks = [0] * c.FEATURE_ID_RANGE_SIZE
    masks[_slot_reference(0, 7, 3)] = 0xF0FFF
    masks[_slot_reference(0, 4, 0)] = 0xFFFF00F0FF00FFFF
    masks[_slot_reference(3, 0, 1)] = 0x1
    masks[_slot_reference(1, 0, 0)] = 0xDEAD     # an op1=1 slot no listed register uses
    return masks


def test_values_and_masks_of_the_listed_feature_id_registers_only():
    kvm = IdKVM(VALUES, _masks())
    indices, enabled, target, ids = c.collect_idregs(["psci-0.2"], layer=kvm)
    assert indices == LISTED and enabled == ["psci-0.2"] and target == 5
    assert ids.values == VALUES
    assert ids.masks == {MMFR3: 0xF0FFF, PFR0: 0xFFFF00F0FF00FFFF, CTR: 0x1}
    assert ids.masks_note.startswith("yes (KVM_ARM_GET_REG_WRITABLE_MASKS")
    assert kvm.calls.count(c.KVM_GET_ONE_REG) == 3
    # the masks are a VM ioctl: asked of the VM's fd (the second one opened)
    assert kvm.mask_fds == [5]
    assert ids.rows() == [(PFR0, VALUES[PFR0], 0xFFFF00F0FF00FFFF), (MMFR3, 0x111, 0xF0FFF),
                          (CTR, VALUES[CTR], 0x1)]


@pytest.mark.parametrize("caps", [0, 2])
def test_without_the_capability_the_masks_are_unknown(caps):
    kvm = IdKVM(VALUES, mask_caps=caps)
    *_, ids = c.collect_idregs(["psci-0.2"], layer=kvm)
    assert ids.masks is None and ids.values == VALUES
    assert ids.masks_note.startswith("no (KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES")
    assert "6.8" in ids.masks_note
    assert c.KVM_ARM_GET_REG_WRITABLE_MASKS not in kvm.calls
    assert [r[2] for r in ids.rows()] == [None] * 3


def test_a_failing_masks_ioctl_is_recorded_not_fatal():
    *_, ids = c.collect_idregs(["psci-0.2"], layer=IdKVM(VALUES, fail_masks=errno.EINVAL))
    assert ids.masks is None and ids.masks_note.startswith("no (KVM_ARM_GET_REG_WRITABLE_MASKS failed: ")


def test_a_failing_get_one_reg_names_the_register_and_closes_fds():
    kvm = IdKVM(VALUES, _masks(), fail_one=MMFR3)
    with pytest.raises(c.CollectError, match="KVM_GET_ONE_REG of 0x603000000013c03b failed"):
        c.collect_idregs(["psci-0.2"], layer=kvm)
    assert len(kvm.closed) == 3


def test_plain_collect_reads_no_id_register():
    kvm = IdKVM(VALUES, _masks())
    assert c.collect(["psci-0.2"], layer=kvm)[0] == LISTED
    assert c.KVM_GET_ONE_REG not in kvm.calls and c.KVM_ARM_GET_REG_WRITABLE_MASKS not in kvm.calls


def test_feature_id_space():
    def sysreg(op0, op1, crn, crm, op2):
        return 0x6030000000130000 | op0 << 14 | op1 << 11 | crn << 7 | crm << 3 | op2
    inside = [sysreg(3, op1, 0, crm, op2) for op1 in (0, 1, 3) for crm in range(8)
              for op2 in range(8)]
    assert all(map(c.is_feature_id, inside)) and len(inside) == c.FEATURE_ID_RANGE_SIZE
    outside = [sysreg(3, 2, 0, 0, 0), sysreg(3, 4, 0, 0, 0), sysreg(3, 0, 1, 0, 0),
               sysreg(3, 0, 0, 8, 0), sysreg(2, 0, 0, 0, 0),
               0x6020000000130000 | 3 << 14,          # a 32-bit size: not a KVM sysreg
               0x6030000000140000, 0x6030000000110000]  # fw reg 0, a demux entry
    assert not any(map(c.is_feature_id, outside))
    # every slot once, as the C macro numbers them
    slots = [c.feature_id_slot(i) for i in inside]
    assert sorted(slots) == list(range(192))
    assert [c.feature_id_slot(sysreg(3, o, 0, m, p)) for o, m, p in ((0, 7, 3), (1, 0, 0), (3, 0, 1))] \
        == [_slot_reference(0, 7, 3), 64, 129]


UAPI_C = textwrap.dedent(r"""
    #include <stdio.h>
    #include <stddef.h>
    #include <linux/ioctl.h>
    #include <linux/types.h>
    #include <linux/kvm.h>
    /* arm64 uapi (arch/arm64/include/uapi/asm/kvm.h, Linux 6.8), absent from
       the x86 headers: the definitions as the header writes them */
    #define KVM_ARM_FEATURE_ID_RANGE_IDX(op0, op1, crn, crm, op2) \
        ({ __u64 __op1 = (op1) & 3; __op1 -= (__op1 == 3); (__op1 << 6 | ((crm) & 7) << 3 | (op2)); })
    #define KVM_ARM_FEATURE_ID_RANGE 0
    #define KVM_ARM_FEATURE_ID_RANGE_SIZE (3 * 8 * 8)
    struct reg_mask_range { __u64 addr; __u32 range; __u32 reserved[13]; };
    #define KVM_ARM_GET_REG_WRITABLE_MASKS _IOR(KVMIO, 0xb6, struct reg_mask_range)
    int main(void)
    {
        printf("%lx %lx %lx\n", (unsigned long)KVM_GET_ONE_REG,
               (unsigned long)KVM_ARM_GET_REG_WRITABLE_MASKS, (unsigned long)KVM_GET_REG_LIST);
        printf("%zu %zu %zu %zu\n", sizeof(struct kvm_one_reg), offsetof(struct kvm_one_reg, addr),
               sizeof(struct reg_mask_range), offsetof(struct reg_mask_range, range));
        printf("%d %d\n", KVM_ARM_FEATURE_ID_RANGE, KVM_ARM_FEATURE_ID_RANGE_SIZE);
        for (int op1 = 0; op1 < 4; op1 += 1 + (op1 == 1))
            for (int crm = 0; crm < 8; crm++)
                for (int op2 = 0; op2 < 8; op2++)
                    printf("%d %d %d %llu\n", op1, crm, op2,
                           (unsigned long long)KVM_ARM_FEATURE_ID_RANGE_IDX(3, op1, 0, crm, op2));
        return 0;
    }
""")


def test_ioctl_numbers_and_structs_match_the_uapi_compiled(tmp_path):
    """The numbers the collector uses are what the kernel's own definitions
    give: compiled by gcc with the system's <linux/ioctl.h> and <linux/kvm.h>
    (the _IOC encoding and kvm_one_reg are the same on x86-64 and arm64)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    (tmp_path / "uapi.c").write_text(UAPI_C)
    proc = subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Werror", "-o", str(tmp_path / "uapi"),
                           str(tmp_path / "uapi.c")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(tmp_path / "uapi")], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert [int(x, 16) for x in out[0].split()] == [c.KVM_GET_ONE_REG,
                                                    c.KVM_ARM_GET_REG_WRITABLE_MASKS,
                                                    c.KVM_GET_REG_LIST]
    assert [int(x) for x in out[1].split()] == [c.ONE_REG.size, 8, c.REG_MASK_RANGE.size, 8]
    assert [int(x) for x in out[2].split()] == [c.FEATURE_ID_RANGE, c.FEATURE_ID_RANGE_SIZE]
    rows = [tuple(map(int, line.split())) for line in out[3:]]
    assert len(rows) == 192
    for op1, crm, op2, slot in rows:
        index = 0x6030000000130000 | 3 << 14 | op1 << 11 | crm << 3 | op2
        assert c.feature_id_slot(index) == slot


def test_struct_packing_puts_the_address_first():
    one = c.ONE_REG.pack(MMFR3, 0x1122334455667788)
    assert one[:8] == MMFR3.to_bytes(8, "little") and one[8:] == (0x1122334455667788).to_bytes(8, "little")
    rng = c.REG_MASK_RANGE.pack(0xAABB, 0, *[0] * 13)
    assert len(rng) == 64 and rng[:8] == (0xAABB).to_bytes(8, "little") and rng[8:] == bytes(56)


HEAD = dict(kernel="6.17.13+deb13-arm64", host="qemu11.1-max (QEMU 11.1.3 TCG -cpu max)",
            cpu="MIDR 0x00000000000f0510", features=["psci-0.2", "pmu-v3"],
            extra={"debian-package": "linux-image-6.17.13+deb13-arm64 6.17.13-1 (x)",
                   "qemu": "11.1.3", "qemu-cpu": "max", "collected-by": "compat lab collect"})


def test_format_idregs():
    rows = [(MMFR3, 0x111, 0xF0FFF), (PFR0, 1, 0)]
    text = c.format_idregs(rows, masks_note="yes (x)", **HEAD)
    lines = text.splitlines()
    assert lines[0] == "# format: compat-idregs 1"
    assert [l.split(":")[0] for l in lines[1:12]] == [
        "# kernel", "# host", "# cpu", "# vcpu-features", "# debian-package", "# qemu",
        "# qemu-cpu", "# collected-by", "# writable-masks", "# entries", "0x603000000013c020 0x0000000000000001 0x0000000000000000"]
    assert lines[9:] == ["# writable-masks: yes (x)", "# entries: 2",
                         "0x603000000013c020 0x0000000000000001 0x0000000000000000",
                         "0x603000000013c03b 0x0000000000000111 0x00000000000f0fff"]
    assert text == c.format_idregs(list(reversed(rows)), masks_note="yes (x)", **HEAD)
    no = c.format_idregs([(MMFR3, 0x101, None)], masks_note="no (old)", **HEAD)
    assert no.endswith("# entries: 1\n0x603000000013c03b 0x0000000000000101 -\n")


def test_format_idregs_header_values_stay_on_their_line():
    text = c.format_idregs([(MMFR3, 1, None)], masks_note="no (a\nb)",
                           **{**HEAD, "kernel": "6.17\n0x603000000013c020 0x0 0x0"})
    assert len([l for l in text.splitlines() if not l.startswith("#")]) == 1


@pytest.mark.parametrize("rows, message", [
    ([(MMFR3, 1, None), (MMFR3, 2, None)], "given twice"),
    ([(MMFR3, 1, None), (PFR0, 1, 5)], "some ID registers but not all"),
    ([(0x603000000013C103, 1, None)], "not a feature ID register"),
    ([(MMFR3, 1 << 64, None)], "not a 64-bit number"),
    ([(MMFR3, 1, -1)], "not a 64-bit number"),
])
def test_format_idregs_refuses_bad_rows(rows, message):
    with pytest.raises(ValueError, match=message):
        c.format_idregs(rows, masks_note="x", **HEAD)


def test_guest_main_prints_the_id_registers_before_the_list(monkeypatch, capsys):
    ids = c.IdRegs({MMFR3: 0x111}, {MMFR3: 0xF0}, "yes (x)")
    monkeypatch.setattr(c, "collect_idregs", lambda *a, **k: (LISTED, ["psci-0.2"], 5, ids))
    assert c.guest_main(["--guest", "--features", "psci", "--idregs"]) == 0
    out = capsys.readouterr().out
    assert out.index(c.ID_BEGIN) < out.index(f"{c.ID_END} 1 ===") < out.index(c.BEGIN)
    assert "# writable-masks: yes (x)\n0x603000000013c03b 0x0000000000000111 0x00000000000000f0\n" in out


# -- the lab's side: reading the console ------------------------------------------------------

def _console(rows_text: str, count: int, note="yes (x)") -> str:
    return (f"boot noise\r\n{c.ID_BEGIN}\r\n# writable-masks: {note}\r\n{rows_text}"
            f"{c.ID_END} {count} ===\r\n{c.BEGIN}\r\n")


def test_lab_reads_the_id_registers_from_the_console():
    from compat.lab.collect import parse_idregs
    text = _console("0x603000000013c03b 0x0000000000000111 -\r\n", 1, "no (old)")
    note, rows = parse_idregs(text, where="linux x", tail="", indices=[MMFR3, 0x6030000000160000])
    assert note == "no (old)" and rows == [(MMFR3, 0x111, None)]


@pytest.mark.parametrize("console, indices, message", [
    ("no markers at all\n", [MMFR3], "printed no ID registers"),
    (_console("0x603000000013c03b 0x0000000000000111 -\r\n", 2), [MMFR3], "incomplete"),
    (f"{c.ID_BEGIN}\n0x603000000013c03b 0x0000000000000111 -\n", [MMFR3], "incomplete"),
    (_console("0x603000000013c03b 0x0000000000000111 -\r\n", 1), [MMFR3, PFR0],
     "not the listed ones"),
])
def test_lab_refuses_a_bad_id_register_block(console, indices, message):
    from compat.core.diagnostics import CompatError
    from compat.lab.collect import parse_idregs
    with pytest.raises(CompatError) as info:
        parse_idregs(console, where="linux x", tail="", indices=indices)
    assert message in str(info.value)


@pytest.mark.parametrize("idregs", [True, False])
def test_lab_collect_one_writes_the_idregs_beside_the_list(tmp_path, monkeypatch, idregs):
    """``collect_one`` with a console as the guest prints it: both files, the
    same provenance headers; ``idregs=False`` (``--no-idregs``) the list only."""
    from compat.analysis.reglist import read_reglist
    from compat.lab import boot as boot_mod
    from compat.lab import collect as lab_collect
    from compat.lab.hostqemu import HostQemu
    from compat.lab.kernels import Kernel
    ids = c.IdRegs({MMFR3: 0x111, PFR0: 0x1, CTR: 0x2}, None, "no (before 6.8)")
    listing = c.format_list(LISTED, kernel="6.17.13+deb13-arm64", host="guest",
                            cpu="MIDR 0x1", features=["psci-0.2"])
    console = (_console("".join(f"0x{i:016x} 0x{v:016x} -\r\n" for i, v, _ in ids.rows()), 3,
                        ids.masks_note).replace(c.BEGIN + "\r\n", "")
               + f"{c.BEGIN}\r\n{listing}{c.END} {len(LISTED)} ===\r\n")
    monkeypatch.setattr(boot_mod, "boot", lambda *a, **k: boot_mod.BootResult(console, 1.0, 0, False))
    kernel = Kernel("6.17.13+deb13", "linux-image-6.17.13+deb13-arm64", "6.17.13-1",
                    "trixie-backports")
    host = HostQemu("/bin/qemu", "11.1.3 (Debian x)", headers={"qemu-package": "p"})
    done = lab_collect.collect_one(kernel, tmp_path / "vmlinuz", tmp_path / "initrd", tmp_path,
                                   host=host, cpu="max", name="qemu11.1-max", timeout=10,
                                   idregs=idregs)
    reglist = tmp_path / "qemu11.1-max-linux-6.17.13+deb13.reglist"
    assert done.path == reglist and list(read_reglist(reglist).indices) == LISTED
    idfile = tmp_path / "qemu11.1-max-linux-6.17.13+deb13.idregs"
    assert (done.idregs == idfile) is idregs and idfile.exists() is idregs
    if idregs:
        text = idfile.read_text()
        head = [l for l in reglist.read_text().splitlines() if l.startswith("# ")][:-1]
        id_head = text.splitlines()
        assert id_head[0] == "# format: compat-idregs 1"
        assert id_head[1:len(head) + 1] == head   # kernel .. collected-by, as in the list
        assert id_head[len(head) + 1:] == [
            "# writable-masks: no (before 6.8)", "# entries: 3",
            "0x603000000013c020 0x0000000000000001 -", "0x603000000013c03b 0x0000000000000111 -",
            "0x603000000013d801 0x0000000000000002 -"]


@pytest.mark.lab
@pytest.mark.slow
def test_real_kernel_idregs_equal_the_checked_in_ones(tmp_path):
    """One real boot (Linux 6.17 on the QEMU 11.1 host, ~40-70 s): the ID
    register lines equal the checked-in ``.idregs``."""
    import sys
    from pathlib import Path
    missing = [t for t in ("apt-get", "dpkg", "cpio", "unshare") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
    root = Path(__file__).resolve().parents[1]
    name = "qemu11.1-max-linux-6.17.13+deb13.idregs"
    proc = subprocess.run([sys.executable, "-m", "compat", "lab", "collect", "--qemu-suite",
                           "trixie-backports", "-j", "1", "-o", str(tmp_path), "6.17.13+deb13"],
                          cwd=root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr

    def rows(p):
        return [l for l in p.read_text().splitlines() if not l.startswith("#")]
    assert rows(tmp_path / name) == rows(root / "tests" / "data" / "real" / name)
