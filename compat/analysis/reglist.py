"""Read host register lists: the one reader in front of the formats.

Three formats (:mod:`compat.analysis.readers`), told apart line by line:
plain indices, kernel selftest initializers, and QEMU migration failure
output.  Lines are stripped of ``#`` and C comments first; the header
comments ``# kernel: 6.12`` and ``# host: n1 (description)`` say whose list
it is.

A file with at least one trace-like line (text carrying a 16-digit index that
is neither a plain index nor a C expression) is read as a trace, whose other
log text is ignored; otherwise a line that is none of the formats is an error
naming ``file:line``.  Format detection never hides an error: in every format
a line that tries to be a register (a number, ``ARM64_SYS_REG(...)``,
``KVM_REG...``) and cannot be read is an error, a ``/*`` left open is an
error, and a list that yields no register is an error.

The kernel and host come from the header, else from a file name of the form
``HOST-linux-KERNEL.reglist``, else from the caller's fallbacks
(``--kernel FILE=X.Y`` / ``--host``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from compat.analysis.readers import SKIP, plain, selftest, trace
from compat.core import codec
from compat.core.diagnostics import CompatError, Location
from compat.core.versions import Version, VersionError

_HEADER = re.compile(r"^#\s*(?P<key>kernel|host)\s*:\s*(?P<value>.*?)\s*$", re.IGNORECASE)
_FILE_NAME = re.compile(r"^(?P<host>.+?)-linux-(?P<kernel>[0-9][^/]*?)\.reglist$")

PLAIN, C_INIT, TRACE = plain.FORMAT, selftest.FORMAT, trace.FORMAT
STREAM = "qemu-stream"
#: ``INDEX VALUE`` per line: a cpreg list with values, as ``compat lab migrate``
#: writes it (``source.cpregs``) from a migration stream
CPREGS = "cpregs"
_CPREG_LINE = re.compile(r"^(0x[0-9a-fA-F]{16})\s+(0x[0-9a-fA-F]+|[0-9]+)$")

#: A line that tries to be a register: read it, or report it (never skip it as log text).
_REGISTER_LIKE = re.compile(r"^(?:0[xX]|\d\w*[,;]?$|ARM64_|KVM_REG)")
#: ``# comment`` after a register, as hand-made lists write them.
_TRAILING_HASH = re.compile(r"\s#.*$")

_EXPECTED = ("expected one hex register index per line (0x603000000013c103), a kernel "
             "selftest initializer (ARM64_SYS_REG(3, 0, 2, 0, 3),) or QEMU trace lines "
             "carrying 0x%016x indices")


@dataclass(frozen=True)
class RegList:
    """One host's register list: what ``KVM_GET_REG_LIST`` returned for a vCPU."""

    path: str                        # as given; the name in messages
    host: str | None
    kernel: Version
    indices: tuple[int, ...]         # sorted, unique
    format: str = PLAIN
    description: str | None = field(default=None, compare=False)
    #: register values, when the input carries them (a migration stream)
    values: Mapping[int, int] | None = field(default=None, compare=False)
    #: where a stream's list came from (:meth:`StreamCpregs.provenance`)
    provenance: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """A short label: ``n1 6.12`` (or the file name when the host is unknown)."""
        return f"{self.host} {self.kernel}" if self.host else f"{Path(self.path).name} {self.kernel}"

    def cpreg_indices(self) -> frozenset[int]:
        """The indices QEMU migrates in the cpreg list (no core, no SVE)."""
        return frozenset(i for i in self.indices if codec.decode(i).in_cpreg_list())

    def to_json(self) -> dict:
        """A JSON-ready summary (without the indices)."""
        out = {"path": self.path, "host": self.host, "kernel": str(self.kernel),
               "format": self.format, "registers": len(self.indices)}
        if self.provenance is not None:
            out["stream"] = dict(self.provenance)
        return out


def read_reglist(path: Path | str, *, kernel: str | Version | None = None,
                 host: str | None = None, display_name: str | None = None) -> RegList:
    """Read the register list at ``path``; ``kernel``/``host`` are fallbacks
    used when neither the header nor the file name says."""
    path = Path(path)
    name = display_name or str(path)
    from compat.core.inputs import read_input
    raw = read_input(path, name, what="register list",
                     hint="pass the path of a KVM_GET_REG_LIST dump")
    if _looks_like_stream(raw):
        return _from_stream(raw, name, kernel=kernel, host=host)
    return parse_reglist(raw.decode("utf-8", errors="replace"), name, kernel=kernel, host=host)


# -- migration streams (binary; compat.analysis.readers.stream reads them) -----------

_STREAM_NAME = re.compile(r"^(?P<host>.+?)-linux-(?P<kernel>[0-9]+\.[0-9]+)(?:[.-].*)?$")


def _looks_like_stream(raw: bytes) -> bool:
    from compat.analysis.readers.stream import is_stream
    return is_stream(raw[:65536])


def _from_stream(raw: bytes, name: str, *, kernel, host) -> RegList:
    """A QEMU migration stream's cpreg list, with values.  A stream does not
    say which kernel it came from: a file name ``HOST-linux-KERNEL...``
    (``n1-linux-6.16.qevm``) or ``kernel`` does."""
    from compat.analysis.readers.stream import read_stream
    stream = read_stream(raw, name=name)
    from_name = _STREAM_NAME.match(Path(name).name)
    text = from_name["kernel"] if from_name else kernel
    if text is None:
        raise CompatError.at(Location(name), "cannot tell which host kernel this migration "
                             "stream comes from",
                             hint=f"pass --kernel {name}=X.Y, or name the file "
                             "HOST-linux-KERNEL.qevm")
    try:
        the_kernel = text if isinstance(text, Version) else Version.parse(str(text))
    except VersionError as exc:
        raise CompatError.at(Location(name), str(exc)) from None
    the_host = from_name["host"] if from_name else host
    if not stream.indexes:
        raise CompatError.at(Location(name), "the migration stream holds no cpreg register",
                             hint="pass a stream of an arm64 KVM guest")
    return RegList(name, the_host, the_kernel, stream.indexes, STREAM,
                   f"QEMU migration stream ({stream.machine or 'machine unknown'})",
                   values=dict(stream.values), provenance=stream.provenance())


def parse_reglist(text: str, name: str, *, kernel: str | Version | None = None,
                  host: str | None = None) -> RegList:
    """Parse register-list ``text``; ``name`` is the file name for messages."""
    headers: dict[str, tuple[str, int]] = {}
    lines = []      # (line number, code text, raw text)
    in_comment = False
    opened = 0      # the line of the last /* that is still open
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        match = _HEADER.match(stripped)
        if match and not in_comment:
            headers.setdefault(match["key"].lower(), (match["value"], number))
            continue
        if stripped.startswith("#") and not in_comment:
            continue
        was_open = in_comment
        code, in_comment = _strip_c_comments(raw, in_comment)
        if in_comment and not was_open:
            opened = number
        code = _TRAILING_HASH.sub("", code).strip()
        if code:
            lines.append((number, code, raw))
    if in_comment:
        raise CompatError.at(Location(name, opened), "a '/*' comment is never closed",
                             hint="close it with '*/'; everything after it would be ignored")

    pairs = [_CPREG_LINE.match(code) for _, code, _ in lines]
    if lines and all(pairs):
        return _cpregs(name, headers, lines, pairs, kernel, host)
    kinds = [(number, code, raw, _classify(code)) for number, code, raw in lines]
    if any(kind == TRACE for *_, kind in kinds):
        # a log: every 64-bit index in it, plus lines that are an index or a
        # register expression on their own (other log text is ignored)
        fmt = TRACE
        indices = {index for _, _, raw, _ in kinds for index in trace.indices(raw)}
        indices.update(kind[0] for *_, kind in kinds if isinstance(kind, tuple))
        for number, code, raw, kind in kinds:
            if isinstance(kind, str) and kind.startswith("error:"):
                raise CompatError.at(Location(name, number), kind[len("error:"):], hint=_EXPECTED)
            if kind is None and _REGISTER_LIKE.match(code):
                raise CompatError.at(Location(name, number), f"cannot read '{code}'",
                                     hint=_EXPECTED)
    else:
        indices = set()
        fmt = PLAIN
        for number, code, raw, kind in kinds:
            if kind == "skip":
                continue
            if kind is None or isinstance(kind, str) and kind.startswith("error:"):
                why = kind[len("error:"):] if kind else f"cannot read '{code}'"
                raise CompatError.at(Location(name, number), why, hint=_EXPECTED)
            value, line_kind = kind
            if line_kind == C_INIT:
                fmt = C_INIT
            indices.add(value)
    the_kernel, the_host, description = _identity(name, headers, kernel, host)
    if not indices:
        raise CompatError.at(Location(name), "the register list holds no register",
                             hint="a KVM_GET_REG_LIST dump lists hundreds of registers; "
                                  "is this the right file?")
    return RegList(name, the_host, the_kernel, tuple(sorted(indices)), fmt, description)


def _cpregs(name, headers, lines, pairs, kernel, host) -> RegList:
    """A cpreg list with values (``INDEX VALUE`` per line); the values feed the
    value rules and tolerance tests as a migration stream's would."""
    values: dict[int, int] = {}
    for (number, code, _), m in zip(lines, pairs):
        try:
            index = codec.parse_index(m.group(1))
        except codec.CodecError as exc:
            raise CompatError.at(Location(name, number), str(exc), hint=_EXPECTED) from None
        value = int(m.group(2), 0)
        if value >= 1 << 64:
            raise CompatError.at(Location(name, number), f"value {m.group(2)} does not fit 64 bits")
        if index in values:
            raise CompatError.at(Location(name, number), f"register 0x{index:016x} is listed twice")
        values[index] = value
    the_kernel, the_host, description = _identity(name, headers, kernel, host)
    return RegList(name, the_host, the_kernel, tuple(sorted(values)), CPREGS,
                   description or "cpreg list with values", values=values)


def _strip_c_comments(line: str, in_comment: bool) -> tuple[str, bool]:
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


def _classify(code: str):
    """``(index, format)`` for a register line, ``"skip"`` for array syntax,
    ``TRACE`` for text carrying indices, ``"error:..."`` or ``None``."""
    error = None
    for reader in (plain, selftest):
        try:
            found = reader.read_line(code)
        except codec.CodecError as exc:
            if reader is plain:
                return f"error:{exc}"
            error = f"error:{exc}"
            break
        if found is SKIP:
            return "skip"
        if found is not None:
            return found, reader.FORMAT
    if trace.carries_index(code):
        return TRACE
    return error


def _identity(name: str, headers: dict[str, tuple[str, int]], kernel, host):
    from_name = _FILE_NAME.match(Path(name).name)
    description = None
    if "host" in headers:
        value = headers["host"][0]
        the_host, _, rest = value.partition(" ")
        description = rest.strip().strip("()") or None
        the_host = the_host or None
    elif from_name:
        the_host = from_name["host"]
    else:
        the_host = host
    if "kernel" in headers:
        text, number = headers["kernel"]
        where = Location(name, number)
    elif from_name:
        text, where = from_name["kernel"], Location(name)
    elif kernel is not None:
        text, where = str(kernel), Location(name)
    else:
        raise CompatError.at(Location(name), "cannot tell which kernel this register list is from",
                             hint="add a '# kernel: 6.12' header line, name the file "
                             f"HOST-linux-KERNEL.reglist, or pass --kernel {name}=X.Y")
    if isinstance(text, Version):
        return text, the_host, description
    try:
        return Version.parse(text), the_host, description
    except VersionError as exc:
        raise CompatError.at(where, str(exc)) from None
