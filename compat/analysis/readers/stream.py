"""Read the cpreg list, with values, from a QEMU migration stream.

A QEMU migration stream (what ``migrate "exec:cat > FILE"`` writes) is
big-endian (``migration/savevm.c``, ``migration/savevm.h``):

* ``QEVM`` magic (0x5145564d) and the file version, 3;
* an optional configuration section: 0x07, a 32-bit length and the machine
  type name (``virt-7.2``), then its subsections;
* sections: 0x01 START / 0x02 PART / 0x03 END (iterative devices: RAM) and
  0x04 FULL (every other device); START and FULL carry a 32-bit section id,
  the device's id string (8-bit length), its 32-bit instance id and vmstate
  version; PART and END only the section id.  With section footers on (the
  default for current machine types) each section is followed by 0x7e and
  its section id;
* 0x00 EOF, then, unless the machine's ``suppress-vmdesc`` is set or the
  migration is in postcopy, 0x06 and a 32-bit length of a JSON *VM
  description*: every device section's fields with their byte sizes (as
  written), the array lengths and subsections (``migration/vmstate.c``).

The JSON description lets this module walk every section up to the ``cpu``
section without knowing any device's layout: RAM is read by its page flags,
every other device by the sizes the description gives.  In the Arm ``cpu``
section (``target/arm/machine.c``, ``vmstate_arm_cpu``) the cpreg list is
``cpreg_vmstate_array_len`` (int32) followed by ``cpreg_vmstate_indexes``
and ``cpreg_vmstate_values`` (that many uint64 each).

Without the description (``-machine suppress-vmdesc=on``) the reader falls
back to a documented heuristic: it still walks the sections (RAM by its page
flags, every other device to its section footer, ``0x7e`` and its id), and
inside each real ``cpu`` section takes the first 32-bit count followed by
that many strictly increasing KVM register indexes (and as many values);
:attr:`StreamCpregs.described` says which way was used, and a note (a
warning of the reader) says "located heuristically".  Every vCPU's list is
read; one that differs from the requested vCPU's is a note too.

Public API: :func:`read_stream`, :func:`is_stream`, :class:`StreamCpregs`,
and the reader protocol (:mod:`compat.analysis.readers`): ``sniff``/``read``.
Errors are :class:`~compat.core.diagnostics.CompatError` located as
``FILE:OFFSET`` (a byte offset, ``0x``-prefixed) with what to do.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from compat.analysis.readers import vmdesc
from compat.analysis.readers.base import ReadResult, Source
from compat.core.diagnostics import CompatError, Diagnostic, Location
from compat.core.inputs import gunzip, read_input

FORMAT = "qemu-stream"
ORDER = 10
BINARY = True

MAGIC = b"QEVM"
FILE_VERSION = 3
FILE_VERSION_COMPAT = 2

EOF, SECTION_START, SECTION_PART, SECTION_END, SECTION_FULL = 0x00, 0x01, 0x02, 0x03, 0x04
SUBSECTION, VMDESCRIPTION, CONFIGURATION, COMMAND, FOOTER = 0x05, 0x06, 0x07, 0x08, 0x7E

# RAM page flags (migration/ram.c)
_RAM_ZERO, _RAM_MEM_SIZE, _RAM_PAGE, _RAM_EOS = 0x02, 0x04, 0x08, 0x10
_RAM_CONTINUE, _RAM_XBZRLE, _RAM_HOOK, _RAM_MULTIFD_FLUSH = 0x20, 0x40, 0x80, 0x200

#: cpu vmstate versions whose layout this reader has seen: the cpreg arrays
#: are in the section from version 13 on; 22 is current since QEMU 2.x.
KNOWN_CPU_VERSIONS = range(13, 23)

_HINT_REMAKE = ("the file must be a complete QEMU migration stream: write it again with "
                "'migrate \"exec:cat > FILE\"' and wait until 'info migrate' says completed")


@dataclass(frozen=True)
class StreamCpregs:
    """The cpreg list of one vCPU as a migration stream carries it."""

    path: str                         # as given; the name in messages
    indexes: tuple[int, ...]          # sorted, unique
    values: Mapping[int, int]         # index -> value
    vmstate_version: int              # the cpu section's version_id
    file_version: int = FILE_VERSION
    machine: str | None = None        # from the configuration section (virt-7.2)
    instance_id: int = 0              # which vCPU
    cpus: int = 1                     # vCPUs in the stream
    described: bool = True            # found through the JSON VM description
    offset: int = 0                   # byte offset of cpreg_vmstate_array_len
    notes: tuple[str, ...] = field(default=(), compare=False)

    def provenance(self) -> dict[str, Any]:
        """A JSON-ready description of where the list came from."""
        return {"path": self.path, "format": "qemu-migration-stream",
                "file_version": self.file_version, "machine": self.machine,
                "cpu_vmstate_version": self.vmstate_version, "instance_id": self.instance_id,
                "cpus": self.cpus, "cpregs": len(self.indexes),
                "located_by": "vm-description" if self.described else "heuristic",
                "offset": self.offset, "notes": list(self.notes)}


def is_stream(data: bytes) -> bool:
    """Whether ``data`` starts a QEMU migration stream, plain or gzip-compressed
    (gzip magic 1f 8b, then the ``QEVM`` magic once decompressed; members that
    are empty are passed over).  A gzip -9
    member can spend its first hundred bytes on Huffman tables before the first
    output byte, so pass the whole file (or at least its first few KiB):
    decompression stops as soon as four bytes come out."""
    if data[:2] != b"\x1f\x8b":
        return data[:4] == MAGIC
    out, rest = b"", data
    try:
        while len(out) < 4 and rest[:2] == b"\x1f\x8b":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            pos = 0
            while pos < len(rest) and len(out) < 4 and not inflater.eof:
                out += inflater.decompress(rest[pos:pos + 256], 4 - len(out))
                pos += 256
            if not inflater.eof:
                break
            # the next member (an empty one may come first); gzip pads with NULs
            rest = (inflater.unused_data + rest[pos:]).lstrip(b"\0")
    except zlib.error:
        return False
    return out[:4] == MAGIC


def read_stream(source: str | Path | bytes, *, name: str | None = None,
                instance: int = 0) -> StreamCpregs:
    """The cpreg list (indexes and values) of vCPU ``instance`` in the stream
    ``source`` (a path, or the stream's bytes; gzip is undone)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, label = bytes(source), name or "<stream>"
    else:
        label = name or str(source)
        data = read_input(source, label, what="migration stream")
    if data[:2] == b"\x1f\x8b":
        data = gunzip(data, label, what="migration stream")
    return _Parser(data, label, instance).run()


def sniff(source: Source) -> bool:
    """Whether the input starts a migration stream (``QEVM``, maybe gzipped)."""
    return is_stream(source.data[:65536])


def read(source: Source) -> ReadResult:
    """The stream's cpreg list of vCPU 0, with values."""
    stream = read_stream(source.data, name=source.name)
    if not stream.indexes:
        raise CompatError.at(Location(source.name), "the migration stream holds no cpreg "
                             "register", hint="pass a stream of an arm64 KVM guest")
    where = Location(f"{source.name}:{stream.offset:#x}")
    warnings = tuple(Diagnostic(where, note, severity="warning") for note in stream.notes)
    return ReadResult(FORMAT, stream.indexes, values=dict(stream.values),
                      description=f"QEMU migration stream ({stream.machine or 'machine unknown'})",
                      from_stream=True, provenance=stream.provenance(), warnings=warnings)


class _Truncated(Exception):
    def __init__(self, offset: int, need: int, what: str):
        self.offset, self.need, self.what = offset, need, what


@dataclass(frozen=True)
class _Cpu:
    """One vCPU's cpreg list as found in its ``cpu`` section."""

    instance: int
    version: int
    indexes: tuple[int, ...]
    values: tuple[int, ...]
    offset: int


class _Parser:
    def __init__(self, data: bytes, name: str, instance: int):
        self.data = data
        self.name = name
        self.instance = instance
        self.pos = 0
        self.what = "the stream header"
        self.notes: list[str] = []
        self.machine: str | None = None
        self.page_size = 4096
        self.eof_at = 0

    # -- errors -------------------------------------------------------------
    def error(self, offset: int, message: str, hint: str | None = None) -> CompatError:
        return CompatError.at(Location(f"{self.name}:{offset:#x}"), message, hint=hint)

    def _truncated(self, exc: _Truncated) -> CompatError:
        return self.error(exc.offset, f"truncated migration stream: {exc.need} more bytes "
                          f"needed for {exc.what}, the file ends at byte {len(self.data)}",
                          hint=_HINT_REMAKE)

    # -- primitives ---------------------------------------------------------
    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _Truncated(self.pos, n, self.what)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack(">Q", self.take(8))[0]

    def string(self) -> str:
        return self.take(self.u8()).decode("latin-1")

    def peek(self) -> int | None:
        return self.data[self.pos] if self.pos < len(self.data) else None

    # -- the walk -----------------------------------------------------------
    def run(self) -> StreamCpregs:
        try:
            return self._run()
        except _Truncated as exc:
            raise self._truncated(exc) from None

    def _run(self) -> StreamCpregs:
        if len(self.data) < 8 or self.data[:4] != MAGIC:
            raise self.error(0, f"not a QEMU migration stream: it starts with "
                             f"{self.data[:4]!r}, not the 'QEVM' magic",
                             hint="pass a file written by 'migrate \"exec:cat > FILE\"' "
                             "(optionally gzipped), or a register list")
        self.pos = 4
        version = self.u32()
        if version != FILE_VERSION:
            old = " (QEMU before 1.3)" if version == FILE_VERSION_COMPAT else ""
            raise self.error(4, f"unknown migration stream version {version}{old}; this reader "
                             f"knows version {FILE_VERSION}",
                             hint="migrate with a QEMU from 1.3 on")
        desc = self._description()
        if desc is not None:
            self.page_size = desc.page_size
        cpus: dict[int, _Cpu] = {}
        try:
            self._walk(desc, cpus)
        except (CompatError, _Truncated) as exc:
            if self.instance not in cpus:
                raise
            why = (self._truncated(exc) if isinstance(exc, _Truncated) else exc).diagnostics[0]
            self.notes.append(f"the stream after vCPU {self.instance}'s cpu section could not "
                              f"be walked ({why.location}: {why.message}); other vCPUs were "
                              "not compared")
        if self.instance not in cpus:
            raise self._no_cpu(self.eof_at)
        target = cpus[self.instance]
        for other in sorted(cpus.values(), key=lambda c: c.instance):
            if other.indexes != target.indexes:
                mine, theirs = set(target.indexes), set(other.indexes)
                self.notes.append(
                    f"vCPU {other.instance}'s cpreg list differs from vCPU {self.instance}'s "
                    f"({len(theirs - mine)} registers only in vCPU {other.instance}, "
                    f"{len(mine - theirs)} only in vCPU {self.instance}); this reads vCPU "
                    f"{self.instance}")
        described_cpus = sum(1 for (n, _) in desc.devices if n == "cpu") if desc else 0
        return self._result(target, max(len(cpus), described_cpus, 1), desc is not None, version)

    def _walk(self, desc: vmdesc.Description | None, cpus: dict[int, _Cpu]) -> None:
        """Walk the sections up to EOF; every ``cpu`` section's list into ``cpus``."""
        ignore_shared = False
        ram_sections: set[int] = set()
        while True:
            start = self.pos
            self.what = "a section header"
            kind = self.u8()
            if kind == CONFIGURATION:
                ignore_shared = self._configuration(desc)
            elif kind in (SECTION_START, SECTION_FULL):
                section_id = self.u32()
                idstr = self.string()
                instance_id, version_id = self.u32(), self.u32()
                if idstr == "ram":
                    ram_sections.add(section_id)
                    self._ram(ignore_shared)
                elif desc is not None:
                    layout = desc.devices.get((idstr, instance_id))
                    if layout is None:
                        raise self.error(start, f"section '{idstr}' (instance {instance_id}) is "
                                         "not in the stream's VM description, so it cannot be "
                                         "skipped", hint="only RAM and vmstate-described devices "
                                         "can precede the cpu section; report this stream")
                    self.what = f"section '{idstr}' (instance {instance_id})"
                    fields = self._struct(layout, idstr)
                    if idstr == "cpu":
                        cpus.setdefault(instance_id, self._described_cpu(
                            fields, instance_id, version_id, start))
                elif self._heuristic_section(start, section_id, idstr, instance_id,
                                             version_id, cpus):
                    return
                self._footer(section_id)
            elif kind in (SECTION_PART, SECTION_END):
                section_id = self.u32()
                if section_id not in ram_sections:
                    raise self.error(start, f"section {section_id} continues but is not RAM; "
                                     "this reader can only skip RAM's iterative sections")
                self._ram(ignore_shared)
                self._footer(section_id)
            elif kind == COMMAND:
                self.u16()
                self.take(self.u16())
            elif kind == EOF:
                self.eof_at = start
                return
            else:
                raise self.error(start, f"unknown section type {kind:#04x}",
                                 hint=_HINT_REMAKE)

    def _no_cpu(self, offset: int) -> CompatError:
        which = "'cpu' section" if self.instance == 0 else f"'cpu' instance {self.instance}"
        return self.error(offset, f"the stream has no {which}"
                          + (f" (machine {self.machine})" if self.machine else ""),
                          hint="migrate a VM with an Arm vCPU; for vCPU N > 0 check -smp")

    def _description(self) -> vmdesc.Description | None:
        """The checked JSON VM description after the EOF byte, found from the end."""
        data = self.data
        end = len(data)
        pos = data.rfind(b"\x06", 0, end - 4)
        while pos >= 0:
            (length,) = struct.unpack(">I", data[pos + 1:pos + 5])
            if pos + 5 + length == end and data[pos + 5:pos + 6] == b"{":
                try:
                    return vmdesc.parse(data[pos + 5:end])
                except vmdesc.DescriptionError as exc:
                    raise self.error(pos + 5, str(exc), hint=_HINT_REMAKE) from None
            pos = data.rfind(b"\x06", 0, pos)
        self.notes.append("the stream has no JSON VM description (suppress-vmdesc?); the "
                          "cpreg list was located heuristically")
        return None

    def _configuration(self, desc: vmdesc.Description | None) -> bool:
        """Read the configuration section; whether ``x-ignore-shared`` is on."""
        self.what = "the configuration section"
        start = self.pos
        length = self.u32()
        self.machine = self.take(length).decode("latin-1")
        if desc is not None and desc.configuration is not None:
            # Newer QEMUs describe the section, its len and name fields included.
            self.pos = start
            self._struct(desc.configuration, "configuration")
            return False
        caps = set()
        while self.peek() == SUBSECTION:
            at = self.pos
            self.u8()
            sub, _version = self.string(), self.u32()
            if sub == "configuration/target-page-bits":
                bits = self.u32()
                if not 10 <= bits <= 20:
                    raise self.error(at, f"target-page-bits is {bits}; QEMU targets use 10 "
                                     "to 16", hint=_HINT_REMAKE)
                if desc is None:
                    self.page_size = 1 << bits
            elif sub == "configuration/capabilities":
                for _ in range(self.u32()):
                    caps.add(self.string())
            elif sub == "configuration/uuid":
                self.take(16)
            else:
                raise self.error(at, f"unknown configuration subsection '{sub}' in a stream "
                                 "without a VM description",
                                 hint="migrate without -machine suppress-vmdesc=on")
        return "x-ignore-shared" in caps

    def _footer(self, section_id: int) -> None:
        if self.peek() == FOOTER:
            at = self.pos
            self.what = "a section footer"
            self.u8()
            got = self.u32()
            if got != section_id:
                raise self.error(at, f"section footer names section {got}, expected "
                                 f"{section_id}: the stream is corrupt", hint=_HINT_REMAKE)

    def _ram(self, ignore_shared: bool) -> None:
        page_size = self.page_size
        self.what = "a RAM section"
        while True:
            at = self.pos
            header = self.u64()
            flags = header & (page_size - 1)
            if flags & _RAM_MEM_SIZE:
                total = header & ~(page_size - 1)
                while total > 0:
                    self.string()
                    total -= self.u64()
                    if ignore_shared:
                        self.u64()
            if flags & _RAM_ZERO:
                if not flags & _RAM_CONTINUE:
                    self.string()
                self.u8()
            elif flags & _RAM_PAGE:
                if not flags & _RAM_CONTINUE:
                    self.string()
                self.take(page_size)
            elif flags & (_RAM_XBZRLE | _RAM_HOOK):
                raise self.error(at, "the RAM section uses XBZRLE or RDMA hooks, which a "
                                 "file stream cannot carry",
                                 hint="migrate to a file without the xbzrle capability")
            if flags & _RAM_EOS:
                return
            known = _RAM_ZERO | _RAM_MEM_SIZE | _RAM_PAGE | _RAM_CONTINUE | _RAM_MULTIFD_FLUSH
            if flags & ~known:
                raise self.error(at, f"unknown RAM page flags {flags:#x}", hint=_HINT_REMAKE)

    def _struct(self, layout: vmdesc.Struct, where: str) -> dict[str, list[tuple[int, int, int]]]:
        """Skip one described struct; ``{field: [(offset, size, count), ...]}``
        of its own fields (not its subsections')."""
        fields: dict[str, list[tuple[int, int, int]]] = {}
        for f in layout.fields:
            left = len(self.data) - self.pos
            if f.size * f.count > left:
                raise self.error(self.pos, f"the VM description gives field '{f.name}' of "
                                 f"'{where}' {f.count} x {f.size} bytes, but only {left} bytes "
                                 "are left in the stream", hint=_HINT_REMAKE)
            fields.setdefault(f.name, []).append((self.pos, f.size, f.count))
            self.pos += f.size * f.count
        for sub in layout.subsections:
            at = self.pos
            self.what = f"subsection '{sub.name}' of '{where}'"
            if self.u8() != SUBSECTION:
                raise self.error(at, f"subsection '{sub.name}' of '{where}' "
                                 "is not where the VM description puts it", hint=_HINT_REMAKE)
            name = self.string()
            self.u32()
            if name != sub.name:
                raise self.error(at, f"found subsection '{name}' where the VM description "
                                 f"puts '{sub.name}'", hint=_HINT_REMAKE)
            self._struct(sub, name)
        return fields

    def _described_cpu(self, fields, instance: int, version_id: int, section_at: int) -> _Cpu:
        """The cpreg list of a walked ``cpu`` section, by its described layout."""
        length = fields.get("cpreg_vmstate_array_len")
        if not length:
            raise self.error(section_at, "the 'cpu' section has no cpreg_vmstate_array_len "
                             "field: not an Arm vCPU (target/arm/machine.c)",
                             hint="pass a stream of qemu-system-aarch64 or qemu-system-arm")
        len_at, len_size, len_count = length[0]
        idx = fields.get("cpreg_vmstate_indexes", [])
        vals = fields.get("cpreg_vmstate_values", [])
        if len(length) != 1 or len_count != 1 or len_size != 4:
            raise self.error(len_at, "the VM description's cpreg_vmstate_array_len is not one "
                             "int32", hint=_HINT_REMAKE)
        (count,) = struct.unpack_from(">i", self.data, len_at)
        described = [sum(c for _, _, c in field) for field in (idx, vals)]
        if count < 0 or described != [count, count] or len(idx) > 1 or len(vals) > 1 \
                or any(size != 8 for _, size, _ in idx + vals):
            raise self.error(len_at, f"cpreg_vmstate_array_len is {count} but the VM "
                             f"description has {described[0]} indexes and {described[1]} "
                             "values of 8 bytes", hint=_HINT_REMAKE)
        indexes = struct.unpack_from(f">{count}Q", self.data, idx[0][0]) if count else ()
        values = struct.unpack_from(f">{count}Q", self.data, vals[0][0]) if count else ()
        if version_id not in KNOWN_CPU_VERSIONS and instance == self.instance:
            self.notes.append(f"cpu vmstate version {version_id} is newer than this reader "
                              f"knows ({KNOWN_CPU_VERSIONS.stop - 1}); the VM description "
                              "gave the layout")
        return _Cpu(instance, version_id, indexes, values, len_at)

    def _result(self, cpu: _Cpu, cpus: int, described: bool, file_version: int) -> StreamCpregs:
        pairs = dict(zip(cpu.indexes, cpu.values))
        if len(pairs) != len(cpu.indexes):
            raise self.error(cpu.offset, "the cpreg list names a register twice",
                             hint=_HINT_REMAKE)
        return StreamCpregs(self.name, tuple(sorted(pairs)), pairs, cpu.version, file_version,
                            self.machine, self.instance, cpus, described, cpu.offset,
                            tuple(self.notes))

    # -- without a VM description ------------------------------------------
    def _heuristic_section(self, start: int, section_id: int, idstr: str, instance_id: int,
                           version_id: int, cpus: dict[int, _Cpu]) -> bool:
        """Skip a device section whose layout is unknown, to its footer; in
        a ``cpu`` section, find the cpreg list.  Only real section
        boundaries are looked at (RAM was walked page by page), so a page of
        guest memory that holds a section header is never taken for one.
        Returns True when the walk cannot go on (no section footers)."""
        content = self.pos
        end = self._section_end(section_id)
        if idstr == "cpu":
            if version_id not in KNOWN_CPU_VERSIONS:
                raise self.error(start, f"unknown cpu vmstate version {version_id}: "
                                 f"without a VM description this reader only knows versions "
                                 f"{KNOWN_CPU_VERSIONS.start}..{KNOWN_CPU_VERSIONS.stop - 1}",
                                 hint="migrate without -machine suppress-vmdesc=on so the "
                                 "stream describes its own layout")
            found = self._cpreg_list(content, end if end is not None
                                     else min(len(self.data), content + 64 * 1024))
            if found is None:
                raise self.error(start, "found the 'cpu' section but no cpreg list in it "
                                 "(the stream has no VM description to locate it)",
                                 hint="migrate without -machine suppress-vmdesc=on")
            cpus.setdefault(instance_id, _Cpu(instance_id, version_id, *found))
        if end is None:
            if cpus:
                self.notes.append("the stream has no section footers: the walk stopped at "
                                  f"section '{idstr}', later vCPUs were not compared")
                return True
            raise self.error(start, f"cannot skip section '{idstr}': the stream has neither a "
                             "VM description nor section footers",
                             hint="migrate without -machine suppress-vmdesc=on")
        self.pos = end
        return False

    def _section_end(self, section_id: int) -> int | None:
        """Where the footer of ``section_id`` starts: the first ``0x7e ID``
        followed by a plausible section header or EOF."""
        data = self.data
        footer = bytes([FOOTER]) + struct.pack(">I", section_id)
        at = data.find(footer, self.pos)
        while at >= 0:
            nxt = at + 5
            kind = data[nxt] if nxt < len(data) else None
            if kind in (EOF, SECTION_PART, SECTION_END, COMMAND):
                return at
            if kind in (SECTION_START, SECTION_FULL) and nxt + 10 <= len(data):
                size = data[nxt + 5]
                name = data[nxt + 6:nxt + 6 + size]
                if size and len(name) == size and all(0x20 < b < 0x7f for b in name):
                    return at
            at = data.find(footer, at + 1)
        return None

    def _cpreg_list(self, start: int, end: int):
        """``(indexes, values, offset)`` of the first int32 count followed by
        that many strictly increasing KVM indexes (and as many values)
        inside ``data[start:end]``, or None."""
        data = self.data
        for at in range(start, end - 4):
            (count,) = struct.unpack_from(">I", data, at)
            if not 8 <= count <= 8192 or at + 4 + 16 * count > end:
                continue
            indexes = struct.unpack_from(f">{count}Q", data, at + 4)
            if all(i >> 56 in (0x40, 0x60) for i in indexes) and \
                    all(a < b for a, b in zip(indexes, indexes[1:])):
                values = struct.unpack_from(f">{count}Q", data, at + 4 + 8 * count)
                return indexes, values, at
        return None


__all__ = ["StreamCpregs", "read_stream", "is_stream", "MAGIC", "KNOWN_CPU_VERSIONS"]
