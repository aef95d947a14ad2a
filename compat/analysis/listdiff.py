"""What changed between two register lists (``compat diff``)."""

from __future__ import annotations

from compat.core import codec
from compat.analysis.reglist import RegList
from compat.core.model import Registry


def diff_lists(old: RegList, new: RegList, registry: Registry) -> list[dict]:
    """Each register in exactly one list, decoded, named and with what it breaks."""
    by_index = registry.register_by_index()
    rows = []
    for change, indices in (("added", set(new.indices) - set(old.indices)),
                            ("removed", set(old.indices) - set(new.indices))):
        for index in sorted(indices):
            decoded = codec.decode(index)
            reg = by_index.get(index)
            migrates = decoded.in_cpreg_list()
            if not migrates:
                breaks = "nothing (not in QEMU's cpreg list)"
            elif change == "added":
                breaks = f"backward migration {new.name} -> {old.name}"
            else:
                breaks = f"forward migration {old.name} -> {new.name}"
            if reg is None:
                covered = "not in the registry"
            elif reg.compat is None:
                covered = "in the registry, without a compat rule"
            else:
                covered = f"in the registry: compat = \"{reg.compat}\""
            rows.append({"change": change, "index": codec.format_index(index),
                         "name": reg.name if reg is not None else decoded.name,
                         "qemu_name": decoded.qemu_name, "encoding": decoded.encoding(),
                         "in_cpreg_list": migrates, "breaks": breaks,
                         "in_registry": reg is not None,
                         "compat": reg.compat if reg is not None else None,
                         "covered": covered})
    return rows
