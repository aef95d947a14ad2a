"""Plain lists: one index a line (``0x603000000013c103``), as
``compat collect`` and most hand-made dumps write them."""

from __future__ import annotations

import re

from compat.core import codec

FORMAT = "plain"

_LINE = re.compile(r"^(0x[0-9a-fA-F]+|[0-9]+)[uUlL]*$")


def read_line(code: str) -> int | None:
    """The index on ``code``, or ``None`` when it is not a bare number."""
    if not _LINE.match(code):
        return None
    return codec.parse_index(code)
