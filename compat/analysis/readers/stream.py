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
back to a documented heuristic: it finds the ``cpu`` section's header and,
inside it, the first 32-bit count followed by that many strictly increasing
KVM register indexes; :attr:`StreamCpregs.described` says which way was used.

Public API: :func:`read_stream`, :func:`is_stream`, :class:`StreamCpregs`,
and the reader protocol (:mod:`compat.analysis.readers`): ``sniff``/``read``.
Errors are :class:`~compat.core.diagnostics.CompatError` located as
``FILE:OFFSET`` (a byte offset, ``0x``-prefixed) with what to do.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from compat.analysis.readers.base import ReadResult, Source
from compat.core.diagnostics import CompatError, Location
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
    (gzip magic 1f 8b, then the ``QEVM`` magic once decompressed).  A gzip -9
    member can spend its first hundred bytes on Huffman tables before the first
    output byte, so pass the whole file (or at least its first few KiB):
    decompression stops as soon as four bytes come out."""
    if data[:2] == b"\x1f\x8b":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = b""
        try:
            for start in range(0, len(data), 256):
                out += inflater.decompress(data[start:start + 256], 4 - len(out))
                if len(out) >= 4 or inflater.eof:
                    break
        except zlib.error:
            return False
        return out[:4] == MAGIC
    return data[:4] == MAGIC


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
    return ReadResult(FORMAT, stream.indexes, values=dict(stream.values),
                      description=f"QEMU migration stream ({stream.machine or 'machine unknown'})",
                      from_stream=True, provenance=stream.provenance())


class _Truncated(Exception):
    def __init__(self, offset: int, need: int, what: str):
        self.offset, self.need, self.what = offset, need, what


class _Parser:
    def __init__(self, data: bytes, name: str, instance: int):
        self.data = data
        self.name = name
        self.instance = instance
        self.pos = 0
        self.what = "the stream header"
        self.notes: list[str] = []

    # -- errors -------------------------------------------------------------
    def error(self, offset: int, message: str, hint: str | None = None) -> CompatError:
        return CompatError.at(Location(f"{self.name}:{offset:#x}"), message, hint=hint)

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
            raise self.error(exc.offset, f"truncated migration stream: {exc.need} more bytes "
                             f"needed for {exc.what}, the file ends at byte {len(self.data)}",
                             hint=_HINT_REMAKE) from None

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
        machine = None
        devices: dict[tuple[str, int], dict] = {}
        if desc is not None:
            for dev in desc.get("devices", []):
                if isinstance(dev, dict) and "name" in dev:
                    devices.setdefault((dev["name"], int(dev.get("instance_id", 0))), dev)
        cpus = sum(1 for (n, _) in devices if n == "cpu")
        page_size = int(desc.get("page_size", 4096)) if desc else 4096
        ignore_shared = False
        ram_sections: set[int] = set()
        while True:
            start = self.pos
            self.what = "a section header"
            kind = self.u8()
            if kind == CONFIGURATION:
                machine, bits, caps = self._configuration(desc)
                if bits and not desc:
                    page_size = 1 << bits
                ignore_shared = "x-ignore-shared" in caps
            elif kind in (SECTION_START, SECTION_FULL):
                section_id = self.u32()
                idstr = self.string()
                instance_id, version_id = self.u32(), self.u32()
                if desc is None:
                    self.pos = start
                    return self._heuristic(machine, version)
                if idstr == "ram":
                    ram_sections.add(section_id)
                    self._ram(page_size, ignore_shared)
                elif (idstr, instance_id) in devices:
                    dev = devices[(idstr, instance_id)]
                    if idstr == "cpu" and instance_id == self.instance:
                        return self._cpu(dev, version_id, machine, cpus, version)
                    self.what = f"section '{idstr}' (instance {instance_id})"
                    self._struct(dev, idstr)
                else:
                    raise self.error(start, f"section '{idstr}' (instance {instance_id}) is not "
                                     "in the stream's VM description, so it cannot be skipped",
                                     hint="only RAM and vmstate-described devices can precede "
                                     "the cpu section; report this stream")
                self._footer(section_id)
            elif kind in (SECTION_PART, SECTION_END):
                section_id = self.u32()
                if section_id not in ram_sections:
                    raise self.error(start, f"section {section_id} continues but is not RAM; "
                                     "this reader can only skip RAM's iterative sections")
                self._ram(page_size, ignore_shared)
                self._footer(section_id)
            elif kind == COMMAND:
                self.u16()
                self.take(self.u16())
            elif kind == EOF:
                if desc is None:
                    raise self._no_cpu(start, machine)
                raise self._no_cpu(start, machine)
            else:
                raise self.error(start, f"unknown section type {kind:#04x}",
                                 hint=_HINT_REMAKE)

    def _no_cpu(self, offset: int, machine: str | None) -> CompatError:
        which = "'cpu' section" if self.instance == 0 else f"'cpu' instance {self.instance}"
        return self.error(offset, f"the stream has no {which}"
                          + (f" (machine {machine})" if machine else ""),
                          hint="migrate a VM with an Arm vCPU; for vCPU N > 0 check -smp")

    def _description(self) -> dict | None:
        """The JSON VM description after the EOF byte, found from the end."""
        data = self.data
        end = len(data)
        pos = data.rfind(b"\x06", 0, end - 4)
        while pos >= 0:
            (length,) = struct.unpack(">I", data[pos + 1:pos + 5])
            if pos + 5 + length == end and data[pos + 5:pos + 6] == b"{":
                try:
                    desc = json.loads(data[pos + 5:end])
                except (ValueError, UnicodeDecodeError) as exc:
                    raise self.error(pos + 5, f"the VM description is not valid JSON: {exc}",
                                     hint=_HINT_REMAKE) from None
                if not isinstance(desc, dict):
                    raise self.error(pos + 5, "the VM description is not a JSON object")
                return desc
            pos = data.rfind(b"\x06", 0, pos)
        self.notes.append("the stream has no JSON VM description (suppress-vmdesc?); the "
                          "cpreg list was located heuristically")
        return None

    def _configuration(self, desc: dict | None) -> tuple[str, int | None, set[str]]:
        self.what = "the configuration section"
        start = self.pos
        length = self.u32()
        machine = self.take(length).decode("latin-1")
        config = desc.get("configuration") if desc else None
        bits, caps = None, set()
        if isinstance(config, dict):
            # Newer QEMUs describe the section, its len and name fields included.
            self.pos = start
            self._struct(config, "configuration")
            return machine, None, caps
        while self.peek() == SUBSECTION:
            at = self.pos
            self.u8()
            sub, _version = self.string(), self.u32()
            if sub == "configuration/target-page-bits":
                bits = self.u32()
            elif sub == "configuration/capabilities":
                for _ in range(self.u32()):
                    caps.add(self.string())
            elif sub == "configuration/uuid":
                self.take(16)
            else:
                raise self.error(at, f"unknown configuration subsection '{sub}' in a stream "
                                 "without a VM description",
                                 hint="migrate without -machine suppress-vmdesc=on")
        return machine, bits, caps

    def _footer(self, section_id: int) -> None:
        if self.peek() == FOOTER:
            at = self.pos
            self.what = "a section footer"
            self.u8()
            got = self.u32()
            if got != section_id:
                raise self.error(at, f"section footer names section {got}, expected "
                                 f"{section_id}: the stream is corrupt", hint=_HINT_REMAKE)

    def _ram(self, page_size: int, ignore_shared: bool) -> None:
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

    def _struct(self, desc: dict, where: str) -> dict[str, list[tuple[int, int]]]:
        """Skip one described struct; ``{field: [(offset, size), ...]}`` of
        its own fields (not its subsections')."""
        layout: dict[str, list[tuple[int, int]]] = {}
        for fdesc in desc.get("fields", []):
            try:
                size = int(fdesc["size"])
                count = int(fdesc.get("array_len", 1))
            except (KeyError, TypeError, ValueError):
                raise self.error(self.pos, f"the VM description of '{where}' has a field "
                                 f"without a size: {fdesc!r}") from None
            slots = layout.setdefault(str(fdesc.get("name")), [])
            for _ in range(count):
                slots.append((self.pos, size))
                self.take(size)
        for sub in desc.get("subsections", []):
            at = self.pos
            self.what = f"subsection '{sub.get('vmsd_name')}' of '{where}'"
            if self.u8() != SUBSECTION:
                raise self.error(at, f"subsection '{sub.get('vmsd_name')}' of '{where}' "
                                 "is not where the VM description puts it", hint=_HINT_REMAKE)
            name = self.string()
            self.u32()
            if name != sub.get("vmsd_name"):
                raise self.error(at, f"found subsection '{name}' where the VM description "
                                 f"puts '{sub.get('vmsd_name')}'", hint=_HINT_REMAKE)
            self._struct(sub, name)
        return layout

    def _cpu(self, dev: dict, version_id: int, machine: str | None, cpus: int,
             file_version: int) -> StreamCpregs:
        section_at = self.pos
        self.what = f"the 'cpu' section (instance {self.instance})"
        layout = self._struct(dev, "cpu")
        for key in ("cpreg_vmstate_array_len", "cpreg_vmstate_indexes", "cpreg_vmstate_values"):
            if key == "cpreg_vmstate_array_len" and key not in layout:
                raise self.error(section_at, "the 'cpu' section has no cpreg_vmstate_array_len "
                                 "field: not an Arm vCPU (target/arm/machine.c)",
                                 hint="pass a stream of qemu-system-aarch64 or qemu-system-arm")
        (len_at, len_size), = layout["cpreg_vmstate_array_len"]
        count = int.from_bytes(self.data[len_at:len_at + len_size], "big", signed=True)
        idx = layout.get("cpreg_vmstate_indexes", [])
        vals = layout.get("cpreg_vmstate_values", [])
        if count < 0 or len(idx) != count or len(vals) != count \
                or any(size != 8 for _, size in idx + vals):
            raise self.error(len_at, f"cpreg_vmstate_array_len is {count} but the VM "
                             f"description has {len(idx)} indexes and {len(vals)} values",
                             hint=_HINT_REMAKE)
        indexes = [int.from_bytes(self.data[o:o + 8], "big") for o, _ in idx]
        values = [int.from_bytes(self.data[o:o + 8], "big") for o, _ in vals]
        if version_id not in KNOWN_CPU_VERSIONS:
            self.notes.append(f"cpu vmstate version {version_id} is newer than this reader "
                              f"knows ({KNOWN_CPU_VERSIONS.stop - 1}); the VM description "
                              "gave the layout")
        return self._result(indexes, values, version_id, machine, max(cpus, 1), True, len_at,
                            file_version)

    def _result(self, indexes, values, version_id, machine, cpus, described, offset,
                file_version) -> StreamCpregs:
        pairs = dict(zip(indexes, values))
        if len(pairs) != len(indexes):
            raise self.error(offset, "the cpreg list names a register twice", hint=_HINT_REMAKE)
        return StreamCpregs(self.name, tuple(sorted(pairs)), pairs, version_id, file_version,
                            machine, self.instance, cpus, described, offset, tuple(self.notes))

    def _heuristic(self, machine: str | None, file_version: int) -> StreamCpregs:
        """No VM description: find the cpu section header, then the cpreg list."""
        pattern = re.compile(rb"\x04.{4}\x03cpu" + re.escape(struct.pack(">I", self.instance))
                             + rb"(.{4})", re.DOTALL)
        headers = list(pattern.finditer(self.data, self.pos))
        if not headers:
            raise self._no_cpu(self.pos, machine)
        cpus = len({m.group(0)[8:12] for m in
                    re.finditer(rb"\x04.{4}\x03cpu(.{4}).{4}", self.data, re.DOTALL)}) or 1
        header = headers[0]
        (version_id,) = struct.unpack(">I", header.group(1))
        if version_id not in KNOWN_CPU_VERSIONS:
            raise self.error(header.start(), f"unknown cpu vmstate version {version_id}: "
                             f"without a VM description this reader only knows versions "
                             f"{KNOWN_CPU_VERSIONS.start}..{KNOWN_CPU_VERSIONS.stop - 1}",
                             hint="migrate without -machine suppress-vmdesc=on so the stream "
                             "describes its own layout")
        data = self.data
        limit = min(len(data) - 4, header.end() + 64 * 1024)
        for at in range(header.end(), limit):
            (count,) = struct.unpack(">I", data[at:at + 4])
            if not 8 <= count <= 8192 or at + 4 + 16 * count > len(data):
                continue
            indexes = struct.unpack(f">{count}Q", data[at + 4:at + 4 + 8 * count])
            if all(i >> 56 in (0x40, 0x60) for i in indexes) and \
                    all(a < b for a, b in zip(indexes, indexes[1:])):
                values = struct.unpack(f">{count}Q",
                                       data[at + 4 + 8 * count:at + 4 + 16 * count])
                return self._result(indexes, values, version_id, machine, cpus, False, at,
                                    file_version)
        raise self.error(header.start(), "found the 'cpu' section but no cpreg list in it "
                         "(the stream has no VM description to locate it)",
                         hint="migrate without -machine suppress-vmdesc=on")


__all__ = ["StreamCpregs", "read_stream", "is_stream", "MAGIC", "KNOWN_CPU_VERSIONS"]
