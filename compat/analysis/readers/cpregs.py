"""Value lists: ``INDEX VALUE`` per line, a cpreg list with values as
``compat lab migrate`` writes it (``source.cpregs``) from a migration
stream.  The values feed the value rules and tolerance tests as a stream's
would."""

from __future__ import annotations

import re

from compat.analysis.readers.base import ReadResult, Source
from compat.core import codec

FORMAT = "cpregs"
ORDER = 20

_LINE = re.compile(r"^(0x[0-9a-fA-F]{16})\s+(0x[0-9a-fA-F]+|[0-9]+)$")


def sniff(source: Source) -> bool:
    """Whether every line is an ``INDEX VALUE`` pair."""
    return bool(source.lines) and all(_LINE.match(line.code) for line in source.lines)


def read(source: Source) -> ReadResult:
    """The indices and their values; a register listed twice is an error."""
    source.check_text()
    values: dict[int, int] = {}
    for line in source.lines:
        match = _LINE.match(line.code)
        try:
            index = codec.parse_index(match.group(1))
        except codec.CodecError as exc:
            raise source.error(line.number, str(exc)) from None
        value = int(match.group(2), 0)
        if value >= 1 << 64:
            raise source.error(line.number, f"value {match.group(2)} does not fit 64 bits",
                               hint=None)
        if index in values:
            raise source.error(line.number, f"register 0x{index:016x} is listed twice",
                               hint=None)
        values[index] = value
    return ReadResult(FORMAT, tuple(sorted(values)), values=values, headers=source.headers,
                      description="cpreg list with values")
