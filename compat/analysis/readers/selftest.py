"""Kernel selftest initializers (``tools/testing/selftests/kvm/arm64/
get-reg-list.c``): ``ARM64_SYS_REG(3, 0, 2, 0, 3),``,
``KVM_REG_ARM_FW_REG(0),``, ``KVM_REG_ARM64 | KVM_REG_SIZE_U64 |
KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc),`` inside
``static __u64 name[] = {`` ... ``};``.  Plain index lines may be mixed in."""

from __future__ import annotations

import re

from compat.analysis.readers import plain
from compat.analysis.readers.base import ReadResult, Source, check_kvm_index
from compat.core import codec

FORMAT = "c-initializer"
ORDER = 40

SKIP = object()
_DECL = re.compile(r"^(static\s+)?(const\s+)?(__u64|u64|uint64_t)\s+\w+\s*\[\s*\w*\s*\]\s*=\s*\{$")
_CLOSE = re.compile(r"^\}\s*;?$")
_C_LIKE = re.compile(r"^[A-Z_][A-Z0-9_]*\b|\|")


def _expr(code: str) -> str:
    return code[:-1].rstrip() if code.endswith(",") else code


def claims(code: str) -> bool:
    """Whether ``code`` is C: a register expression or the array's syntax."""
    return bool(_DECL.match(code) or _CLOSE.match(code) or _C_LIKE.match(_expr(code)))


def read_line(code: str):
    """The index of a register expression, :data:`SKIP` for the array's
    own syntax, ``None`` when ``code`` is no C at all."""
    if _DECL.match(code) or _CLOSE.match(code):
        return SKIP
    expr = _expr(code)
    if not _C_LIKE.match(expr):
        return None
    try:
        index = codec.parse_expr(expr)
    except codec.CodecError as exc:
        raise codec.CodecError(f"cannot read '{expr}': {exc}") from None
    return check_kvm_index(index, expr)


def sniff(source: Source) -> bool:
    """Whether a line holds a register expression."""
    return any(_C_LIKE.match(_expr(line.code)) and not _DECL.match(line.code)
               for line in source.lines)


def list_line(code: str):
    """A list line: its index (plain or C), :data:`SKIP`, or ``None``;
    :class:`~compat.core.codec.CodecError` for a malformed register."""
    found = plain.read_line(code)
    return read_line(code) if found is None else found


def read(source: Source) -> ReadResult:
    """Every line a register expression, an index or array syntax."""
    return read_lines(source, FORMAT)


def read_lines(source: Source, fmt: str) -> ReadResult:
    """The plain and selftest formats: every line must be a register.  A
    register listed twice is reported as a warning (the list means the same
    either way; ``KVM_GET_REG_LIST`` never repeats one, ``get-reg-list.c``
    lists a few in two arrays)."""
    source.check_text()
    first: dict[int, int] = {}
    warnings = []
    for line in source.lines:
        try:
            found = list_line(line.code)
        except codec.CodecError as exc:
            raise source.error(line.number, str(exc)) from None
        if found is None:
            raise source.error(line.number, f"cannot read '{line.code}'")
        if found is SKIP:
            continue
        if found in first:
            warnings.append(source.warning(line.number, f"register 0x{found:016x} is listed "
                                           f"twice (first at line {first[found]})"))
        first.setdefault(found, line.number)
    return ReadResult(fmt, tuple(sorted(first)), headers=source.headers,
                      warnings=tuple(warnings))
