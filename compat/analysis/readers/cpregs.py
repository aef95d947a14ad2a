"""Value lists: ``INDEX VALUE`` per line, a cpreg list with values as
``compat lab migrate`` writes it (``source.cpregs``) from a migration
stream.  The values feed the value rules and tolerance tests as a stream's
would.

A text whose lines are mostly (more than half) two numbers is a value list,
and then every line must be one: a line this reader cannot read (``-1``, an
index without a value, a third column) is an error at its ``file:line``,
never a reason to read the file as another format.  Both numbers are C
integer literals (:func:`compat.core.codec.c_number`); the index must be a
KVM register index, the value must fit 64 bits and is never a leading-zero
octal (:func:`base.value_number`)."""

from __future__ import annotations

import re

from compat.analysis.readers.base import ReadResult, Source, kvm_index, value_number
from compat.core import codec

FORMAT = "cpregs"
ORDER = 20

#: Two tokens that start as numbers (``INDEX NAME`` lines are no value list).
_PAIR_SHAPED = re.compile(r"^\d\S*\s+[-+]?\d\S*$")
_PAIR = re.compile(r"^(\S+)\s+(\S+)$")
_HINT = ("a value list has one 'INDEX VALUE' pair per line, both C integer literals "
         "(0x6030000000140000 0x10001)")


def sniff(source: Source) -> bool:
    """Whether more than half the lines are two tokens that start as numbers."""
    lines = source.lines
    pairs = sum(1 for line in lines if _PAIR_SHAPED.match(line.code))
    return 2 * pairs > len(lines)


def read(source: Source) -> ReadResult:
    """The indices and their values; any other line, or a register listed
    twice, is a located error."""
    source.check_text()
    values: dict[int, int] = {}
    first: dict[int, int] = {}
    for line in source.lines:
        match = _PAIR.match(line.code)
        if match is None:
            raise source.error(line.number, f"cannot read '{line.code}': this file is a value "
                               "list (most of its lines are 'INDEX VALUE' pairs)", hint=_HINT)
        try:
            index = kvm_index(match.group(1))
            value = value_number(match.group(2))
        except codec.CodecError as exc:
            raise source.error(line.number, str(exc), hint=_HINT) from None
        if index in values:
            raise source.error(line.number, f"register 0x{index:016x} is listed twice "
                               f"(first at line {first[index]})", hint=None)
        values[index], first[index] = value, line.number
    return ReadResult(FORMAT, tuple(sorted(values)), values=values, headers=source.headers,
                      description="cpreg list with values")
