"""One module per register-list format, and the registry detection walks.

Each format is a module here that satisfies :class:`base.Reader`: ``FORMAT``
(its name in ``RegList.format``), ``ORDER``, ``sniff(source)`` and
``read(source) -> ReadResult``.  :func:`detect` asks the readers in
``ORDER``, lowest first, and the first that sniffs the input reads it:

====  ==============  =====================================================
10    ``qemu-stream`` a QEMU migration stream (``QEVM``, binary)
15    ``idregs``      ID register values and masks (``# format: compat-idregs 1``)
20    ``cpregs``      ``INDEX VALUE`` per line (``compat lab migrate``)
30    ``trace``       QEMU migration failure output (log lines with indices)
40    ``c-initializer`` kernel selftest initializers (``ARM64_SYS_REG(...),``)
50    ``plain``       one index per line (the fallback: it sniffs anything)
====  ==============  =====================================================

Once a reader has taken an input, a line it cannot read is a located error:
detection never hands a file to another format halfway.  A new format is
one new module here with those four names; :func:`readers` finds it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from compat.analysis.readers.base import Reader, ReadResult, Source

_NOT_FORMATS = {"base"}


@lru_cache(maxsize=1)
def readers() -> tuple[Reader, ...]:
    """Every format module of this package, in detection order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_FORMATS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "FORMAT") and hasattr(module, "ORDER"):
            found.append(module)
    return tuple(sorted(found, key=lambda m: (m.ORDER, m.FORMAT)))


def detect(source: Source, *, binary: bool = True) -> Reader:
    """The first reader (in ``ORDER``) that sniffs ``source``; with
    ``binary=False`` only text formats are asked."""
    for reader in readers():
        if (binary or not getattr(reader, "BINARY", False)) and reader.sniff(source):
            return reader
    raise AssertionError("the plain reader sniffs every input")


def read(source: Source, *, binary: bool = True) -> ReadResult:
    """``source`` read by the reader :func:`detect` picks."""
    return detect(source, binary=binary).read(source)


__all__ = ["Reader", "ReadResult", "Source", "detect", "read", "readers"]
