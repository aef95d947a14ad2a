"""Write small, valid QEMU migration streams for tests.

The layout is the one QEMU writes (see compat/analysis/stream.py): header,
configuration section, one FULL ``cpu`` section per vCPU with a section
footer, EOF and the JSON VM description.  The cpu section holds only the
three cpreg fields (plus one leading field, so offsets are not trivial).
"""

from __future__ import annotations

import json
import struct
from typing import Any, Mapping


def write_stream(values: Mapping[int, int], *, machine: str = "virt-11.1", cpus: int = 1,
                 cpu_version: int = 22, vmdesc: bool = True, ram_pages: tuple[bytes, ...] = (),
                 cpu_values: Mapping[int, Mapping[int, int]] | None = None,
                 description: Any = None) -> bytes:
    """A stream whose vCPUs all carry the cpreg list ``values`` (index -> value)
    (vCPU N carries ``cpu_values[N]`` instead, when given).  ``ram_pages``
    (4 KiB each) go into a RAM section before the cpus, as QEMU orders them;
    ``description`` replaces the JSON VM description (a JSON value, or bytes)."""
    out = bytearray(b"QEVM" + struct.pack(">I", 3))
    out += b"\x07" + struct.pack(">I", len(machine)) + machine.encode()
    if ram_pages:
        out += _ram_section(ram_pages)
    devices = []
    for cpu in range(cpus):
        values_here = (cpu_values or {}).get(cpu, values)
        indexes = sorted(values_here)
        section_id = cpu + 1
        out += b"\x04" + struct.pack(">I", section_id) + b"\x03cpu"
        out += struct.pack(">II", cpu, cpu_version)
        out += struct.pack(">Q", 0x40000000 + cpu)                     # env.pc
        out += struct.pack(">i", len(indexes))
        out += b"".join(struct.pack(">Q", i) for i in indexes)
        out += b"".join(struct.pack(">Q", values_here[i]) for i in indexes)
        out += b"\x7e" + struct.pack(">I", section_id)
        fields = [{"name": "env.pc", "type": "uint64", "size": 8},
                  {"name": "cpreg_vmstate_array_len", "type": "int32 le", "size": 4}]
        if indexes:
            fields += [{"name": "cpreg_vmstate_indexes", "array_len": len(indexes),
                        "type": "uint64", "size": 8},
                       {"name": "cpreg_vmstate_values", "array_len": len(indexes),
                        "type": "uint64", "size": 8}]
        devices.append({"name": "cpu", "instance_id": cpu, "vmsd_name": "cpu",
                        "version": cpu_version, "fields": fields})
    out += b"\x00"
    if description is not None:
        desc = description if isinstance(description, bytes) else json.dumps(description).encode()
        out += b"\x06" + struct.pack(">I", len(desc)) + desc
    elif vmdesc:
        desc = json.dumps({"page_size": 4096, "devices": devices}).encode()
        out += b"\x06" + struct.pack(">I", len(desc)) + desc
    return bytes(out)


def description_of(values: Mapping[int, int], cpus: int = 1) -> dict:
    """The JSON VM description :func:`write_stream` writes for ``values``."""
    data = write_stream(values, cpus=cpus)
    return json.loads(data[data.rindex(b'{"page_size"'):])


_RAM_ID = 100    # the RAM section's id (the cpus are 1..N)


def _ram_section(pages: tuple[bytes, ...]) -> bytes:
    """A RAM START section (the block list) and an END section with
    ``pages``, with the flags ``migration/ram.c`` writes."""
    block, page = b"mach-virt.ram", 4096
    out = bytearray(b"\x01" + struct.pack(">I", _RAM_ID) + b"\x03ram" + struct.pack(">II", 0, 4))
    out += struct.pack(">Q", len(pages) * page | 0x04)                  # MEM_SIZE
    out += bytes([len(block)]) + block + struct.pack(">Q", len(pages) * page)
    out += struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", _RAM_ID)   # EOS, footer
    out += b"\x03" + struct.pack(">I", _RAM_ID)
    for number, data in enumerate(pages):
        assert len(data) == page
        flags = 0x08 | (0x20 if number else 0)                            # PAGE, CONTINUE
        out += struct.pack(">Q", number * page | flags)
        if not number:
            out += bytes([len(block)]) + block
        out += data
    out += struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", _RAM_ID)
    return bytes(out)


def cpu_section_bytes(values: Mapping[int, int], instance: int = 0, version: int = 22) -> bytes:
    """What a ``cpu`` section header and its cpreg list look like (to plant
    in guest RAM)."""
    indexes = sorted(values)
    return (b"\x04" + struct.pack(">I", 1) + b"\x03cpu" + struct.pack(">II", instance, version)
            + struct.pack(">i", len(indexes)) + b"".join(struct.pack(">Q", i) for i in indexes)
            + b"".join(struct.pack(">Q", values[i]) for i in indexes))


def reglist_values(path, overrides: Mapping[int, int] | None = None) -> dict[int, int]:
    """The cpreg indexes of a register list file (values 0), with ``overrides``."""
    from compat.analysis.reglist import read_reglist
    reg = read_reglist(path)
    values = {i: 0 for i in sorted(reg.cpreg_indices())}
    values.update(overrides or {})
    return values
