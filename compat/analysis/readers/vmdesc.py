"""The JSON VM description at the end of a QEMU migration stream, read into
typed, checked structures (``migration/vmstate.c`` writes it: every device
section's fields with their byte sizes and array lengths, and subsections).

Nothing of the JSON reaches the stream walker unchecked: a wrong type, a
size that is not positive, a description larger than
:data:`MAX_DESCRIPTION_BYTES` or with more than :data:`MAX_OBJECTS` objects
is an error located at the description's byte offset, naming the JSON path
(``devices[4].fields[2].size``).  Not a reader format (no ``FORMAT``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

#: Real descriptions are tens of KiB (virt with 2 vCPUs: 17 KiB).
MAX_DESCRIPTION_BYTES = 4 * 1024 * 1024
#: JSON objects in one description; real ones hold a few thousand.
MAX_OBJECTS = 200_000
#: Subsections inside subsections; QEMU nests two or three deep.
MAX_DEPTH = 16
#: Page sizes a QEMU target uses (4 KiB to 64 KiB; allow up to 1 MiB).
PAGE_SIZES = tuple(1 << bits for bits in range(10, 21))


class DescriptionError(Exception):
    """A VM description that is not what QEMU writes; ``str()`` says why."""


@dataclass(frozen=True)
class Field:
    """One described field: ``count`` elements of ``size`` bytes."""

    name: str
    size: int
    count: int


@dataclass(frozen=True)
class Struct:
    """A described struct (a device section or a subsection)."""

    name: str
    fields: tuple[Field, ...]
    subsections: tuple["Struct", ...]


@dataclass(frozen=True)
class Description:
    """A checked VM description."""

    page_size: int
    devices: dict[tuple[str, int], Struct]   # (idstr, instance_id) -> layout
    configuration: Struct | None


def parse(text: bytes) -> Description:
    """Check and read the description's JSON bytes."""
    if len(text) > MAX_DESCRIPTION_BYTES:
        raise DescriptionError(f"the VM description is {len(text)} bytes, more than the "
                               f"{MAX_DESCRIPTION_BYTES >> 20} MiB a real one could need")
    objects = 0

    def counted(pairs):
        nonlocal objects
        objects += 1
        if objects > MAX_OBJECTS:
            raise DescriptionError(f"the VM description holds more than {MAX_OBJECTS} "
                                   "JSON objects")
        return dict(pairs)

    try:
        data = json.loads(text, object_pairs_hook=counted)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DescriptionError(f"the VM description is not valid JSON: {exc}") from None
    except RecursionError:
        raise DescriptionError("the VM description nests too deeply") from None
    return _description(data)


def _description(data) -> Description:
    if not isinstance(data, dict):
        raise DescriptionError(f"the VM description is {_kind(data)}, not a JSON object")
    page_size = data.get("page_size", 4096)
    if not _is_int(page_size) or page_size not in PAGE_SIZES:
        raise DescriptionError(f"the VM description's page_size must be a power of two from "
                               f"1024 to 1 MiB, not {_shown(page_size)}")
    devices: dict[tuple[str, int], Struct] = {}
    for i, dev in enumerate(_list(data, "devices", "")):
        where = f"devices[{i}]"
        _need_dict(dev, where)
        name = _string(dev, "name", where)
        instance = dev.get("instance_id", 0)
        if not _is_int(instance) or not 0 <= instance < 1 << 32:
            raise DescriptionError(f"the VM description's {where}.instance_id must be an "
                                   f"integer from 0 to 2^32-1, not {_shown(instance)}")
        devices.setdefault((name, instance), _struct(dev, where, name, 0))
    config = data.get("configuration")
    if config is not None:
        _need_dict(config, "configuration")
        config = _struct(config, "configuration", "configuration", 0)
    return Description(page_size, devices, config)


def _struct(node: dict, where: str, name: str, depth: int) -> Struct:
    if depth > MAX_DEPTH:
        raise DescriptionError(f"the VM description's {where} nests subsections more than "
                               f"{MAX_DEPTH} deep")
    fields = []
    for j, fdesc in enumerate(_list(node, "fields", where)):
        at = f"{where}.fields[{j}]"
        _need_dict(fdesc, at)
        field_name = fdesc.get("name", "")
        if not isinstance(field_name, str):
            raise DescriptionError(f"the VM description's {at}.name must be a string, "
                                   f"not {_shown(field_name)}")
        size = fdesc.get("size")
        if not _is_int(size) or size <= 0:
            raise DescriptionError(f"the VM description's {at}.size must be a positive "
                                   f"integer, not {_shown(size)}")
        count = fdesc.get("array_len", 1)
        if not _is_int(count) or count < 0:
            raise DescriptionError(f"the VM description's {at}.array_len must be a "
                                   f"non-negative integer, not {_shown(count)}")
        fields.append(Field(field_name, size, count))
    subs = []
    for k, sub in enumerate(_list(node, "subsections", where)):
        at = f"{where}.subsections[{k}]"
        _need_dict(sub, at)
        subs.append(_struct(sub, at, _string(sub, "vmsd_name", at), depth + 1))
    return Struct(name, tuple(fields), tuple(subs))


def _list(node: dict, key: str, where: str) -> list:
    value = node.get(key, [])
    if not isinstance(value, list):
        path = f"{where}.{key}" if where else key
        raise DescriptionError(f"the VM description's {path} must be a list, not "
                               f"{_shown(value)}")
    return value


def _string(node: dict, key: str, where: str) -> str:
    value = node.get(key)
    if not isinstance(value, str):
        raise DescriptionError(f"the VM description's {where}.{key} must be a string, not "
                               f"{_shown(value)}")
    return value


def _need_dict(node, where: str) -> None:
    if not isinstance(node, dict):
        raise DescriptionError(f"the VM description's {where} must be an object, not "
                               f"{_shown(node)}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null", float: "a number"}.get(type(value), "a number")


def _shown(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
