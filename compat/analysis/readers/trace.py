"""QEMU migration failure output: trace lines such as
``kvm_arm_cpu_post_load_missing_reg ... 0x603000000013c103`` or error
lines.  Every ``0x`` token of 16 hex digits is an index; other log text is
ignored, but a line that tries to be a register on its own (an index, a
register expression) must be one."""

from __future__ import annotations

import re

from compat.analysis.readers import plain, selftest
from compat.analysis.readers.base import ReadResult, Source
from compat.core import codec

FORMAT = "trace"
ORDER = 30

_TOKEN = re.compile(r"(?<![0-9A-Za-z_])0x[0-9a-fA-F]{16}(?![0-9A-Za-z_])")
#: A line that tries to be a register: read it, or report it (never skip it as log text).
_REGISTER_LIKE = re.compile(r"^(?:0[xX]|\d\w*[,;]?$|ARM64_|KVM_REG)")


def carries_index(text: str) -> bool:
    """Whether ``text`` holds a 64-bit register index token."""
    return bool(indices(text))


def indices(raw: str) -> list[int]:
    """Every index token on a raw log line that is a KVM register index
    (top byte 0x60 or 0x40); other 64-bit numbers (addresses) are log text."""
    found = (int(token, 16) for token in _TOKEN.findall(raw))
    return [i for i in found if i >> codec.ARCH_SHIFT in codec.ARCH_NAMES]


def _log_line(code: str) -> bool:
    return carries_index(code) and not plain.claims(code) and not selftest.claims(code)


def sniff(source: Source) -> bool:
    """Whether a line is log text carrying an index (neither a plain index
    nor C)."""
    return any(_log_line(line.code) for line in source.lines)


def read(source: Source) -> ReadResult:
    """Every index token, plus the lines that are a register on their own."""
    source.check_text()
    found = set()
    for line in source.lines:
        found.update(indices(line.raw))
        if _log_line(line.code):
            continue
        try:
            index = selftest.list_line(line.code)
        except codec.CodecError as exc:
            raise source.error(line.number, str(exc)) from None
        if isinstance(index, int):
            found.add(index)
        elif index is None and _REGISTER_LIKE.match(line.code):
            raise source.error(line.number, f"cannot read '{line.code}'")
    return ReadResult(FORMAT, tuple(sorted(found)), headers=source.headers)
