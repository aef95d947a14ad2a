"""Architectural names of arm64 system registers and KVM pseudo-registers.

The names are data: ``sysreg_names.txt`` next to this module, one line per
name, with its grammar documented at the top of the file (the way Linux keeps
``arch/arm64/tools/sysreg``).  It is read once, on first use
(:func:`names`), so commands that never name a register never read it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

from compat.core.diagnostics import CompatError, Location

Encoding = tuple[int, int, int, int, int]

DATA_FILE = "sysreg_names.txt"

#: upper bound of each sysreg field: op0, op1, CRn, CRm, op2
_FIELD_LIMITS = (("op0", 3), ("op1", 7), ("crn", 15), ("crm", 15), ("op2", 7))
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER = re.compile(r"[0-9]+\Z")
_FW_LIMIT = 0xFFFF


@dataclass(frozen=True)
class NameTable:
    """The parsed name table."""

    #: encoding -> the name decoding shows
    sysreg: dict[Encoding, str]
    #: name -> encoding, aliases included
    sysreg_by_name: dict[str, Encoding]
    #: KVM_REG_ARM_FW_REG(n) names, by n
    fw: dict[int, str]
    #: KVM_REG_ARM_FW_FEAT_BMAP_REG(n) names, by n
    fw_feat_bmap: dict[int, str]

    @functools.cached_property
    def firmware_by_name(self) -> dict[str, tuple[bool, int]]:
        """A firmware register's name, also without ``KVM_REG_ARM_`` ->
        (whether it is a feature bitmap register, its number); the first
        entry in table order wins, as a scan of :attr:`fw` then
        :attr:`fw_feat_bmap` finds it (a registry checks every register's
        name against this)."""
        found: dict[str, tuple[bool, int]] = {}
        for bmap, numbers in ((False, self.fw), (True, self.fw_feat_bmap)):
            for number, name in numbers.items():
                found.setdefault(name, (bmap, number))
                found.setdefault(name.removeprefix("KVM_REG_ARM_"), (bmap, number))
        return found

    def every_name(self) -> list[str]:
        """Every name the table encodes, in file order within each kind."""
        return [*self.sysreg_by_name, *self.fw.values(), *self.fw_feat_bmap.values()]


@functools.cache
def names() -> NameTable:
    """The bundled table (parsed on first call, then cached)."""
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse(text, DATA_FILE)


def parse(text: str, filename: str = DATA_FILE) -> NameTable:
    """Parse a name table; a malformed line is a :class:`CompatError` at
    ``filename:line``."""
    table = NameTable({}, {}, {}, {})
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        where = Location(filename, number)
        kind, rest = words[0], words[1:]
        arity = {"sysreg": 6, "alias": 6, "fw": 2, "fw-feat-bmap": 2}.get(kind)
        if arity is None:
            raise CompatError.at(where, f"unknown entry kind '{kind}'",
                                 hint="an entry starts with sysreg, alias, fw or fw-feat-bmap")
        if len(rest) != arity:
            raise CompatError.at(where, f"'{kind}' takes {arity} fields "
                                 f"(NAME{' op0 op1 crn crm op2' if arity == 6 else ' n'}), "
                                 f"not {len(rest)}")
        name = rest[0]
        if not _NAME.match(name):
            raise CompatError.at(where, f"'{name}' is not a register name")
        if name in seen:
            raise CompatError.at(where, f"'{name}' is named twice (first on line {seen[name]})")
        seen[name] = number
        if arity == 6:
            encoding = tuple(_field(where, text, label, limit)
                             for text, (label, limit) in zip(rest[1:], _FIELD_LIMITS))
            if kind == "sysreg":
                if encoding in table.sysreg:
                    raise CompatError.at(where, f"{name} and {table.sysreg[encoding]} share "
                                         f"the encoding {':'.join(map(str, encoding))}",
                                         hint="use 'alias' for a second name of an encoding")
                table.sysreg[encoding] = name
            table.sysreg_by_name[name] = encoding
        else:
            target = table.fw if kind == "fw" else table.fw_feat_bmap
            n = _field(where, rest[1], "n", _FW_LIMIT)
            if n in target:
                raise CompatError.at(where, f"{name} and {target[n]} share {kind} number {n}")
            target[n] = name
    return table


def _field(where: Location, text: str, label: str, limit: int) -> int:
    if not _NUMBER.match(text) or int(text) > limit:
        raise CompatError.at(where, f"{label} must be a decimal number from 0 to {limit}, "
                             f"not '{text}'")
    return int(text)


#: CCSIDR values KVM exposes as demux registers (group 0x11, id 0): the low
#: byte is the CSSELR_EL1 value selecting the cache, Level in bits 3:1
#: (level - 1) and InD in bit 0 (1 instruction, 0 data or unified).
def demux_name(ident: int, value: int) -> str | None:
    if ident != 0 or value > 0x0F:
        return None
    kind = "instruction" if value & 1 else "data"
    return f"CCSIDR[L{(value >> 1) + 1} {kind}]"
