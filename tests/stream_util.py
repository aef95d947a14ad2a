"""Write small, valid QEMU migration streams for tests.

The layout is the one QEMU writes (see compat/analysis/stream.py): header,
configuration section, one FULL ``cpu`` section per vCPU with a section
footer, EOF and the JSON VM description.  The cpu section holds only the
three cpreg fields (plus one leading field, so offsets are not trivial).
"""

from __future__ import annotations

import json
import struct
from typing import Mapping


def write_stream(values: Mapping[int, int], *, machine: str = "virt-11.1", cpus: int = 1,
                 cpu_version: int = 22, vmdesc: bool = True) -> bytes:
    """A stream whose vCPUs all carry the cpreg list ``values`` (index -> value)."""
    indexes = sorted(values)
    out = bytearray(b"QEVM" + struct.pack(">I", 3))
    out += b"\x07" + struct.pack(">I", len(machine)) + machine.encode()
    devices = []
    for cpu in range(cpus):
        section_id = cpu + 1
        out += b"\x04" + struct.pack(">I", section_id) + b"\x03cpu"
        out += struct.pack(">II", cpu, cpu_version)
        out += struct.pack(">Q", 0x40000000 + cpu)                     # env.pc
        out += struct.pack(">i", len(indexes))
        out += b"".join(struct.pack(">Q", i) for i in indexes)
        out += b"".join(struct.pack(">Q", values[i]) for i in indexes)
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
    if vmdesc:
        desc = json.dumps({"page_size": 4096, "devices": devices}).encode()
        out += b"\x06" + struct.pack(">I", len(desc)) + desc
    return bytes(out)


def reglist_values(path, overrides: Mapping[int, int] | None = None) -> dict[int, int]:
    """The cpreg indexes of a register list file (values 0), with ``overrides``."""
    from compat.analysis.reglist import read_reglist
    reg = read_reglist(path)
    values = {i: 0 for i in sorted(reg.cpreg_indices())}
    values.update(overrides or {})
    return values
