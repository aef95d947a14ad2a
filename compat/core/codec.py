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

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from compat.core.sysreg_names import (FW_FEAT_BMAP_NAMES, FW_NAMES, SYSREG_BY_NAME,
                                       SYSREG_NAMES, demux_name)


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

#: group name -> (architecture, group number)
GROUPS: dict[str, tuple[str, int]] = {
    "core": ("arm64", 0x10),
    "demux": ("arm64", 0x11),
    "sysreg": ("arm64", 0x13),
    "fw": ("arm64", 0x14),
    "sve": ("arm64", 0x15),
    "fw-feat-bmap": ("arm64", 0x16),
    "cp14": ("arm", 0x0E),
    "cp15": ("arm", 0x0F),
}
_GROUP_BY_CODE = {(arch, code): name for name, (arch, code) in GROUPS.items()}

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
    "KVM_REG_ARM_CORE": 0x10 << GROUP_SHIFT,
    "KVM_REG_ARM_DEMUX": 0x11 << GROUP_SHIFT,
    "KVM_REG_ARM64_SYSREG": 0x13 << GROUP_SHIFT,
    "KVM_REG_ARM_FW": 0x14 << GROUP_SHIFT,
    "KVM_REG_ARM64_SVE": 0x15 << GROUP_SHIFT,
    "KVM_REG_ARM_FW_FEAT_BMAP": 0x16 << GROUP_SHIFT,
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
        f = self.fields
        if self.group == "sysreg":
            return SYSREG_NAMES.get((f["op0"], f["op1"], f["crn"], f["crm"], f["op2"]))
        if self.group == "fw":
            return FW_NAMES.get(f["number"])
        if self.group == "fw-feat-bmap":
            return FW_FEAT_BMAP_NAMES.get(f["number"])
        if self.group == "core":
            return CORE_NAMES.get(f["offset"])
        if self.group == "demux":
            return demux_name(f["id"], f["value"])
        return None

    @property
    def qemu_name(self) -> str:
        """The name in QEMU's style (``op0:3 op1:0 crn:2 crm:0 op2:3``)."""
        f = self.fields
        if self.group == "sysreg":
            return "op0:{op0} op1:{op1} crn:{crn} crm:{crm} op2:{op2}".format(**f)
        if self.group == "fw":
            return f"fw reg {f['number']}"
        if self.group == "fw-feat-bmap":
            return f"fw feat reg {f['number']}"
        if self.group in ("cp14", "cp15"):
            text = "{g} opc1:{opc1} crn:{crn} crm:{crm} opc2:{opc2}".format(g=self.group, **f)
            return text + (" 64-bit" if f["is64"] else "") + (" ns" if f["ns"] else "")
        if self.group == "core":
            return f"core reg {f['offset']:#x}"
        if self.group == "demux":
            return f"demux id {f['id']} val {f['value']}"
        if self.group == "sve":
            kind = f["kind"]
            if kind == "vls":
                return "sve vls"
            if kind == "ffr":
                return f"sve ffr slice {f['slice']}"
            return f"sve {kind} {f['n']} slice {f['slice']}"
        return f"unknown group {self.group_number:#x} reg {f['raw'] & 0xffff:#x}"

    @property
    def macro(self) -> str:
        """A C expression that evaluates to the index."""
        f = self.fields
        if self.group == "sysreg":
            return "ARM64_SYS_REG({op0}, {op1}, {crn}, {crm}, {op2})".format(**f)
        if self.group == "fw":
            return f"KVM_REG_ARM_FW_REG({f['number']})"
        if self.group == "fw-feat-bmap":
            return f"KVM_REG_ARM_FW_FEAT_BMAP_REG({f['number']})"
        if self.group == "core" and f["offset"] in CORE_NAMES \
                and CORE_OFFSETS[CORE_NAMES[f["offset"]]][1] == self.size:
            return (f"KVM_REG_ARM64 | KVM_REG_SIZE_U{self.size} | KVM_REG_ARM_CORE | "
                    f"KVM_REG_ARM_CORE_REG({CORE_NAMES[f['offset']]})")
        if self.index == MACROS["KVM_REG_ARM64_SVE_VLS"]:
            return "KVM_REG_ARM64_SVE_VLS"
        if self.group == "sve" and f["kind"] in ("zreg", "preg"):
            return f"KVM_REG_ARM64_SVE_{f['kind'].upper()}({f['n']}, {f['slice']})"
        if self.group == "sve" and f["kind"] == "ffr":
            return f"KVM_REG_ARM64_SVE_FFR({f['slice']})"
        return format_index(self.index)

    def encoding(self) -> str:
        """The fields as ``key=value`` text, in encoding order."""
        return " ".join(f"{k}={_field_text(v)}" for k, v in self.fields.items())

    def in_cpreg_list(self) -> bool:
        """Whether QEMU migrates this register in the cpreg list.

        QEMU leaves out core and SVE registers (they travel in other
        vmstate sections) and anything that is not 32 or 64 bits wide.
        """
        return self.size in (32, 64) and self.group not in ("core", "sve")

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


def c_number(text: str) -> int:
    """A C integer literal: ``0x`` hex, leading ``0`` octal, else decimal,
    with C's ``U``/``L``/``LL`` suffixes.  The one number parser of compat:
    register indices, registry values and command arguments all read it,
    the way QEMU reads a property with base 0."""
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
    low = index & 0xFFFF
    spare = index & 0x000F_FFFF_F000_0000
    fields: dict[str, Any] | None = None
    if group in ("sysreg", "fw", "fw-feat-bmap") and size != 64 or group == "demux" and size != 32:
        group = None  # a size KVM never uses for the group: keep the raw bits
    if group == "sysreg" and not spare:
        fields = {"op0": low >> 14, "op1": (low >> 11) & 7, "crn": (low >> 7) & 15,
                  "crm": (low >> 3) & 15, "op2": low & 7}
    elif group in ("fw", "fw-feat-bmap", "core") and not spare:
        fields = {"offset" if group == "core" else "number": low}
    elif group == "demux" and not spare:
        fields = {"id": low >> 8, "value": low & 0xFF}
    elif group == "sve" and not spare:
        fields = _decode_sve(low, size)
    elif group in ("cp14", "cp15") and not spare & ~AA32_NS_BIT \
            and not low & AA32_IS64_BIT and size in (32, 64):
        fields = {"opc1": (low >> 3) & 15, "crn": (low >> 11) & 15, "crm": (low >> 7) & 15,
                  "opc2": low & 7, "is64": size == 64,
                  "ns": bool(index & AA32_NS_BIT)}
    if fields is None:
        group = "unknown"
        fields = {"raw": index & 0x000F_FFFF_FFFF_FFFF & ~(SIZE_MASK << SIZE_SHIFT)}
    return Decoded(index=index, arch=arch, size=size, group=group,
                   group_number=group_number, fields=fields)


def _decode_sve(low: int, size: int) -> dict[str, Any] | None:
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
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise CodecError(f"{group} encoding has no field '{unknown[0]}' "
                         f"(fields: {', '.join(names)})")
    return values


def _size_code(bits: int) -> int:
    for code in range(16):
        if 8 << code == bits:
            return code
    raise CodecError(f"size {bits} is not a KVM register size")


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
    arch, number = GROUPS[group]
    f = dict(fields)
    if group == "sysreg":
        op0, op1, crn, crm, op2 = _need(f, group, ("op0", "op1", "crn", "crm", "op2"),
                                        (3, 7, 15, 15, 7))
        return _base(arch, number, 64) | op0 << 14 | op1 << 11 | crn << 7 | crm << 3 | op2
    if group in ("fw", "fw-feat-bmap"):
        (n,) = _need(f, group, ("number",), (0xFFFF,))
        return _base(arch, number, 64) | n
    if group == "core":
        size = f.pop("size", 64)
        (offset,) = _need(f, group, ("offset",), (0xFFFF,))
        return _base(arch, number, size) | offset
    if group == "demux":
        f.pop("size", None)
        ident, value = _need(f, group, ("id", "value"), (0xFF, 0xFF))
        return _base(arch, number, 32) | ident << 8 | value
    if group == "sve":
        return _encode_sve(f)
    is64 = bool(f.pop("is64", False))
    ns = bool(f.pop("ns", False))
    f.setdefault("crn", 0)
    f.setdefault("opc2", 0)
    opc1, crn, crm, opc2 = _need(f, group, ("opc1", "crn", "crm", "opc2"), (15, 15, 15, 7))
    return (_base(arch, number, 64 if is64 else 32) | (AA32_NS_BIT if ns else 0)
            | crn << 11 | crm << 7 | opc1 << 3 | opc2)


def _encode_sve(f: dict[str, Any]) -> int:
    kind = f.pop("kind", None)
    _, number = GROUPS["sve"]
    if kind == "vls":
        _need(f, "sve vls", (), ())
        return _base("arm64", number, 512) | SVE_VLS_LOW
    if kind == "zreg":
        n, part = _need(f, "sve zreg", ("n", "slice"), (31, 31))
        return _base("arm64", number, 2048) | n << 5 | part
    if kind == "preg":
        n, part = _need(f, "sve preg", ("n", "slice"), (15, 31))
        return _base("arm64", number, 256) | SVE_PREG_BASE | n << 5 | part
    if kind == "ffr":
        (part,) = _need(f, "sve ffr", ("slice",), (31,))
        return _base("arm64", number, 256) | SVE_FFR_BASE | part
    raise CodecError(f"sve encoding needs kind = zreg, preg, ffr or vls, not {kind!r}")


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


def reencode(decoded: Decoded) -> int:
    """The index of a decoded register, computed from its fields."""
    fields = dict(decoded.fields)
    if decoded.group == "unknown":
        fields.update(arch=decoded.arch, size=decoded.size)
    elif decoded.group == "core":
        fields["size"] = decoded.size
    return encode_fields(decoded.group, **fields)


# --- C expressions -----------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<num>0[xX][0-9a-fA-F]+|\d+)[uUlL]*|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op><<|[|(),+.\[\]])|(?P<bad>\S))")
_CALLS = {
    "ARM64_SYS_REG": (5, lambda a: sysreg(*a)),
    "KVM_REG_ARM_FW_REG": (1, lambda a: fw_reg(*a)),
    "KVM_REG_ARM_FW_FEAT_BMAP_REG": (1, lambda a: fw_feat_bmap_reg(*a)),
    "KVM_REG_ARM64_SVE_ZREG": (2, lambda a: encode_fields("sve", kind="zreg", n=a[0], slice=a[1])),
    "KVM_REG_ARM64_SVE_PREG": (2, lambda a: encode_fields("sve", kind="preg", n=a[0], slice=a[1])),
    "KVM_REG_ARM64_SVE_FFR": (1, lambda a: encode_fields("sve", kind="ffr", slice=a[0])),
}


def parse_expr(text: str, names: Mapping[str, int] | None = None) -> int:
    """Evaluate a register expression.

    Accepts a plain index, ``ARM64_SYS_REG(3, 0, 2, 0, 3)``,
    ``KVM_REG_ARM_FW_REG(1)``, ``KVM_REG_ARM_FW_FEAT_BMAP_REG(3)``, the SVE
    macros, ``|``-joined uapi constants with ``KVM_REG_ARM_CORE_REG(regs.pc)``,
    an architectural name from the built-in tables (``TCR2_EL1``), or a name
    from *names* (a registry's registers), and a trailing comma as in the
    kernel selftest's initializers.
    """
    source = text.strip().rstrip(",").strip()
    if not source:
        raise CodecError("empty expression")
    if re.fullmatch(r"0[xX][0-9a-fA-F]+[uUlL]*|\d+", source):
        return parse_index(source)
    names = names or {}
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", source) and source not in MACROS:
        return _lookup_name(source, names)
    value = _Parser(source, names).parse()
    if not 0 <= value <= U64_MAX:
        raise CodecError(f"'{text}' does not fit in 64 bits")
    return value


def _lookup_name(name: str, names: Mapping[str, int]) -> int:
    if name in names:
        return names[name]
    if name in SYSREG_BY_NAME:
        return sysreg(*SYSREG_BY_NAME[name])
    for table, encoder in ((FW_NAMES, fw_reg), (FW_FEAT_BMAP_NAMES, fw_feat_bmap_reg)):
        for number, known in table.items():
            if name in (known, known.removeprefix("KVM_REG_ARM_")):
                return encoder(number)
    from compat.core.diagnostics import did_you_mean
    candidates = list(names) + list(SYSREG_BY_NAME) + list(FW_NAMES.values()) \
        + list(FW_FEAT_BMAP_NAMES.values())
    raise CodecError(f"unknown register name '{name}'" + did_you_mean(name, candidates))


class _Parser:
    """A tiny recursive-descent evaluator: ``|``, ``<<``, ``+`` (with C's
    precedence), parentheses and the uapi macros."""

    def __init__(self, text: str, names: Mapping[str, int]):
        self.text = text
        self.names = names
        self.tokens = self._tokenize(text)
        self.pos = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        i = 0
        while i < len(text):
            match = _TOKEN.match(text, i)
            if not match or match.end() == i:
                break
            i = match.end()
            kind = match.lastgroup
            if kind == "bad":
                raise CodecError(f"unexpected '{match.group(kind)}' in '{text}'")
            if kind is None:
                break
            tokens.append((kind, match.group(kind)))
        return tokens

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            want = f"'{value}'" if value else "more"
            raise CodecError(f"expected {want} in '{self.text}'")
        self.pos += 1
        return token

    def parse(self) -> int:
        value = self.expr()
        if self.peek() is not None:
            raise CodecError(f"unexpected '{self.peek()[1]}' in '{self.text}'")
        return value

    # C precedence, loosest first: | then << then +
    def expr(self) -> int:
        value = self.shift()
        while self.peek() == ("op", "|"):
            self.take()
            value |= self.shift()
        return value

    def shift(self) -> int:
        value = self.add()
        while self.peek() == ("op", "<<"):
            self.take()
            amount = self.add()
            if amount >= 64:
                raise CodecError(f"shift by {amount} in '{self.text}' leaves 64 bits")
            value <<= amount
        return value

    def add(self) -> int:
        value = self.atom()
        while self.peek() == ("op", "+"):
            self.take()
            value += self.atom()
        return value

    def atom(self) -> int:
        kind, text = self.take()
        if kind == "num":
            return c_number(text)
        if kind == "op" and text == "(":
            value = self.expr()
            self.take(")")
            return value
        if kind != "name":
            raise CodecError(f"unexpected '{text}' in '{self.text}'")
        if text == "KVM_REG_ARM_CORE_REG":
            return self.core_reg()
        if text in _CALLS:
            arity, build = _CALLS[text]
            self.take("(")
            args = [self.expr()]
            while self.peek() == ("op", ","):
                self.take()
                args.append(self.expr())
            self.take(")")
            if len(args) != arity:
                raise CodecError(f"{text} takes {arity} argument(s), not {len(args)}")
            return build(args)
        if text in MACROS:
            return MACROS[text]
        return _lookup_name(text, self.names)

    def core_reg(self) -> int:
        self.take("(")
        depth, start = 1, self.pos
        while depth:
            kind, text = self.take()
            depth += {"(": 1, ")": -1}.get(text, 0) if kind == "op" else 0
        member = "".join(t for _, t in self.tokens[start:self.pos - 1])
        member = re.sub(r"\s+", "", member)
        if member not in CORE_OFFSETS:
            raise CodecError(f"KVM_REG_ARM_CORE_REG({member}): not a member of struct kvm_regs")
        return CORE_OFFSETS[member][0]
