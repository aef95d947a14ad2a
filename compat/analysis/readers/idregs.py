"""ID register values: ``NAME.idregs`` beside ``NAME.reglist``, as the lab's
collector writes them (``KVM_GET_ONE_REG`` of every register in the feature
ID range, op0 3, op1 0/1/3, CRn 0, CRm 0-7, and from the kernels that have
it ``KVM_ARM_GET_REG_WRITABLE_MASKS``).

The format (``# format: compat-idregs 1``, fixed with the lab)::

    # format: compat-idregs 1
    # kernel: 6.17.13+deb13
    # host: qemu11.1-max (...)
    # writable-masks: yes
    # entries: 2
    0x603000000013c038 0x0000000000000000 0x0000000000000000
    0x603000000013c03b 0x0000000000000111 0x000000000000fff0

``# key: value`` header lines first (``format`` the very first), then one
``INDEX VALUE MASK`` line per register, sorted by index; ``MASK`` is ``-``
when the kernel has no writable masks (``# writable-masks: no (reason)``).
Every line that is not exactly that is a located error.  Detection takes
such a file by its first line, but it is no register list: ``check``,
``diff`` and ``audit`` read it as the sibling of its ``.reglist``
(:func:`compat.analysis.reglist.read_reglist`).
"""

from __future__ import annotations

import re

from compat.analysis.readers.base import ReadResult, Source, kvm_index, value_number
from compat.core import codec
from compat.core.model import in_id_range

FORMAT = "idregs"
ORDER = 15
MAGIC = "compat-idregs 1"

_HEADER = re.compile(r"^#\s*(?P<key>[a-z][a-z0-9-]*)\s*:\s*(?P<value>.*?)\s*$")
_HINT = ("an .idregs file has '# key: value' headers (format first, writable-masks, "
         "entries), then 'INDEX VALUE MASK' lines (0x%016x each; MASK '-' without "
         "writable masks), sorted by index")


def sniff(source: Source) -> bool:
    """Whether the first line is ``# format: compat-idregs ...``."""
    first = source.text.lstrip("\ufeff").split("\n", 1)[0]
    match = _HEADER.match(first.strip())
    return bool(match and match["key"] == "format" and match["value"].startswith("compat-idregs"))


def read(source: Source) -> ReadResult:
    """The ID registers' values and masks; any other line is a located error."""
    source.check_text()
    headers: dict[str, tuple[str, int]] = {}
    values: dict[int, int] = {}
    masks: dict[int, int] = {}
    last = (0, 0)            # (index, line) of the previous register
    lines = source.text.splitlines()
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text:
            continue
        if text.startswith("#"):
            match = _HEADER.match(text)
            if match is None or values:
                continue         # a comment, or a header after the registers: a comment
            if match["key"] in headers:
                raise source.error(number, f"header '{match['key']}' given twice (first at "
                                   f"line {headers[match['key']][1]})", hint=_HINT)
            headers[match["key"]] = (match["value"], number)
            if len(headers) == 1 and (match["key"] != "format" or match["value"] != MAGIC):
                raise source.error(number, f"expected '# format: {MAGIC}' first, found "
                                   f"'{text[:60]}'", hint=_HINT)
            continue
        with_masks = _masks_header(source, headers, number)
        parts = text.split()
        if len(parts) != 3:
            raise source.error(number, f"cannot read '{text[:60]}': expected 'INDEX VALUE "
                               "MASK'", hint=_HINT)
        try:
            index = kvm_index(parts[0])
            value = value_number(parts[1])
            mask = None if parts[2] == "-" else value_number(parts[2])
        except codec.CodecError as exc:
            raise source.error(number, str(exc), hint=_HINT) from None
        if not in_id_range(index):
            raise source.error(number, f"{codec.format_index(index)} "
                               f"({codec.decode(index).qemu_name}) is not in the feature ID "
                               "range (op0 3, op1 0/1/3, CRn 0, CRm 0-7)", hint=_HINT)
        if index <= last[0]:
            what = "listed twice" if index == last[0] else "out of order"
            raise source.error(number, f"register {codec.format_index(index)} is {what} "
                               f"(after line {last[1]}): the lines are sorted by index",
                               hint=_HINT)
        if with_masks and mask is None:
            raise source.error(number, "MASK is '-' but the header says writable-masks: yes",
                               hint=_HINT)
        if not with_masks and mask is not None:
            raise source.error(number, "a MASK is given but the header says writable-masks: "
                               "no", hint="write '-' for the mask, or fix the header")
        values[index], last = value, (index, number)
        if mask is not None:
            masks[index] = mask
    if "format" not in headers:
        raise source.error(1, "not an .idregs file: no '# format: compat-idregs 1' header",
                           hint=_HINT)
    with_masks = _masks_header(source, headers, len(lines))
    _check_count(source, headers, len(values), len(lines))
    return ReadResult(FORMAT, tuple(sorted(values)), values=values, headers=headers,
                      description="ID register values", masks=masks if with_masks else None)


def _masks_header(source: Source, headers, number: int) -> bool:
    """``# writable-masks: yes`` / ``no (reason)``, required before the registers."""
    if "writable-masks" not in headers:
        raise source.error(number, "no '# writable-masks: yes|no (reason)' header before "
                           "the registers", hint=_HINT)
    value, line = headers["writable-masks"]
    word = value.split(" ", 1)[0]
    if word not in ("yes", "no"):
        raise source.error(line, f"writable-masks is '{value[:40]}', expected 'yes' or "
                           "'no (reason)'", hint=_HINT)
    return word == "yes"


def _check_count(source: Source, headers, count: int, last_line: int) -> None:
    if "entries" not in headers:
        raise source.error(last_line, "no '# entries: N' header", hint=_HINT)
    text, line = headers["entries"]
    if not text.isdigit() or len(text) > 6:
        raise source.error(line, f"entries is '{text[:20]}', expected a count", hint=_HINT)
    if int(text) != count:
        raise source.error(line, f"the header says {int(text)} entries, the file holds "
                           f"{count}: is it truncated?", hint=_HINT)
