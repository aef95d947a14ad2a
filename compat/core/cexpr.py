"""Register expressions: the C that kernel selftests and QEMU write for an index.

``ARM64_SYS_REG(3, 0, 2, 0, 3)``, ``KVM_REG_ARM_FW_REG(1)``, the SVE macros,
``|``-joined uapi constants with ``<<``, ``+`` and parentheses (C's
precedence), ``KVM_REG_ARM_CORE_REG(regs.pc)``, an architectural name
(``TCR2_EL1``) or a registry's register name.  The index layout itself is
:mod:`compat.core.codec`'s; this module only evaluates text.
"""

from __future__ import annotations

import re
from typing import Mapping

from compat.core.codec import (CORE_OFFSETS, MACROS, U64_MAX, CodecError, c_number,
                               encode_fields, fw_feat_bmap_reg, fw_reg, parse_index, sysreg)
from compat.core.diagnostics import did_you_mean
from compat.core.sysreg_names import names as known_names

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
        return lookup_name(source, names)
    value = _Parser(source, names).parse()
    if not 0 <= value <= U64_MAX:
        raise CodecError(f"'{text}' does not fit in 64 bits")
    return value


def lookup_name(name: str, names: Mapping[str, int] | None = None) -> int:
    """The index of a name from ``names`` (a registry's registers) or the
    built-in table (:mod:`compat.core.sysreg_names`); firmware names also
    without their ``KVM_REG_ARM_`` prefix."""
    names = names or {}
    if name in names:
        return names[name]
    index = builtin_index(name)
    if index is not None:
        return index
    candidates = list(names) + known_names().every_name()
    raise CodecError(f"unknown register name '{name}'" + did_you_mean(name, candidates))


def builtin_index(name: str) -> int | None:
    """The index the built-in name table gives ``name``, or ``None`` when it
    is not an architectural name compat knows."""
    table = known_names()
    if name in table.sysreg_by_name:
        return sysreg(*table.sysreg_by_name[name])
    firmware = table.firmware_by_name.get(name)
    if firmware is None:
        return None
    bmap, number = firmware
    return fw_feat_bmap_reg(number) if bmap else fw_reg(number)


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
        return lookup_name(text, self.names)

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
