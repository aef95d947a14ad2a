"""Read TOML while remembering where every key and value stands.

The TOML parser (:data:`toml_parser`: the compiled ``tomli`` when it is
installed, the standard library's ``tomllib`` otherwise; both implement
TOML 1.0 with the same messages) forgets positions, and a registry error is
only useful with ``file:line:col``.  After the parser has accepted a document,
:class:`PositionIndex` scans the same text once more (a small scanner that
only needs to handle valid TOML) and maps every key path, such as
``("registers", "TCR2_EL1", "encoding", "op0")`` or
``("machines", "virt", "versions", 2, "min-kernel")``, to the line and
column of its key and of its value.

A build only needs the positions of entities (a register, a change, a
machine version: they end up in generated files as provenance), so loading
records those and skips over every other value; the first location asked
for anything else (an error message) runs the full scan.  Both scans are
linear in the size of the text, however deep or long a key path.
"""

from __future__ import annotations

import bisect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compat.core.diagnostics import CompatError, Location
from compat.core.inputs import read_input
from compat.load import background

try:
    # tomli's mypyc-compiled wheels parse about twice as fast as tomllib (the
    # same parser, interpreted).  pyproject.toml keeps tomli below 2.4, whose
    # TOML 1.1 extensions tomllib and the position scan below do not accept.
    import tomli as toml_parser
except ImportError:  # pragma: no cover - tomli is a dependency
    import tomllib as toml_parser
import tomllib

#: ``toml_parser.TOMLDecodeError``: a syntax error from the parser in use.
TOMLDecodeError = toml_parser.TOMLDecodeError
_DECODE_ERRORS = (TOMLDecodeError, tomllib.TOMLDecodeError)


def _parse(text: str) -> dict[str, Any]:
    """``text`` parsed; where compiled tomli runs out of stack (arrays nested
    over 400 deep, key paths of thousands of parts) tomllib answers, so that
    the result is tomllib's either way."""
    try:
        return toml_parser.loads(text)
    except RecursionError:
        if toml_parser is tomllib:
            raise
        return tomllib.loads(text)

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


#: From this size on (about 1,500 registers), with two CPUs, the entity
#: positions are scanned in a forked child while this process parses: the
#: scan and the parser read only the text, and each is about a fifth of
#: loading a large registry.  Below it a fork costs more than it saves.
BACKGROUND_SCAN_CHARS = 1 << 19


def load_toml_text(text: str, filename: str) -> SourceDocument:
    """Parse ``text``; a syntax error becomes a located :class:`CompatError`."""
    scan = (background.start(_entity_positions, text)
            if len(text) >= BACKGROUND_SCAN_CHARS else None)
    try:
        try:
            data = _parse(text)
        except _DECODE_ERRORS as exc:
            raise _syntax_error(exc, filename, text) from None
        except RecursionError:
            line, col = _line_col(text, deepest_nesting(text))
            raise CompatError.at(Location(filename, line, col),
                                 "TOML nesting is too deep to read") from None
        root = scan.result() if scan is not None else _entity_positions(text)
    finally:
        if scan is not None:
            scan.cancel()
    return SourceDocument(filename, text, data, PositionIndex.partial(text, root))


def _entity_positions(text: str) -> "_Node":
    """The root of an entities-only :class:`PositionIndex` of ``text``."""
    return PositionIndex.scan(text, entities_only=True).root


def load_toml_file(path: Path, display_name: str | None = None) -> SourceDocument:
    """Read and parse a TOML file, with errors naming ``display_name``."""
    name = display_name or str(path)
    raw = read_input(path, name, what="registry",
                     hint="pass an existing registry with -r FILE")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CompatError.at(Location(name, line, 1),
                             "file is not valid UTF-8 (TOML files must be UTF-8)") from None
    return load_toml_text(text, name)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


_NEST_PLAIN = re.compile(r"[^\"'\[\]{}#]+")


def deepest_nesting(text: str) -> int:
    """Offset of the first bracket or brace at the deepest nesting of
    ``text`` (strings and comments skipped; one linear pass), for a located
    "nesting too deep" error."""
    depth = best = best_at = pos = 0
    end = len(text)
    while pos < end:
        match = _NEST_PLAIN.match(text, pos)
        if match:
            pos = match.end()
            if pos >= end:
                break
        ch = text[pos]
        if ch in "[{":
            depth += 1
            if depth > best:
                best, best_at = depth, pos
            pos += 1
        elif ch in "]}":
            depth = max(depth - 1, 0)
            pos += 1
        elif ch == "#":
            newline = text.find("\n", pos)
            pos = end if newline < 0 else newline
        else:
            pos = _skip_string(text, pos)
    return best_at


def _skip_string(text: str, pos: int) -> int:
    """End of the string starting at ``pos`` (past its end on bad input)."""
    quote = text[pos]
    if text.startswith(quote * 3, pos):
        match = (_ML_BASIC if quote == '"' else _ML_LITERAL).match(text, pos)
    else:
        match = (_BASIC_STRING if quote == '"' else _LITERAL_STRING).match(text, pos)
    return match.end() if match else pos + 1


def _syntax_error(exc: ValueError, filename: str, text: str) -> CompatError:
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


#: Sections whose members are entities, and the arrays of an entity whose
#: elements are entities too (their positions become provenance in outputs).
_SECTIONS = frozenset({"registers", "features", "machines"})
_ENTITY_ARRAYS = frozenset({"changes", "accepts", "versions", "writes"})
# Node roles: which values an entities-only scan walks into.
_ROOT, _SECTION, _TOP, _ENTITY, _ENTITY_ARRAY, _ELEMENT, _DEEP = range(7)
_WALKED = frozenset({_ROOT, _SECTION, _ENTITY, _ENTITY_ARRAY})
#: Tables whose plain keys an entities-only scan need not record.
_SKIPPABLE_KEYS = frozenset({_ENTITY, _ELEMENT, _DEEP})
#: One or more lines ``key = value`` an entities-only scan steps over at
#: once: a bare key that names no entity array, a value on its line (a
#: string, a number, a boolean, a date, an inline table or array with no
#: table or array inside), then blank and comment lines up to the next key
#: or header.  Anything else (dotted or quoted keys, multi-line values)
#: is left to the key-by-key path, which reaches the same result.
_ONE_LINE_STRING = r'"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\''
_FLAT_LINE = (
    r"(?!(?:" + "|".join(sorted(_ENTITY_ARRAYS)) + r")[ \t]*=)[A-Za-z0-9_-]+[ \t]*=[ \t]*"
    r"(?:" + _ONE_LINE_STRING + r"|[A-Za-z0-9_:.+-]+(?: [0-9:.+Z-]+)?"
    r"|\{(?:[^\n{}\[\]\"'#]|" + _ONE_LINE_STRING + r")*\}"
    r"|\[(?:[^\n{}\[\]\"'#]|" + _ONE_LINE_STRING + r")*\])"
    r"[ \t\r]*(?:#[^\n]*)?(?:\n|\Z)(?:[ \t\r\n]|#[^\n]*)*")
_FLAT_LINES = re.compile(f"(?:{_FLAT_LINE})+")


class _Node:
    """One key path: where its key and value were written, and its children.

    A trie instead of a dict of key-path tuples: resolving a header or a
    dotted key of n parts costs n steps, not n tuples of up to n parts."""

    __slots__ = ("key", "value", "children", "count", "role", "skipped")

    def __init__(self, role: int) -> None:
        self.key: int | None = None
        self.value: int | None = None
        self.children: dict[str | int, _Node] | None = None
        self.count = 0            # elements opened by "[[...]]" headers
        self.role = role
        self.skipped = False      # its value was skipped by an entities-only scan

    def child(self, part: str | int) -> "_Node":
        children = self.children
        if children is None:
            children = self.children = {}
        node = children.get(part)
        if node is None:
            role = self.role
            if role == _ROOT:
                role = _SECTION if part in _SECTIONS else _TOP
            elif role == _SECTION:
                role = _ENTITY
            elif role == _ENTITY:
                role = _ENTITY_ARRAY if part in _ENTITY_ARRAYS else _DEEP
            elif role == _ENTITY_ARRAY:
                role = _ELEMENT
            else:
                role = _DEEP
            node = children[part] = _Node(role)
        return node


class PositionIndex:
    """Key path -> position of its key and of its value, from a scan of
    valid TOML.

    Positions are kept as character offsets and turned into line and column
    only when a location is asked for.  An index built with
    ``entities_only`` holds the positions of entities (and of the keys seen
    on the way); the first question it cannot answer runs the full scan.
    """

    def __init__(self, text: str = "") -> None:
        self.text = text
        self.root = _Node(_ROOT)
        self.complete = True
        self._line_starts: list[int] | None = None

    @classmethod
    def scan(cls, text: str, *, entities_only: bool = False) -> "PositionIndex":
        """Positions of the keys and values of ``text`` (valid TOML).

        Positions only improve messages: should the scanner ever misread
        valid TOML, what it found so far is kept and other paths fall back
        to their nearest located ancestor, rather than crashing."""
        index = cls(text)
        index._scan(entities_only)
        return index

    @classmethod
    def partial(cls, text: str, root: "_Node") -> "PositionIndex":
        """The index of an entities-only scan of ``text`` that found ``root``."""
        index = cls(text)
        index.root, index.complete = root, False
        return index

    def _scan(self, entities_only: bool) -> None:
        self.root = _Node(_ROOT)
        self.complete = not entities_only
        try:
            _Scanner(self.text, self.root, entities_only).run()
        except (ValueError, IndexError, AttributeError, RecursionError):
            pass

    @property
    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        return self._line_starts

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        starts = self.line_starts
        line = bisect.bisect_right(starts, offset)
        return line, offset - starts[line - 1] + 1

    def find(self, path: KeyPath) -> "_Node | None":
        """The node of ``path``, None if it was not written (a partial
        index first completes itself when it cannot tell)."""
        nodes = self._walk(path)
        return nodes[-1] if len(nodes) == len(path) + 1 else None

    def _walk(self, path: KeyPath) -> "list[_Node]":
        """The nodes along ``path`` as far as it was written."""
        nodes = [self.root]
        node = self.root
        for part in path:
            nxt = node.children.get(part) if node.children else None
            if nxt is None:
                if node.skipped and not self.complete:
                    self._scan(entities_only=False)
                    return self._walk(path)
                break
            node = nxt
            nodes.append(node)
        return nodes

    def locate(self, filename: str, path: KeyPath, *, value: bool) -> Location:
        node: _Node | None = self.root
        for part in path:  # the common case, every entity's provenance: a written path
            children = node.children
            node = children.get(part) if children else None
            if node is None:
                break
        if node is not None:
            pos = node.value if value else None
            if pos is None:
                pos = node.key
            if pos is not None:
                return Location(filename, *self.line_col(pos))
        nodes = self._walk(path)
        for node in reversed(nodes[1:]):
            pos = node.value if value else None
            if pos is None:
                pos = node.key
            if pos is not None:
                return Location(filename, *self.line_col(pos))
        return Location(filename, 1, 1)


class _Scanner:
    """Just enough of a TOML reader to find positions in valid input."""

    def __init__(self, text: str, root: _Node, entities_only: bool = False) -> None:
        self.text = text
        self.pos = 0
        self.root = root
        self.entities_only = entities_only
        self.flat_lines = True  # tests turn the shortcut off to compare

    # -- position helpers -------------------------------------------------
    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def skip_ws(self, newlines: bool = False) -> None:
        self.pos = (_WS_NL if newlines else _WS).match(self.text, self.pos).end()

    # -- document ---------------------------------------------------------
    def run(self) -> None:
        table = self.root
        text = self.text
        while True:
            self.skip_ws(newlines=True)
            if self.pos >= len(text):
                return
            if text.startswith("[[", self.pos):
                start = self.pos
                self.pos += 2
                array = self.header(*self.read_key())
                self.skip_ws()
                self.pos += 2
                array.count += 1
                table = array.child(array.count - 1)
                array.key = start if array.key is None else array.key
                array.value = start if array.value is None else array.value
                table.key = table.value = start
            elif text.startswith("[", self.pos):
                start = self.pos
                self.pos += 1
                table = self.header(*self.read_key())
                self.skip_ws()
                self.pos += 1
                table.key = start if table.key is None else table.key
                table.value = start if table.value is None else table.value
            else:
                self.key_value(table)

    def header(self, parts: KeyPath, starts: list[int]) -> _Node:
        """The node a header names: every part but the last that is an
        array of tables means its current element.  Each part's key is
        located where the first header wrote it (an unknown section in a
        dotted header is reported on its line)."""
        node = self.root
        last = len(parts) - 1
        for i, part in enumerate(parts):
            node = node.child(part)
            if node.key is None and i < last:
                node.key = starts[i]
            if i < last and node.count:
                node = node.children[node.count - 1]  # type: ignore[index]
        return node

    def key_value(self, table: _Node) -> None:
        if self.entities_only and table.role in _SKIPPABLE_KEYS:
            flat = _FLAT_LINES.match(self.text, self.pos) if self.flat_lines else None
            if flat:  # most of a register's keys, in one step
                table.skipped = True
                self.pos = flat.end()
                return
            if self.skip_key_value(table):
                return
        keys, starts = self.read_key()
        node = table
        for part, start in zip(keys, starts):
            node = node.child(part)
            if node.key is None:
                node.key = start
        self.pos = _EQUALS.match(self.text, self.pos).end()
        self.value(node)

    def skip_key_value(self, table: _Node) -> bool:
        """In an entities-only scan, step over ``key = value`` without a node
        when the key holds no entity (most of a register's keys); the table
        is marked skipped, so asking for that key runs the full scan."""
        fast = _SIMPLE_KEY.match(self.text, self.pos)
        if fast is None:
            return False
        key = fast.group(1)
        if table.role == _ENTITY and key in _ENTITY_ARRAYS:
            return False
        table.skipped = True
        pos = _EQUALS.match(self.text, fast.end()).end()
        ch = self.text[pos:pos + 1]
        if ch in ("[", "{"):
            self.pos = pos
            self.skip_value()
        elif ch in ("\"", "'"):
            self.pos = _skip_string(self.text, pos)
        else:
            match = _SCALAR.match(self.text, pos)
            self.pos = match.end() if match else pos + 1
        return True

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
                    raise ValueError(f"unexpected {ch!r} at offset {self.pos}")
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
            return toml_parser.loads(f'k = "{raw}"')["k"]
        return raw

    def value(self, node: _Node) -> None:
        if node.value is None:
            node.value = self.pos
        ch = self.peek()
        if self.entities_only and node.role not in _WALKED and ch in "[{":
            node.skipped = True
            self.skip_value()
        elif ch == "{":
            self.pos += 1
            while True:
                self.skip_ws()
                if self.peek() == "}":
                    self.pos += 1
                    return
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.key_value(node)
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
                item = node.child(i)
                if item.key is None:
                    item.key = self.pos
                self.value(item)
                i += 1
        elif ch in "\"'":
            self.pos = _skip_string(self.text, self.pos)
        else:
            match = _SCALAR.match(self.text, self.pos)
            self.pos = match.end() if match else self.pos + 1

    def skip_value(self) -> None:
        """Step over an array or inline table without recording inside it."""
        text, pos, depth = self.text, self.pos, 0
        while True:
            match = _NEST_PLAIN.match(text, pos)
            if match:
                pos = match.end()
            ch = text[pos]
            if ch in "[{":
                depth += 1
                pos += 1
            elif ch in "]}":
                depth -= 1
                pos += 1
                if depth == 0:
                    self.pos = pos
                    return
            elif ch == "#":
                pos = text.index("\n", pos)
            else:
                pos = _skip_string(text, pos)
