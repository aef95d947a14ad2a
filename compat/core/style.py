"""How output looks to a person: plurals and terminal colour.

Colour is used only on a terminal: ``--color=auto`` (the default) colours
when the stream is a tty and ``NO_COLOR`` is unset (https://no-color.org);
``--color=always`` / ``never`` decide regardless.  Nothing but the words
``error``, ``warning``, ``note``, ``FAIL``/``FAILS`` and ``ok`` is coloured, so
the uncoloured text is the same text.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TextIO

CHOICES = ("auto", "always", "never")

_CODES = {"error": "1;31", "FAIL": "1;31", "FAILS": "1;31", "warning": "1;35",
          "note": "1;36", "ok": "32"}
#: severities after ``file:line:col: `` and verdict words at the start of a
#: line or after ``: `` (``... (forward, rules none): FAILS``)
_WORDS = re.compile(r"(?:(?<=: )|^|(?<=  ))(?:(?:error|warning|note)(?=: )|(?:FAILS|FAIL|ok)\b)",
                    re.M)

_mode = "auto"


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 register``, ``2 registers``; ``many`` for irregular words."""
    return f"{count} {word if count == 1 else many or word + 's'}"


def set_mode(mode: str) -> None:
    """The ``--color`` choice for this run."""
    global _mode
    _mode = mode if mode in CHOICES else "auto"


def enabled(stream: TextIO) -> bool:
    """Whether text written to ``stream`` should be coloured."""
    if _mode == "always":
        return True
    if _mode == "never" or os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def colour(text: str, stream: TextIO | None = None) -> str:
    """``text`` with its severity and verdict words coloured, if ``stream``
    (default stdout) is to be coloured."""
    if not enabled(stream if stream is not None else sys.stdout):
        return text

    def paint(match: re.Match) -> str:
        word = match.group(0)
        return f"\033[{_CODES[word]}m{word}\033[0m"
    return _WORDS.sub(paint, text)


def echo(text: str, stream: TextIO | None = None) -> None:
    """Print a report (coloured as :func:`colour` says) and a newline.  Text
    that came from inputs (a list's ``# host:`` header) is shown with its
    control characters escaped, line by line, so it cannot drive the
    terminal; the colour added here is the only escape sequence printed."""
    from compat.core.diagnostics import shown
    stream = stream if stream is not None else sys.stdout
    text = "\n".join(shown(line) for line in text.split("\n"))
    print(colour(text, stream), file=stream)
