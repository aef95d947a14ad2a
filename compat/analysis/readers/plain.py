"""Plain lists: one index a line (``0x603000000013c103``), as
``compat collect`` and most hand-made dumps write them.  The fallback
format: it takes any text no other reader sniffed, and every line of it
must be a register (or the C array syntax a selftest excerpt keeps).  A
register listed twice is a warning: ``KVM_GET_REG_LIST`` never repeats one,
so a repeat may mean two dumps were pasted together."""

from __future__ import annotations

import re

from compat.analysis.readers.base import ReadResult, Source, kvm_index

FORMAT = "plain"
ORDER = 50

_LINE = re.compile(r"^(0x[0-9a-fA-F]+|[0-9]+)[uUlL]*$")


def claims(code: str) -> bool:
    """Whether ``code`` has the form of a plain index line."""
    return _LINE.match(code) is not None


def read_line(code: str) -> int | None:
    """The index on ``code``, or ``None`` when it is not a bare number; a
    number that is no KVM register index (``480``) raises CodecError."""
    if not claims(code):
        return None
    return kvm_index(code)


def sniff(source: Source) -> bool:  # noqa: ARG001 - the fallback
    """Always: plain is the last format detection asks."""
    return True


def read(source: Source) -> ReadResult:
    """Every line an index (or selftest array syntax)."""
    from compat.analysis.readers import selftest
    return selftest.read_lines(source, FORMAT)
