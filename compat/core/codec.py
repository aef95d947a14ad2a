"""The KVM register index codec.

A KVM ``ONE_REG`` index is a 64-bit number (``include/uapi/linux/kvm.h``,
``arch/arm64/include/uapi/asm/kvm.h``)::

    63..56 architecture   0x60 ARM64, 0x40 ARM (AArch32 ids, as QEMU uses them)
    55..52 size           log2 of the size in bytes (2 = U32, 3 = U64, ...)
    27..16 group          the "coprocessor" (0x13 SYSREG, 0x14 FW, ...)
    15..0  fields         group-specific

:func:`decode` turns an index into a :class:`Decoded` record and never fails
on a well-formed 64-bit number (unknown groups decode as ``unknown``);
:func:`encode_fields` is its inverse, and :func:`parse_expr` accepts the C
macro expressions kernel selftests and QEMU use.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from compat.core.sysreg_names import demux_name
from compat.core.sysreg_names import names as known_names


class CodecError(ValueError):
    """An index or expression that cannot be decoded or encoded."""


U64_MAX = (1 << 64) - 1

ARCH_SHIFT = 56
ARCH_NAMES = {0x60: "arm64", 0x40: "arm"}
ARCH_CODES = {name: code for code, name in ARCH_NAMES.items()}

SIZE_SHIFT = 52
SIZE_MASK = 0xF
GROUP_SHIFT = 16
GROUP_MASK = 0xFFF

#: Bit 29 of an AArch32 id: QEMU's non-secure flag (not a KVM field).
AA32_NS_BIT = 1 << 29
#: Bit 15 of QEMU's internal AArch32 cpreg id: 64-bit register.  QEMU's
#: cpreg_to_kvm_id() clears it and says U64 in the size field instead, so
#: an index with it set is not one QEMU uses.
AA32_IS64_BIT = 1 << 15

#: What a C expression may name.
MACROS: dict[str, int] = {
    "KVM_REG_ARM64": 0x6000000000000000,
    "KVM_REG_ARM": 0x4000000000000000,
    "KVM_REG_SIZE_U8": 0 << SIZE_SHIFT,
    "KVM_REG_SIZE_U16": 1 << SIZE_SHIFT,
    "KVM_REG_SIZE_U32": 2 << SIZE_SHIFT,
    "KVM_REG_SIZE_U64": 3 << SIZE_SHIFT,
    "KVM_REG_SIZE_U128": 4 << SIZE_SHIFT,
    "KVM_REG_SIZE_U256": 5 << SIZE_SHIFT,
    "KVM_REG_SIZE_U512": 6 << SIZE_SHIFT,
    "KVM_REG_SIZE_U1024": 7 << SIZE_SHIFT,
    "KVM_REG_SIZE_U2048": 8 << SIZE_SHIFT,
    "KVM_REG_ARM_DEMUX_ID_CCSIDR": 0,
    "KVM_REG_ARM64_SVE_VLS": 0x606000000015FFFF,
}

SVE_PREG_BASE = 0x400
SVE_FFR_BASE = SVE_PREG_BASE | (16 << 5)
SVE_VLS_LOW = 0xFFFF

# struct kvm_regs, in 32-bit words (KVM_REG_ARM_CORE_REG(name)).
_CORE_LAYOUT: list[tuple[str, int, int]] = (
    [(f"regs.regs[{n}]", 2 * n, 64) for n in range(31)]
    + [("regs.sp", 62, 64), ("regs.pc", 64, 64), ("regs.pstate", 66, 64),
       ("sp_el1", 68, 64), ("elr_el1", 70, 64)]
    + [(f"spsr[{n}]", 72 + 2 * n, 64) for n in range(5)]
    + [(f"fp_regs.vregs[{n}]", 84 + 4 * n, 128) for n in range(32)]
    + [("fp_regs.fpsr", 212, 32), ("fp_regs.fpcr", 213, 32)]
)
CORE_OFFSETS: dict[str, tuple[int, int]] = {name: (off, size) for name, off, size in _CORE_LAYOUT}
CORE_NAMES: dict[int, str] = {off: name for name, off, _ in _CORE_LAYOUT}


@dataclass(frozen=True)
class Decoded:
    """One register index, split into its fields."""

    index: int
    arch: str
    size: int                      # bits
    group: str
    group_number: int
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        """The architectural or KVM name, where the built-in tables know it."""
        group = GROUPS.get(self.group)
        return group.known_name(self) if group else None

    @property
    def qemu_name(self) -> str:
        """The name in QEMU's style (``op0:3 op1:0 crn:2 crm:0 op2:3``)."""
        group = GROUPS.get(self.group)
        if group is None:
            return f"unknown group {self.group_number:#x} reg {self.fields['raw'] & 0xffff:#x}"
        return group.qemu_name(self)

    @property
    def macro(self) -> str:
        """A C expression that evaluates to the index."""
        group = GROUPS.get(self.group)
        return (group.macro(self) if group else None) or format_index(self.index)

    def encoding(self) -> str:
        """The fields as ``key=value`` text, in encoding order."""
        return " ".join(f"{k}={_field_text(v)}" for k, v in self.fields.items())

    def in_cpreg_list(self) -> bool:
        """Whether QEMU migrates this register in the cpreg list.

        QEMU leaves out core and SVE registers (they travel in other
        vmstate sections) and anything that is not 32 or 64 bits wide.
        """
        group = GROUPS.get(self.group)
        return self.size in (32, 64) and (group is None or group.in_cpreg_list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "index": format_index(self.index),
            "arch": self.arch,
            "size": self.size,
            "group": self.group,
            "fields": dict(self.fields),
            "qemu_name": self.qemu_name,
            "known_name": self.name,
            "macro": self.macro,
            "in_cpreg_list": self.in_cpreg_list(),
        }


def _field_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value > 9:
        return hex(value)
    return str(value)


def format_index(index: int) -> str:
    """``0x%016x``, the form QEMU prints and compat tables use."""
    return f"0x{index:016x}"


#: C's integer literal grammar (C11 6.4.4.1), ASCII only: hex, octal or
#: decimal digits, then an optional unsigned and/or long / long long suffix.
_C_INTEGER = re.compile(
    r"(?:0[xX](?P<hex>[0-9a-fA-F]+)|(?P<oct>0[0-7]*)|(?P<dec>[1-9][0-9]*))"
    r"(?:[uU](?:ll|LL|[lL])?|(?:ll|LL|[lL])[uU]?)?", re.ASCII)


#: The longest literal c_number reads (a 64-bit value in octal with its
#: suffix and some leading zeros is far shorter).
_MAX_LITERAL = 100


def c_number(text: str) -> int:
    """A C integer literal: ``0x`` hex, leading ``0`` octal, else decimal,
    with C's ``U``/``L``/``LL`` suffixes.  The one number parser of compat:
    register indices, registry values and command arguments all read it,
    the way QEMU reads a property with base 0."""
    if len(text) > _MAX_LITERAL:   # before int(): Python refuses 4,300+ digits
        raise CodecError(f"'{text[:24]}...' is {len(text)} characters long, too long for "
                         "a C integer literal of at most 64 bits")
    match = _C_INTEGER.fullmatch(text.strip())
    if match is None:
        raise CodecError(f"'{text}' is not a C integer literal (hex 0x..., octal 0..., "
                         "or decimal)")
    if match["hex"] is not None:
        return int(match["hex"], 16)
    if match["oct"] is not None:
        return int(match["oct"], 8)
    return int(match["dec"], 10)


def parse_index(text: str) -> int:
    """A 64-bit index written as a C integer literal (``0x603000000013c103``)."""
    try:
        value = c_number(text)
    except CodecError:
        raise CodecError(f"'{text}' is not a number; write a 64-bit index such as "
                         "0x603000000013c103") from None
    if not 0 <= value <= U64_MAX:
        raise CodecError(f"'{text}' does not fit in 64 bits")
    return value


def decode(index: int) -> Decoded:
    """Split *index* into its fields.  Unknown architectures and groups are
    decoded as ``unknown``; only a number outside 64 bits is an error."""
    if not 0 <= index <= U64_MAX:
        raise CodecError(f"{index:#x} does not fit in 64 bits")
    arch_code = index >> ARCH_SHIFT
    arch = ARCH_NAMES.get(arch_code, f"unknown-{arch_code:#04x}")
    size = 8 << ((index >> SIZE_SHIFT) & SIZE_MASK)
    group_number = (index >> GROUP_SHIFT) & GROUP_MASK
    group = _GROUP_BY_CODE.get((arch, group_number))
    fields = group.split(index, size) if group is not None else None
    if group is None or fields is None:  # no group, or bits the group never uses
        return Decoded(index=index, arch=arch, size=size, group="unknown",
                       group_number=group_number,
                       fields={"raw": index & 0x000F_FFFF_FFFF_FFFF & ~(SIZE_MASK << SIZE_SHIFT)})
    return Decoded(index=index, arch=arch, size=size, group=group.name,
                   group_number=group_number, fields=fields)


def index_problem(index: int) -> str | None:
    """Why ``index`` is not a KVM register index compat knows (architecture,
    group, or a size or bits its group never uses), else ``None``."""
    decoded = decode(index)
    if decoded.group != "unknown":
        return None
    arch_code = index >> ARCH_SHIFT
    if arch_code not in ARCH_NAMES:
        return (f"architecture {arch_code:#04x} (bits 63..56) is neither arm64 (0x60) "
                "nor arm (0x40)")
    group = _GROUP_BY_CODE.get((decoded.arch, decoded.group_number))
    if group is None:
        known = ", ".join(f"{g.code:#x} {g.name}" for g in GROUPS.values()
                          if g.arch == decoded.arch)
        return (f"group {decoded.group_number:#x} (bits 27..16) is not a KVM {decoded.arch} "
                f"register group ({known})")
    if group.sizes is not None and decoded.size not in group.sizes:
        return (f"{group.name} registers are never {decoded.size}-bit in KVM "
                f"(size field, bits 55..52)")
    return f"it sets bits that {group.name} register indices never use"


def _need(fields: Mapping[str, Any], group: str, names: tuple[str, ...],
          limits: tuple[int, ...]) -> list[int]:
    values = []
    for name, limit in zip(names, limits):
        if name not in fields:
            raise CodecError(f"{group} encoding needs '{name}'")
        value = fields[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
            raise CodecError(f"{group} field {name} = {value!r} is out of range 0..{limit}")
        values.append(value)
    # every name was found, so only more fields than names can be unknown
    unknown = sorted(set(fields) - set(names)) if len(fields) > len(names) else ()
    if unknown:
        raise CodecError(f"{group} encoding has no field '{unknown[0]}' "
                         f"(fields: {', '.join(names)})")
    return values


def _size_code(bits: int) -> int:
    for code in range(16):
        if 8 << code == bits:
            return code
    raise CodecError(f"size {bits} is not a KVM register size")


@functools.cache  # a handful of (arch, group, size) triples, asked once per register
def _base(arch: str, group_number: int, bits: int) -> int:
    return (ARCH_CODES[arch] << ARCH_SHIFT) | (_size_code(bits) << SIZE_SHIFT) \
        | (group_number << GROUP_SHIFT)


def sysreg(op0: int, op1: int, crn: int, crm: int, op2: int) -> int:
    """``ARM64_SYS_REG(op0, op1, crn, crm, op2)``."""
    return encode_fields("sysreg", op0=op0, op1=op1, crn=crn, crm=crm, op2=op2)


def fw_reg(number: int) -> int:
    """``KVM_REG_ARM_FW_REG(number)``."""
    return encode_fields("fw", number=number)


def fw_feat_bmap_reg(number: int) -> int:
    """``KVM_REG_ARM_FW_FEAT_BMAP_REG(number)``."""
    return encode_fields("fw-feat-bmap", number=number)


def encode_fields(group: str, **fields: Any) -> int:
    """The index of a register given as a group and its fields.

    The size follows from the group (system and firmware registers are U64,
    AArch32 ones U32 unless ``is64``); ``core`` takes ``offset`` and an
    optional ``size`` in bits (default 64).  ``unknown`` takes ``arch``,
    ``size``, ``group_number`` and ``raw`` to re-encode what :func:`decode`
    could not name.
    """
    if group == "unknown":
        return _encode_unknown(fields)
    if group not in GROUPS:
        raise CodecError(f"unknown group '{group}' (known: {', '.join(sorted(GROUPS))})")
    return GROUPS[group].join(dict(fields))


def _encode_unknown(f: Mapping[str, Any]) -> int:
    arch = f.get("arch", "arm64")
    if arch in ARCH_CODES:
        arch_code = ARCH_CODES[arch]
    else:
        match = re.fullmatch(r"unknown-0x([0-9a-f]{2})", str(arch))
        if not match:
            raise CodecError(f"unknown architecture {arch!r}")
        arch_code = int(match.group(1), 16)
    raw = f.get("raw", 0)
    if not isinstance(raw, int) or raw < 0 or raw >> 52 \
            or raw & (SIZE_MASK << SIZE_SHIFT):
        raise CodecError(f"raw bits {raw!r} out of range")
    return (arch_code << ARCH_SHIFT) | (_size_code(f.get("size", 64)) << SIZE_SHIFT) | raw


# --- The group table ---------------------------------------------------------
#
# One entry per KVM register group: how its bits become fields and back, how
# QEMU and the kernel's headers name its registers.  A new group (a future
# 0x17 for SME, say) is one more entry here, plus its tests; decode, encode,
# names, macros, the cpreg-list rule and the registry's size check all read
# this table.


class Group:
    """One group of register indices.  Subclasses say how its fields are
    laid out; the attributes say where it lives and how it is named."""

    name: str = ""
    arch: str = "arm64"
    code: int = 0
    constant: str | None = None     # the uapi macro for the group bits
    sizes: frozenset[int] | None = frozenset({64})   # sizes KVM uses (None: any)
    sized: bool = False             # whether `encoding` names the size
    in_cpreg_list: bool = True      # QEMU migrates it in the cpreg list

    def split(self, index: int, size: int) -> dict[str, Any] | None:
        """The fields of ``index``, or ``None`` if the bits are not this group's."""
        if self.sizes is not None and size not in self.sizes:
            return None
        if index & 0x000F_FFFF_F000_0000:   # bits no group defines
            return None
        return self.fields_of(index & 0xFFFF, size)

    def fields_of(self, low: int, size: int) -> dict[str, Any] | None:
        raise NotImplementedError

    def join(self, fields: dict[str, Any]) -> int:
        """The index of the register with ``fields`` (``CodecError`` if bad)."""
        raise NotImplementedError

    def base(self, bits: int) -> int:
        return _base(self.arch, self.code, bits)

    def qemu_name(self, d: Decoded) -> str:
        raise NotImplementedError

    def known_name(self, d: Decoded) -> str | None:
        return None

    def macro(self, d: Decoded) -> str | None:
        return None


class _Sysreg(Group):
    name, code, constant = "sysreg", 0x13, "KVM_REG_ARM64_SYSREG"
    FIELDS = ("op0", "op1", "crn", "crm", "op2")

    def fields_of(self, low, size):
        return {"op0": low >> 14, "op1": (low >> 11) & 7, "crn": (low >> 7) & 15,
                "crm": (low >> 3) & 15, "op2": low & 7}

    def join(self, f):
        op0, op1, crn, crm, op2 = _need(f, self.name, self.FIELDS, (3, 7, 15, 15, 7))
        return self.base(64) | op0 << 14 | op1 << 11 | crn << 7 | crm << 3 | op2

    def qemu_name(self, d):
        return "op0:{op0} op1:{op1} crn:{crn} crm:{crm} op2:{op2}".format(**d.fields)

    def known_name(self, d):
        return known_names().sysreg.get(tuple(d.fields[k] for k in self.FIELDS))

    def macro(self, d):
        return "ARM64_SYS_REG({op0}, {op1}, {crn}, {crm}, {op2})".format(**d.fields)


class _Firmware(Group):
    """Firmware pseudo-registers: a 16-bit register number."""

    def __init__(self, name, code, constant, label, call):
        self.name, self.code, self.constant = name, code, constant
        self.label, self.call = label, call

    def fields_of(self, low, size):
        return {"number": low}

    def join(self, f):
        (number,) = _need(f, self.name, ("number",), (0xFFFF,))
        return self.base(64) | number

    def qemu_name(self, d):
        return f"{self.label} {d.fields['number']}"

    def known_name(self, d):
        table = known_names()
        return (table.fw if self.name == "fw" else table.fw_feat_bmap).get(d.fields["number"])

    def macro(self, d):
        return f"{self.call}({d.fields['number']})"


class _Core(Group):
    name, code, constant = "core", 0x10, "KVM_REG_ARM_CORE"
    sizes, sized, in_cpreg_list = None, True, False

    def fields_of(self, low, size):
        return {"offset": low}

    def join(self, f):
        size = f.pop("size", 64)
        (offset,) = _need(f, self.name, ("offset",), (0xFFFF,))
        return self.base(size) | offset

    def qemu_name(self, d):
        return f"core reg {d.fields['offset']:#x}"

    def known_name(self, d):
        return CORE_NAMES.get(d.fields["offset"])

    def macro(self, d):
        name = CORE_NAMES.get(d.fields["offset"])
        if name is None or CORE_OFFSETS[name][1] != d.size:
            return None
        return (f"KVM_REG_ARM64 | KVM_REG_SIZE_U{d.size} | KVM_REG_ARM_CORE | "
                f"KVM_REG_ARM_CORE_REG({name})")


class _Demux(Group):
    name, code, constant = "demux", 0x11, "KVM_REG_ARM_DEMUX"
    sizes, sized = frozenset({32}), True

    def fields_of(self, low, size):
        return {"id": low >> 8, "value": low & 0xFF}

    def join(self, f):
        f.pop("size", None)
        ident, value = _need(f, self.name, ("id", "value"), (0xFF, 0xFF))
        return self.base(32) | ident << 8 | value

    def qemu_name(self, d):
        return f"demux id {d.fields['id']} val {d.fields['value']}"

    def known_name(self, d):
        return demux_name(d.fields["id"], d.fields["value"])


class _Sve(Group):
    name, code, constant = "sve", 0x15, "KVM_REG_ARM64_SVE"
    sizes, sized, in_cpreg_list = None, True, False

    def fields_of(self, low, size):
        if low == SVE_VLS_LOW:
            return {"kind": "vls"} if size == 512 else None
        if low < SVE_PREG_BASE:
            return {"kind": "zreg", "n": low >> 5, "slice": low & 31} if size == 2048 else None
        if size != 256:
            return None
        if low < SVE_FFR_BASE:
            return {"kind": "preg", "n": (low - SVE_PREG_BASE) >> 5, "slice": low & 31}
        if low < SVE_FFR_BASE + 32:
            return {"kind": "ffr", "slice": low & 31}
        return None

    def join(self, f):
        f.pop("size", None)
        kind = f.pop("kind", None)
        if kind == "vls":
            _need(f, "sve vls", (), ())
            return self.base(512) | SVE_VLS_LOW
        if kind == "zreg":
            n, part = _need(f, "sve zreg", ("n", "slice"), (31, 31))
            return self.base(2048) | n << 5 | part
        if kind == "preg":
            n, part = _need(f, "sve preg", ("n", "slice"), (15, 31))
            return self.base(256) | SVE_PREG_BASE | n << 5 | part
        if kind == "ffr":
            (part,) = _need(f, "sve ffr", ("slice",), (31,))
            return self.base(256) | SVE_FFR_BASE | part
        raise CodecError(f"sve encoding needs kind = zreg, preg, ffr or vls, not {kind!r}")

    def qemu_name(self, d):
        f = d.fields
        if f["kind"] == "vls":
            return "sve vls"
        if f["kind"] == "ffr":
            return f"sve ffr slice {f['slice']}"
        return f"sve {f['kind']} {f['n']} slice {f['slice']}"

    def macro(self, d):
        f = d.fields
        if f["kind"] == "vls":
            return "KVM_REG_ARM64_SVE_VLS"
        if f["kind"] == "ffr":
            return f"KVM_REG_ARM64_SVE_FFR({f['slice']})"
        return f"KVM_REG_ARM64_SVE_{f['kind'].upper()}({f['n']}, {f['slice']})"


class _Aarch32(Group):
    """QEMU's AArch32 coprocessor ids (TCG): 32- or 64-bit, with QEMU's
    non-secure flag in bit 29."""

    arch, sizes = "arm", frozenset({32, 64})

    def __init__(self, name, code):
        self.name, self.code = name, code

    def split(self, index, size):
        if size not in self.sizes or index & 0x000F_FFFF_F000_0000 & ~AA32_NS_BIT \
                or index & AA32_IS64_BIT:
            return None
        low = index & 0xFFFF
        return {"opc1": (low >> 3) & 15, "crn": (low >> 11) & 15, "crm": (low >> 7) & 15,
                "opc2": low & 7, "is64": size == 64, "ns": bool(index & AA32_NS_BIT)}

    def join(self, f):
        is64 = bool(f.pop("is64", False))
        ns = bool(f.pop("ns", False))
        f.setdefault("crn", 0)
        f.setdefault("opc2", 0)
        opc1, crn, crm, opc2 = _need(f, self.name, ("opc1", "crn", "crm", "opc2"),
                                     (15, 15, 15, 7))
        return (self.base(64 if is64 else 32) | (AA32_NS_BIT if ns else 0)
                | crn << 11 | crm << 7 | opc1 << 3 | opc2)

    def qemu_name(self, d):
        f = d.fields
        text = "{g} opc1:{opc1} crn:{crn} crm:{crm} opc2:{opc2}".format(g=self.name, **f)
        return text + (" 64-bit" if f["is64"] else "") + (" ns" if f["ns"] else "")


#: Every group compat knows, by name.
GROUPS: dict[str, Group] = {g.name: g for g in (
    _Core(),
    _Demux(),
    _Sysreg(),
    _Firmware("fw", 0x14, "KVM_REG_ARM_FW", "fw reg", "KVM_REG_ARM_FW_REG"),
    _Sve(),
    _Firmware("fw-feat-bmap", 0x16, "KVM_REG_ARM_FW_FEAT_BMAP", "fw feat reg",
              "KVM_REG_ARM_FW_FEAT_BMAP_REG"),
    _Aarch32("cp14", 0x0E),
    _Aarch32("cp15", 0x0F),
)}
_GROUP_BY_CODE = {(g.arch, g.code): g for g in GROUPS.values()}
MACROS.update({g.constant: g.code << GROUP_SHIFT for g in GROUPS.values() if g.constant})


def reencode(decoded: Decoded) -> int:
    """The index of a decoded register, computed from its fields."""
    fields = dict(decoded.fields)
    if decoded.group == "unknown":
        fields.update(arch=decoded.arch, size=decoded.size)
    elif GROUPS[decoded.group].sized:
        fields["size"] = decoded.size
    return encode_fields(decoded.group, **fields)


def parse_expr(text: str, names: Mapping[str, int] | None = None) -> int:
    """Evaluate a register expression (a plain index, ``ARM64_SYS_REG(...)``,
    the uapi macros, an architectural name or a name from ``names``); the
    expression language is :mod:`compat.core.cexpr`."""
    from compat.core.cexpr import parse_expr as evaluate
    return evaluate(text, names)
