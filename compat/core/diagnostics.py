"""Diagnostics: located error messages, reported all at once.

Messages follow the compiler convention QEMU's ``scripts/qapi`` uses::

    registry.toml: In register 'TCR2_EL1':
    registry.toml:42:12: error: op0 must be 0..3, not 4

A :class:`CompatError` carries every diagnostic of one run, so a user fixes
a registry in one pass instead of one error per run.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True, order=True)
class Location:
    """A position in an input file; ``line``/``col`` are 1-based, 0 if unknown."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line and self.col:
            return f"{self.file}:{self.line}:{self.col}"
        if self.line:
            return f"{self.file}:{self.line}"
        return self.file


#: Where a mistake in the command's arguments is reported (exit status 2).
COMMAND_LINE = Location("<command line>")


@dataclass(frozen=True)
class Diagnostic:
    """One message about one place.

    ``context`` names the entity the location belongs to (``"register
    'TCR2_EL1'"``) and becomes an ``In register 'TCR2_EL1':`` line.
    ``hint`` says what to do about it.  ``detail`` holds lines quoted under
    the message (a console's last lines, a tool's stderr): each is printed on
    a line of its own, indented, with its control characters escaped, so a
    multi-line diagnostic shows real lines and no quoted line can pass for
    a diagnostic of its own.
    """

    location: Location
    message: str
    context: str | None = None
    hint: str | None = None
    severity: str = "error"
    detail: tuple[str, ...] = ()

    def sort_key(self) -> tuple:
        loc = self.location
        return (loc.file, loc.line, loc.col, self.message)

    def to_json(self) -> dict:
        """The diagnostic object every ``--json`` output uses (docs/json.md):
        ``line``/``column`` are 1-based, ``null`` when unknown."""
        loc = self.location
        message = "\n".join((self.message, *self.detail))
        return {"file": loc.file, "line": loc.line or None, "column": loc.col or None,
                "severity": self.severity, "message": message, "hint": self.hint,
                "context": self.context}

    def format(self) -> str:
        """The diagnostic as the terminal shows it: control characters (ESC,
        OSC, newlines, bidi overrides...) from file names, registry keys, list
        lines or plugin messages are shown escaped, never sent raw."""
        where = shown(str(self.location))
        lines = []
        if self.context:
            lines.append(f"{shown(self.location.file)}: In {shown(self.context)}:")
        lines.append(f"{where}: {shown(self.severity)}: {shown(self.message)}")
        lines += [f"    {shown(line)}" for line in self.detail]
        if self.hint:
            lines.append(f"{where}: note: {shown(self.hint)}")
        return "\n".join(lines)


#: C0 and C1 controls, DEL, line/paragraph separators, bidi controls,
#: and lone surrogates: never written raw to a terminal.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")


def shown(text: str) -> str:
    """``text`` with every control character escaped (``\\x1b``, ``\\n``)."""
    if not isinstance(text, str):
        text = str(text)
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class CompatError(Exception):
    """One or more diagnostics that stop the run (exit status 1)."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted(set(diagnostics), key=Diagnostic.sort_key)
        super().__init__(self.format())

    @classmethod
    def at(cls, location: Location, message: str, **kwargs) -> "CompatError":
        return cls([Diagnostic(location, message, **kwargs)])

    def format(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)

    def to_json(self) -> dict:
        """``{"ok": false, "diagnostics": [...]}``: what a ``--json`` command
        prints on stdout when it stops on errors."""
        return {"ok": False, "diagnostics": [d.to_json() for d in self.diagnostics]}

    def is_usage_error(self) -> bool:
        """Whether every diagnostic blames the command line (exit status 2)."""
        return bool(self.diagnostics) and all(
            d.location.file == COMMAND_LINE.file for d in self.diagnostics)


@dataclass
class DiagnosticSink:
    """Collects diagnostics while a pass keeps going; raises them together."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def error(self, location: Location, message: str, **kwargs) -> None:
        self.diagnostics.append(Diagnostic(location, message, **kwargs))

    def extend(self, error: CompatError) -> None:
        self.diagnostics.extend(error.diagnostics)

    def __bool__(self) -> bool:
        return bool(self.diagnostics)

    def raise_if_any(self) -> None:
        if self.diagnostics:
            raise CompatError(self.diagnostics)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for a near miss, else ``""``."""
    matches = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.75)
    if not matches:
        lowered = {c.lower(): c for c in candidates}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    return f" (did you mean '{matches[0]}'?)" if matches else ""
