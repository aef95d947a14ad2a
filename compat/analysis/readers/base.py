"""What every register-list reader shares: the :class:`Reader` protocol, the
:class:`Source` it reads, the :class:`ReadResult` it returns, and the text
preparation of the line formats (comments, ``# kernel:`` / ``# host:``
headers, the one number grammar of values, the KVM index check)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping, Protocol

from compat.core import codec
from compat.core.diagnostics import CompatError, Diagnostic, Location

_HEADER = re.compile(r"^#\s*(?P<key>kernel|host|vcpu-features)\s*:\s*(?P<value>.*?)\s*$",
                     re.IGNORECASE)
#: ``# comment`` after a register, as hand-made lists write them.
_TRAILING_HASH = re.compile(r"\s#.*$")
#: C0 controls other than layout (tab, newline, CR, form feed, vertical tab).
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f]")

EXPECTED = ("expected one hex register index per line (0x603000000013c103), a kernel "
            "selftest initializer (ARM64_SYS_REG(3, 0, 2, 0, 3),), 'INDEX VALUE' pairs "
            "or QEMU trace lines carrying 0x%016x indices")


@dataclass(frozen=True)
class Line:
    """One line of a text list that carries code (comments stripped)."""

    number: int      # 1-based
    code: str        # without comments, stripped
    raw: str         # as written


@dataclass(frozen=True)
class ReadResult:
    """What a reader found in one input: the indices (sorted, unique), the
    values when the input carries them, the header facts and warnings."""

    format: str                       # the reader's FORMAT (RegList.format)
    indices: tuple[int, ...]
    values: Mapping[int, int] | None = None
    #: ``{"kernel": (text, line), "host": (text, line)}`` from header comments
    headers: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    description: str | None = None
    #: the values were read from a QEMU migration stream (not a recorded list)
    from_stream: bool = False
    #: where a stream's list came from (``StreamCpregs.provenance``)
    provenance: Mapping[str, Any] | None = None
    #: ``Diagnostic`` objects of severity ``warning``, located in the input
    warnings: tuple[Diagnostic, ...] = ()
    #: KVM's writable masks per ID register (an ``.idregs`` file from Linux 6.7 on)
    masks: Mapping[int, int] | None = None


class Reader(Protocol):
    """One input format: a module under :mod:`compat.analysis.readers` with
    these names.  Detection asks each reader, lowest ``ORDER`` first, whether
    it ``sniff``\\ s the source; the first that does ``read``\\ s it, and a
    line it cannot read is a located error (never a hand-over to another
    format)."""

    FORMAT: str
    ORDER: int

    def sniff(self, source: "Source") -> bool:
        """Whether ``source`` is in this format (cheap; never raises)."""

    def read(self, source: "Source") -> ReadResult:
        """Read ``source``; :class:`CompatError` located ``file:line`` (or
        ``file:0xOFFSET`` in a binary format) when it cannot."""


@dataclass
class Source:
    """One input as the readers see it: its name for messages and its bytes
    (gzip already undone); text formats share :attr:`lines` and :attr:`headers`."""

    name: str
    data: bytes
    decoded: str | None = None      # the text, when the caller already has it

    def error(self, line: int, message: str, hint: str | None = EXPECTED) -> CompatError:
        return CompatError.at(Location(self.name, line), message, hint=hint)

    def warning(self, line: int, message: str) -> Diagnostic:
        return Diagnostic(Location(self.name, line), message, severity="warning")

    @cached_property
    def text(self) -> str:
        """The input as text (undecodable bytes replaced)."""
        if self.decoded is not None:
            return self.decoded
        return self.data.decode("utf-8", errors="replace")

    @cached_property
    def _prepared(self) -> tuple[tuple[Line, ...], dict[str, tuple[str, int]], int, int]:
        headers: dict[str, tuple[str, int]] = {}
        lines = []
        in_comment = False
        opened = 0      # the line of the last /* that is still open
        binary = 0      # the first line holding binary bytes
        for number, raw in enumerate(self.text.splitlines(), 1):
            stripped = raw.strip()
            match = _HEADER.match(stripped)
            if match and not in_comment:
                headers.setdefault(match["key"].lower(), (match["value"], number))
                continue
            if stripped.startswith("#") and not in_comment:
                continue
            was_open = in_comment
            code, in_comment = strip_c_comments(raw, in_comment)
            if in_comment and not was_open:
                opened = number
            code = _TRAILING_HASH.sub("", code).strip()
            if not binary and _BINARY.search(code):
                binary = number     # comments may hold controls (shown escaped), code not
            if code:
                lines.append(Line(number, code, raw))
        return tuple(lines), headers, (opened if in_comment else 0), binary

    @property
    def lines(self) -> tuple[Line, ...]:
        """The lines that carry code, in order."""
        return self._prepared[0]

    @property
    def headers(self) -> dict[str, tuple[str, int]]:
        """``# kernel:`` and ``# host:`` header values with their line."""
        return self._prepared[1]

    def check_text(self) -> None:
        """Refuse what no text list holds: binary bytes, a ``/*`` left open."""
        _, _, opened, binary = self._prepared
        if binary:
            raise self.error(binary, "binary data in a text register list: it is neither a "
                             "register list nor a QEMU migration stream",
                             hint="pass a KVM_GET_REG_LIST dump, or a complete migration "
                             "stream (QEVM, optionally gzipped)")
        if opened:
            raise self.error(opened, "a '/*' comment is never closed",
                             hint="close it with '*/'; everything after it would be ignored")


def strip_c_comments(line: str, in_comment: bool) -> tuple[str, bool]:
    """``line`` without C comments; whether a ``/*`` comment stays open."""
    out = []
    i = 0
    while i < len(line):
        if in_comment:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out), True
            i, in_comment = end + 2, False
            continue
        start = line.find("/*", i)
        slashes = line.find("//", i)
        if slashes >= 0 and (start < 0 or slashes < start):
            out.append(line[i:slashes])
            return "".join(out), False
        if start < 0:
            out.append(line[i:])
            break
        out.append(line[i:start])
        i, in_comment = start + 2, True
    return "".join(out), in_comment


def kvm_index(text: str) -> int:
    """A register index (C integer literal) that KVM or QEMU can name: its
    architecture byte is arm64 (0x60) or arm (0x40).  Raises
    :class:`~compat.core.codec.CodecError`."""
    return check_kvm_index(codec.parse_index(text), text)


def check_kvm_index(index: int, text: str | None = None) -> int:
    """``index`` if its architecture byte is one KVM uses, else CodecError."""
    if index >> codec.ARCH_SHIFT not in codec.ARCH_NAMES:
        shown = text if text is not None else f"{index:#x}"
        raise codec.CodecError(
            f"'{shown}' is not a KVM register index: its top byte is "
            f"{index >> codec.ARCH_SHIFT:#04x}, not 0x60 (arm64) or 0x40 (arm); write the "
            "whole 64-bit index, such as 0x603000000013c103")
    return index


#: The longest spelling of a 64-bit value worth reading (22 octal digits,
#: 20 decimal, 16 hex, leading zeros and a suffix allowed for).
MAX_NUMBER_CHARS = 40


def value_number(text: str) -> int:
    """A 64-bit register value in the codec's C integer grammar
    (:func:`compat.core.codec.c_number`), its length checked first.  A
    leading-zero octal spelling (``0123``) is refused: C reads it as 83, a
    person as 123."""
    if len(text) > MAX_NUMBER_CHARS:
        raise codec.CodecError(f"value '{text[:24]}...' is {len(text)} characters long; a "
                               "64-bit value takes at most 16 hex digits (0x...)")
    value = codec.c_number(text)
    digits = text.rstrip("uUlL")
    if len(digits) > 1 and digits[0] == "0" and digits[1] not in "xX":
        raise codec.CodecError(f"value '{text}' is ambiguous: C reads a leading 0 as octal "
                               f"({value}), so write it as hex (0x{value:x}) or without the 0")
    if value > codec.U64_MAX:
        raise codec.CodecError(f"value '{text}' does not fit in 64 bits")
    return value
