"""Read TOML while remembering where every key and value stands.

``tomllib`` parses TOML but forgets positions, and a registry error is only
useful with ``file:line:col``.  After ``tomllib`` has accepted a document,
:class:`PositionIndex` scans the same text once more (a small scanner that
only needs to handle valid TOML) and maps every key path, such as
``("registers", "TCR2_EL1", "encoding", "op0")`` or
``("machines", "virt", "versions", 2, "min-kernel")``, to the line and
column of its key and of its value.
"""

from __future__ import annotations

import bisect
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compat.core.diagnostics import CompatError, Location

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_WS = re.compile(r"(?:[ \t\r]|#[^\n]*)*")
_WS_NL = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_BASIC_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_LITERAL_STRING = re.compile(r"'[^']*'")
#: Multi-line strings; up to two quotes may precede the closing three.
_ML_BASIC = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"{3,5}', re.S)
_ML_LITERAL = re.compile(r"'''(?:[^']|'(?!''))*'{3,5}", re.S)
_SIMPLE_KEY = re.compile(r"[ \t]*([A-Za-z0-9_-]+)[ \t]*(?=[=\]])")
_EQUALS = re.compile(r"[ \t]*=[ \t]*")
_SCALAR = re.compile(r"[^,\]}\s#]+(?: [0-9:.+Z-]+)?")


@dataclass
class SourceDocument:
    """A parsed TOML file: its data and where each piece of it was written."""

    filename: str
    text: str
    data: dict[str, Any]
    positions: "PositionIndex"

    def locate(self, path: KeyPath, *, value: bool = True) -> Location:
        """Where ``path`` was written; its nearest written ancestor otherwise.

        With ``value`` the location of the value (for "bad value" errors),
        else of the key (for "unknown key" errors).
        """
        return self.positions.locate(self.filename, tuple(path), value=value)


def load_toml_text(text: str, filename: str) -> SourceDocument:
    """Parse ``text``; a syntax error becomes a located :class:`CompatError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(exc, filename, text) from None
    except RecursionError:
        raise CompatError.at(Location(filename, 1, 1),
                             "TOML nesting is too deep to read") from None
    return SourceDocument(filename, text, data, PositionIndex.scan(text))


def load_toml_file(path: Path, display_name: str | None = None) -> SourceDocument:
    """Read and parse a TOML file, with errors naming ``display_name``."""
    name = display_name or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CompatError.at(Location(name), f"cannot read: {exc.strerror or exc}",
                             hint="pass an existing registry with -r FILE") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CompatError.at(Location(name, line, 1),
                             "file is not valid UTF-8 (TOML files must be UTF-8)") from None
    return load_toml_text(text, name)


def _syntax_error(exc: tomllib.TOMLDecodeError, filename: str, text: str) -> CompatError:
    message = str(exc)
    line = getattr(exc, "lineno", None)
    col = getattr(exc, "colno", None)
    match = re.search(r"\(at line (\d+), column (\d+)\)$", message)
    if match:
        line, col = int(match[1]), int(match[2])
        message = message[: match.start()].rstrip()
    elif "(at end of document)" in message:
        message = message.replace("(at end of document)", "").rstrip()
        line = text.count("\n") + 1
        col = len(text.rsplit("\n", 1)[-1]) + 1
    message = message[:1].lower() + message[1:]
    return CompatError.at(Location(filename, line or 1, col or 1),
                          f"TOML syntax: {message}",
                          hint="fix the TOML syntax first; no other check ran")


class PositionIndex:
    """Key path -> position of its key and of its value, from a scan of
    valid TOML.

    Positions are kept as character offsets (one int each; a registry of
    100k registers has millions of them) and turned into line and column
    only when a location is asked for.
    """

    def __init__(self) -> None:
        self.keys: dict[KeyPath, int] = {}
        self.values: dict[KeyPath, int] = {}
        self.line_starts: list[int] = [0]

    @classmethod
    def scan(cls, text: str) -> "PositionIndex":
        """Positions of every key and value of ``text`` (valid TOML).

        Positions only improve messages: should the scanner ever misread
        valid TOML, what it found so far is kept and other paths fall back
        to their nearest located ancestor, rather than crashing."""
        index = cls()
        index.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        try:
            _Scanner(text, index).run()
        except (ValueError, IndexError, AttributeError, RecursionError):
            pass
        return index

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def locate(self, filename: str, path: KeyPath, *, value: bool) -> Location:
        table = self.values if value else self.keys
        probe = path
        while probe:
            pos = table.get(probe)
            if pos is None:
                pos = self.keys.get(probe)
            if pos is not None:
                return Location(filename, *self.line_col(pos))
            probe = probe[:-1]
        return Location(filename, 1, 1)


class _Scanner:
    """Just enough of a TOML reader to find positions in valid input."""

    def __init__(self, text: str, index: PositionIndex) -> None:
        self.text = text
        self.pos = 0
        self.index = index
        # Every "[[a.b]]" header opens a new element of array a.b.
        self.array_counts: dict[KeyPath, int] = {}
        # Array-of-tables paths resolved to their current element.
        self.current_elements: dict[KeyPath, KeyPath] = {}

    # -- position helpers -------------------------------------------------
    def line_col(self, pos: int) -> tuple[int, int]:
        return self.index.line_col(pos)

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def skip_ws(self, newlines: bool = False) -> None:
        self.pos = (_WS_NL if newlines else _WS).match(self.text, self.pos).end()

    # -- document ---------------------------------------------------------
    def run(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_ws(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.peek(2) == "[[":
                start = self.pos
                self.pos += 2
                header = self.resolve(self.read_key()[0])
                self.skip_ws()
                self.pos += 2
                count = self.array_counts.get(header, 0)
                self.array_counts[header] = count + 1
                table = header + (count,)
                self.current_elements[header] = table
                self.record_key(table, start)
                self.record_value(table, start)
            elif self.peek() == "[":
                start = self.pos
                self.pos += 1
                table = self.resolve(self.read_key()[0])
                self.skip_ws()
                self.pos += 1
                self.record_key(table, start)
                self.record_value(table, start)
            else:
                self.key_value(table)

    def resolve(self, path: KeyPath) -> KeyPath:
        """Map a header path through arrays of tables to concrete elements."""
        out: KeyPath = ()
        last = len(path) - 1
        for i, part in enumerate(path):
            out = out + (part,)
            # every prefix but the header itself is the current element
            if i < last and out in self.current_elements:
                out = self.current_elements[out]
        return out

    def record_key(self, path: KeyPath, pos: int) -> None:
        self.index.keys.setdefault(path, pos)

    def record_value(self, path: KeyPath, pos: int) -> None:
        self.index.values.setdefault(path, pos)

    def key_value(self, table: KeyPath) -> None:
        keys, starts = self.read_key()
        for i in range(1, len(keys)):
            self.record_key(table + keys[:i], starts[i - 1])
        path = table + keys  # one tuple shared by both tables
        self.record_key(path, starts[-1])
        self.pos = _EQUALS.match(self.text, self.pos).end()
        self.value(path)

    def read_key(self) -> tuple[KeyPath, list[int]]:
        fast = _SIMPLE_KEY.match(self.text, self.pos)
        if fast:  # the common case: one bare key, then '=' or ']'
            self.pos = fast.end()
            return (sys.intern(fast.group(1)),), [fast.start(1)]
        parts: list[str] = []
        starts: list[int] = []
        while True:
            self.skip_ws()
            starts.append(self.pos)
            ch = self.peek()
            if ch == '"' or ch == "'":
                parts.append(self.read_string())
            else:
                match = _BARE_KEY.match(self.text, self.pos)
                if not match:
                    raise ValueError(f"unexpected {ch!r} at {self.line_col(self.pos)}")
                parts.append(match.group())
                self.pos = match.end()
            self.skip_ws()
            if self.peek() == ".":
                self.pos += 1
                continue
            return tuple(parts), starts

    def read_string(self) -> str:
        quote = self.peek()
        if self.peek(3) == quote * 3:
            # Escapes matter: \""" inside a basic string does not end it.
            match = (_ML_BASIC if quote == '"' else _ML_LITERAL).match(self.text, self.pos)
            self.pos = match.end()
            return match.group()[3:-3]
        match = (_BASIC_STRING if quote == '"' else _LITERAL_STRING).match(self.text, self.pos)
        raw = match.group()[1:-1]
        self.pos = match.end()
        if quote == '"' and "\\" in raw:
            return tomllib.loads(f'k = "{raw}"')["k"]
        return raw

    def value(self, path: KeyPath) -> None:
        self.record_value(path, self.pos)
        ch = self.peek()
        if ch == "{":
            self.pos += 1
            while True:
                self.skip_ws()
                if self.peek() == "}":
                    self.pos += 1
                    return
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.key_value(path)
        elif ch == "[":
            self.pos += 1
            i = 0
            while True:
                self.skip_ws(newlines=True)
                if self.peek() == "]":
                    self.pos += 1
                    return
                if self.peek() == ",":
                    self.pos += 1
                    continue
                item = path + (i,)
                self.record_key(item, self.pos)
                self.value(item)
                i += 1
        elif ch in "\"'":
            self.read_string()
        else:
            match = _SCALAR.match(self.text, self.pos)
            self.pos = match.end() if match else self.pos + 1
