"""Collect a vCPU's register list from KVM: ``KVM_GET_REG_LIST``.

Standard library only, and importing nothing from compat: this same file
backs ``compat collect`` on a real arm64 host and is copied into the lab's
initramfs, where ``python3.11 collector.py --guest ...`` runs it inside the
guest kernel.

Numbers checked against the uapi headers of Debian's ``linux-libc-dev``
7.3.4-1~bpo13+1 (``usr/include/linux/kvm.h``,
``usr/include/aarch64-linux-gnu/asm/kvm.h``), by compiling a program that
prints the macros: KVM_GET_API_VERSION 0xae00, KVM_CREATE_VM 0xae01,
KVM_CHECK_EXTENSION 0xae03, KVM_CREATE_VCPU 0xae41, KVM_ARM_VCPU_INIT
0x4020aeae, KVM_ARM_PREFERRED_TARGET 0x8020aeaf, KVM_GET_REG_LIST 0xc008aeb0,
KVM_ARM_VCPU_FINALIZE 0x4004aec2; capabilities KVM_CAP_ARM_EL1_32BIT 93,
KVM_CAP_ARM_PSCI_0_2 102, KVM_CAP_ARM_PMU_V3 126, KVM_CAP_ARM_SVE 170,
KVM_CAP_ARM_PTRAUTH_ADDRESS 171, KVM_CAP_ARM_PTRAUTH_GENERIC 172,
KVM_CAP_ARM_EL2 240; ``struct kvm_vcpu_init`` is ``__u32 target; __u32
features[7]`` and feature bits are POWER_OFF 0, EL1_32BIT 1, PSCI_0_2 2,
PMU_V3 3, SVE 4, PTRAUTH_ADDRESS 5, PTRAUTH_GENERIC 6, HAS_EL2 7.

The vCPU gets the features QEMU's ``-cpu host`` would give it: PSCI 0.2, and
PMU v3, SVE (then ``KVM_ARM_VCPU_FINALIZE``) and pointer authentication each
when KVM says it can (and the caller did not turn it off); EL2 (nested
virtualization) only on request.

With ``--idregs`` (what ``compat lab collect`` asks for) the guest also
reads the feature ID registers: the value of every listed register of the
feature ID space (op0 3, op1 0/1/3, CRn 0, CRm 0-7, any op2) with
``KVM_GET_ONE_REG`` (``_IOW(KVMIO, 0xab, struct kvm_one_reg)`` = 0x4010aeab,
``struct kvm_one_reg`` = ``__u64 id; __u64 addr``) and, where the VM
capability ``KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES`` (230, Linux 6.8) has
bit ``KVM_ARM_FEATURE_ID_RANGE`` (0), the writable masks with the VM ioctl
``KVM_ARM_GET_REG_WRITABLE_MASKS`` (``_IOR(KVMIO, 0xb6, struct
reg_mask_range)`` = 0x8040aeb6; ``struct reg_mask_range`` = ``__u64 addr;
__u32 range; __u32 reserved[13]``, 64 bytes), which fills 3 * 8 * 8 u64
masks indexed by ``KVM_ARM_FEATURE_ID_RANGE_IDX`` (op1 3 counts as 2, then
``op1 << 6 | CRm << 3 | op2``).  Both ioctls take a user address, which the
standard library's ``array`` module gives (``buffer_info``) without ctypes,
which the guest's minimal Python lacks.
"""

from __future__ import annotations

import array
import errno
import os
import platform
import re
import struct
import sys

KVM_GET_API_VERSION = 0xAE00
KVM_API_VERSION = 12
KVM_CREATE_VM = 0xAE01
KVM_CHECK_EXTENSION = 0xAE03
KVM_CREATE_VCPU = 0xAE41
KVM_ARM_VCPU_INIT = 0x4020AEAE
KVM_ARM_PREFERRED_TARGET = 0x8020AEAF
KVM_GET_REG_LIST = 0xC008AEB0
KVM_ARM_VCPU_FINALIZE = 0x4004AEC2
KVM_GET_ONE_REG = 0x4010AEAB
KVM_ARM_GET_REG_WRITABLE_MASKS = 0x8040AEB6

CAP_PSCI_0_2 = 102
CAP_PMU_V3 = 126
CAP_SVE = 170
CAP_PTRAUTH_ADDRESS = 171
CAP_PTRAUTH_GENERIC = 172
CAP_EL2 = 240
CAP_REG_MASK_RANGES = 230
FEATURE_ID_RANGE = 0
FEATURE_ID_RANGE_SIZE = 3 * 8 * 8
ONE_REG = struct.Struct("<QQ")
REG_MASK_RANGE = struct.Struct("<QI13I")

#: feature name -> (bit in features[0], capabilities it needs)
FEATURES = {
    "psci-0.2": (2, (CAP_PSCI_0_2,)),
    "pmu-v3": (3, (CAP_PMU_V3,)),
    "sve": (4, (CAP_SVE,)),
    "ptrauth": (None, (CAP_PTRAUTH_ADDRESS, CAP_PTRAUTH_GENERIC)),   # bits 5 and 6
    "el2": (7, (CAP_EL2,)),
}
ORDER = ("psci-0.2", "pmu-v3", "sve", "ptrauth", "el2")
#: what ``-cpu host`` turns on when KVM can; el2 only when asked
HOST_DEFAULT = ("psci-0.2", "pmu-v3", "sve", "ptrauth")
VCPU_INIT = struct.Struct("<I7I")
BEGIN = "=== compat-reglist begin ==="
END = "=== compat-reglist end"
ID_BEGIN = "=== compat-idregs begin ==="
ID_END = "=== compat-idregs end"
ID_FORMAT = "compat-idregs 1"


class CollectError(Exception):
    """A reason the list cannot be collected; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class Ioctl:
    """The real device layer: ``os.open`` and ``fcntl.ioctl``.  Tests pass a
    fake with the same three methods."""

    def open(self, path: str) -> int:
        return os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))

    def ioctl(self, fd: int, request: int, arg=0):
        import fcntl
        if isinstance(arg, bytearray):
            fcntl.ioctl(fd, request, arg, True)
            return 0
        return fcntl.ioctl(fd, request, arg)

    def close(self, fd: int) -> None:
        os.close(fd)


def _features_word(names) -> int:
    word = 0
    for name in names:
        bit = FEATURES[name][0]
        word |= (1 << 5 | 1 << 6) if bit is None else 1 << bit
    return word


def parse_features(text: str) -> list[str]:
    """``psci-0.2,pmu-v3`` (or ``none``) -> feature names in canonical order."""
    names = [w.strip().lower() for w in text.split(",") if w.strip()]
    if names == ["none"]:
        return []
    aliases = {"psci": "psci-0.2", "pmu": "pmu-v3", "pauth": "ptrauth", "nested": "el2"}
    out = []
    for n in names:
        n = aliases.get(n, n)
        if n not in FEATURES:
            raise CollectError(f"unknown vCPU feature '{n}'",
                               "features: " + ", ".join(ORDER) + ", or none")
        out.append(n)
    return [n for n in ORDER if n in out]


def collect(want=None, *, required=(), dev: str = "/dev/kvm", layer=None) -> tuple[list[int], list[str], int]:
    """Create a VM and one vCPU and return ``(indices, features, target)``.

    ``want``: features to enable where KVM has the capability (default:
    :data:`HOST_DEFAULT`); ``required``: features whose capability must be
    there (an error otherwise)."""
    return _collect(want, required, dev, layer, False)[:3]


def collect_idregs(want=None, *, required=(), dev: str = "/dev/kvm",
                   layer=None) -> tuple[list[int], list[str], int, "IdRegs"]:
    """:func:`collect`, and the vCPU's feature ID registers (:class:`IdRegs`)
    read after ``KVM_ARM_VCPU_INIT``: ``(indices, features, target, idregs)``."""
    return _collect(want, required, dev, layer, True)


def _collect(want, required, dev, layer, idregs: bool):
    layer = layer or Ioctl()
    want = list(HOST_DEFAULT if want is None else want)
    for name in required:
        if name not in want:
            want.append(name)
    try:
        kvm = layer.open(dev)
    except FileNotFoundError:
        raise CollectError(f"{dev} does not exist",
                           "load KVM (modprobe kvm) or run this on the host itself: a guest "
                           "without nested virtualization has no /dev/kvm") from None
    except PermissionError:
        raise CollectError(f"permission denied opening {dev}",
                           "add yourself to the 'kvm' group (then log in again) or run as root") from None
    except OSError as exc:
        raise CollectError(f"cannot open {dev}: {exc.strerror or exc}") from None
    fds = [kvm]
    try:
        _check_api(layer, kvm, dev)

        def check(cap: int) -> bool:
            try:
                return layer.ioctl(kvm, KVM_CHECK_EXTENSION, cap) > 0
            except OSError as exc:
                if exc.errno == errno.ENOTTY:
                    raise _not_kvm(dev, "KVM_CHECK_EXTENSION", exc) from None
                return False

        enabled = []
        for name in [n for n in ORDER if n in want]:
            caps = FEATURES[name][1]
            if all(check(c) for c in caps):
                enabled.append(name)
            elif name in required:
                raise CollectError(f"this kernel's KVM lacks the capability for vCPU feature "
                                   f"'{name}' (KVM_CHECK_EXTENSION {', '.join(map(str, caps))} "
                                   "returned 0)", "turn the feature off, or use a kernel and "
                                   "host that support it")
        vm = _call(layer, kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM")
        fds.append(vm)
        init = bytearray(VCPU_INIT.size)
        _call(layer, vm, KVM_ARM_PREFERRED_TARGET, init, "KVM_ARM_PREFERRED_TARGET")
        target = VCPU_INIT.unpack(init)[0]
        vcpu = _call(layer, vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU")
        fds.append(vcpu)
        init = bytearray(VCPU_INIT.pack(target, _features_word(enabled), 0, 0, 0, 0, 0, 0))
        _call(layer, vcpu, KVM_ARM_VCPU_INIT, init, "KVM_ARM_VCPU_INIT",
              f"with features {','.join(enabled) or 'none'}")
        if "sve" in enabled:
            _call(layer, vcpu, KVM_ARM_VCPU_FINALIZE, bytearray(struct.pack("<i", 4)),
                  "KVM_ARM_VCPU_FINALIZE")
        indices = get_reg_list(layer, vcpu)
        ids = read_idregs(layer, kvm, vm, vcpu, indices) if idregs else None
        return indices, enabled, target, ids
    finally:
        for fd in reversed(fds):
            try:
                layer.close(fd)
            except OSError:
                pass


def _not_kvm(dev: str, name: str, exc: OSError) -> CollectError:
    return CollectError(f"{dev} is not a KVM device ({name}: {os.strerror(exc.errno)})",
                        "give the KVM device (/dev/kvm)")


def _check_api(layer, kvm: int, dev: str) -> None:
    """``KVM_GET_API_VERSION``: a device that does not know the ioctl (ENOTTY:
    ``/dev/null``, a regular file) is not KVM; KVM has answered 12 since 2.6.22."""
    try:
        api = layer.ioctl(kvm, KVM_GET_API_VERSION, 0)
    except OSError as exc:
        if exc.errno in (errno.ENOTTY, errno.EINVAL):
            raise _not_kvm(dev, "KVM_GET_API_VERSION", exc) from None
        raise CollectError(f"KVM_GET_API_VERSION on {dev} failed: "
                           f"{os.strerror(exc.errno) if exc.errno else exc}") from None
    if api != KVM_API_VERSION:
        raise CollectError(f"{dev} answers KVM API version {api}, not {KVM_API_VERSION}",
                           "give the KVM device (/dev/kvm)")


def _call(layer, fd: int, request: int, arg, name: str, what: str = ""):
    try:
        return layer.ioctl(fd, request, arg)
    except OSError as exc:
        raise CollectError(f"{name} failed{' ' + what if what else ''}: "
                           f"{os.strerror(exc.errno) if exc.errno else exc}") from None


def get_reg_list(layer, vcpu: int) -> list[int]:
    """``KVM_GET_REG_LIST``: n = 0 fails with E2BIG and writes the count back;
    then a buffer of that size.  Retried if the count grows in between."""
    n = 0
    for _ in range(4):
        buf = bytearray(struct.pack("<Q", n) + bytes(8 * n))
        try:
            layer.ioctl(vcpu, KVM_GET_REG_LIST, buf)
        except OSError as exc:
            if exc.errno != errno.E2BIG:
                raise CollectError(f"KVM_GET_REG_LIST failed: {os.strerror(exc.errno)}") from None
            count = struct.unpack_from("<Q", buf)[0]
            if count <= n or count > 1 << 20:
                raise CollectError(f"KVM_GET_REG_LIST answered E2BIG with an implausible "
                                   f"count {count}")
            n = count
            continue
        count = struct.unpack_from("<Q", buf)[0]
        if count > n:
            raise CollectError(f"KVM_GET_REG_LIST returned {count} entries for a buffer of {n}")
        return sorted(set(struct.unpack_from(f"<{count}Q", buf, 8)))
    raise CollectError("KVM_GET_REG_LIST kept answering E2BIG")


def is_feature_id(index: int) -> bool:
    """Whether ``index`` is a 64-bit KVM system register of the feature ID
    space: op0 3, op1 0, 1 or 3, CRn 0, CRm 0-7 (any op2)."""
    if index & ~0xFFFF != 0x6030000000130000:
        return False
    op0, op1, crn, crm = index >> 14 & 3, index >> 11 & 7, index >> 7 & 15, index >> 3 & 15
    return op0 == 3 and op1 in (0, 1, 3) and crn == 0 and crm <= 7


def feature_id_slot(index: int) -> int:
    """``KVM_ARM_FEATURE_ID_RANGE_IDX``: where a feature ID register's mask is
    in the array ``KVM_ARM_GET_REG_WRITABLE_MASKS`` fills (op1 3 counts as 2)."""
    op1 = index >> 11 & 3
    op1 -= op1 == 3
    return op1 << 6 | (index >> 3 & 7) << 3 | index & 7


class IdRegs:
    """The feature ID registers of one vCPU: ``values`` {index: value};
    ``masks`` {index: writable mask}, or None where the kernel cannot say
    (``masks_note`` says why, or which ioctl gave them)."""

    def __init__(self, values: dict, masks: dict | None, masks_note: str):
        self.values, self.masks, self.masks_note = values, masks, masks_note

    def rows(self) -> list[tuple[int, int, int | None]]:
        """``(index, value, mask or None)`` sorted by index."""
        return [(i, self.values[i], None if self.masks is None else self.masks[i])
                for i in sorted(self.values)]


def _u64_buffer(n: int) -> tuple[array.array, int]:
    buf = array.array("Q", bytes(8 * n))
    return buf, buf.buffer_info()[0]


def get_one_reg(layer, vcpu: int, index: int) -> int:
    """``KVM_GET_ONE_REG`` of a 64-bit register: KVM writes the value to the
    address in ``struct kvm_one_reg``."""
    buf, addr = _u64_buffer(1)
    arg = bytearray(ONE_REG.pack(index, addr))
    try:
        layer.ioctl(vcpu, KVM_GET_ONE_REG, arg)
    except OSError as exc:
        raise CollectError(f"KVM_GET_ONE_REG of 0x{index:016x} failed: "
                           f"{os.strerror(exc.errno) if exc.errno else exc}") from None
    return buf[0]


def writable_masks(layer, kvm: int, vm: int) -> tuple[list[int] | None, str]:
    """The feature ID range's writable masks (``KVM_ARM_GET_REG_WRITABLE_MASKS``
    on the VM), or None and the reason they are unknown."""
    try:
        ranges = layer.ioctl(kvm, KVM_CHECK_EXTENSION, CAP_REG_MASK_RANGES)
    except OSError:
        ranges = 0
    if not ranges & 1 << FEATURE_ID_RANGE:
        return None, ("no (KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES lacks the feature ID range: "
                      "KVM_ARM_GET_REG_WRITABLE_MASKS came with Linux 6.8)")
    buf, addr = _u64_buffer(FEATURE_ID_RANGE_SIZE)
    arg = bytearray(REG_MASK_RANGE.pack(addr, FEATURE_ID_RANGE, *[0] * 13))
    try:
        layer.ioctl(vm, KVM_ARM_GET_REG_WRITABLE_MASKS, arg)
    except OSError as exc:
        return None, (f"no (KVM_ARM_GET_REG_WRITABLE_MASKS failed: "
                      f"{os.strerror(exc.errno) if exc.errno else exc})")
    return list(buf), "yes (KVM_ARM_GET_REG_WRITABLE_MASKS, feature ID range)"


def read_idregs(layer, kvm: int, vm: int, vcpu: int, indices) -> IdRegs:
    """Value (and writable mask, where the kernel has them) of every listed
    register of the feature ID space."""
    values = {i: get_one_reg(layer, vcpu, i) for i in indices if is_feature_id(i)}
    masks, note = writable_masks(layer, kvm, vm)
    per_reg = None if masks is None else {i: masks[feature_id_slot(i)] for i in values}
    return IdRegs(values, per_reg, note)


def format_idregs(rows, *, kernel: str, host: str, cpu: str | None, features, masks_note: str,
                  extra: dict | None = None) -> str:
    """The ``.idregs`` text (format ``compat-idregs 1``): ``# format:`` first,
    the provenance headers of :func:`format_list`, ``# writable-masks:``,
    ``# entries:`` last, then ``INDEX VALUE MASK`` a line (``0x%016x`` each;
    MASK ``-`` where the kernel has no writable masks), sorted by index.
    ``rows``: ``(index, value, mask or None)``."""
    rows = sorted(rows)
    if len({r[0] for r in rows}) != len(rows):
        raise ValueError("an ID register is given twice")
    if len({r[2] is None for r in rows}) > 1:
        raise ValueError("writable masks for some ID registers but not all")
    for index, value, mask in rows:
        if not is_feature_id(index):
            raise ValueError(f"0x{index:016x} is not a feature ID register")
        if not 0 <= value < 1 << 64 or (mask is not None and not 0 <= mask < 1 << 64):
            raise ValueError(f"0x{index:016x}: value or mask is not a 64-bit number")
    fields = [("format", ID_FORMAT), ("kernel", kernel), ("host", host),
              ("cpu", cpu or "unknown"), ("vcpu-features", ",".join(features) or "none"),
              *(extra or {}).items(), ("writable-masks", masks_note), ("entries", len(rows))]
    lines = [f"# {header_value(k)}: {header_value(v)}" for k, v in fields]
    lines += [f"0x{i:016x} 0x{v:016x} " + ("-" if m is None else f"0x{m:016x}")
              for i, v, m in rows]
    return "\n".join(lines) + "\n"


def read_midr(path: str = "/sys/devices/system/cpu/cpu0/regs/identification/midr_el1") -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip() or None
    except OSError:
        return None


#: C0/C1 controls, DEL, line/paragraph separators and bidi controls: a header
#: value holding one could start a line of its own (a forged register line)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def header_value(value) -> str:
    """``value`` for a ``# key: value`` line: control characters escaped."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))


def format_list(indices, *, kernel: str, host: str, cpu: str | None, features,
                extra: dict | None = None) -> str:
    """The reglist text: headers, then one ``0x%016x`` index a line.  Every
    header key and value is written on its one line (:func:`header_value`)."""
    fields = [("kernel", kernel), ("host", host), ("cpu", cpu or "unknown"),
              ("vcpu-features", ",".join(features) or "none"), *(extra or {}).items(),
              ("entries", len(indices))]
    lines = [f"# {header_value(k)}: {header_value(v)}" for k, v in fields]
    lines += [f"0x{i:016x}" for i in indices]
    return "\n".join(lines) + "\n"


def check_arch() -> None:
    machine = platform.machine()
    if machine not in ("aarch64", "arm64"):
        raise CollectError(f"this is a {machine} machine; KVM_GET_REG_LIST for arm64 vCPUs "
                           "needs an arm64 host",
                           "run 'compat collect' on an arm64 host, or use 'compat lab collect' "
                           "to boot a Debian arm64 kernel under QEMU")


def guest_main(argv) -> int:
    """Inside the lab's guest: collect and print the list between markers on
    the console.  ``argv``: ``--features LIST`` (default: psci-0.2,pmu-v3);
    ``--idregs``: before the list, the feature ID registers between their own
    markers (``# writable-masks:`` then ``INDEX VALUE MASK`` lines), so that
    the list's end marker, where the lab stops the guest, still comes last."""
    features = ["psci-0.2", "pmu-v3"]
    if "--features" in argv:
        features = parse_features(argv[argv.index("--features") + 1])
    out = sys.stdout
    ids = None
    try:
        if "--idregs" in argv:
            indices, enabled, _, ids = collect_idregs(features, required=features)
        else:
            indices, enabled, _ = collect(features, required=features)
        cpu = read_midr()
        text = format_list(indices, kernel=platform.release(), host="guest",
                           cpu=f"MIDR {cpu}" if cpu else None, features=enabled)
    except CollectError as exc:
        out.write(f"\ncompat-collector: error: {exc.message}\n")
        if exc.hint:
            out.write(f"compat-collector: note: {exc.hint}\n")
        out.flush()
        return 1
    if ids is not None:
        rows = ids.rows()
        out.write("\n" + ID_BEGIN + f"\n# writable-masks: {header_value(ids.masks_note)}\n")
        out.write("".join(f"0x{i:016x} 0x{v:016x} " + ("-" if m is None else f"0x{m:016x}") + "\n"
                          for i, v, m in rows) + f"{ID_END} {len(rows)} ===\n")
    out.write("\n" + BEGIN + "\n" + text + f"{END} {len(indices)} ===\n")
    out.flush()
    return 0


if __name__ == "__main__":
    if "--guest" in sys.argv[1:]:
        sys.exit(guest_main(sys.argv[1:]))
    sys.stderr.write("usage: collector.py --guest [--features LIST] [--idregs] (or: compat collect)\n")
    sys.exit(2)
