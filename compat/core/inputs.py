"""Reading input files: regular files only, and never more than a bound.

Every file compat reads as input (a registry, a register list, a migration
stream, an existing output it compares against) comes through
:func:`read_input`.  A FIFO, a device (``/dev/zero``), a socket or a
directory is refused *before* it is opened, so a planted FIFO cannot hang a
build and ``/dev/zero`` cannot grow memory without bound; the open itself is
non-blocking and re-checked with ``fstat``, so a file swapped for a FIFO in
between is refused too.  What is read is bounded by :data:`MAX_INPUT_BYTES`,
and so is what a gzip-compressed input expands to (:func:`gunzip`).
"""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path

from compat.core.diagnostics import CompatError, Location

#: The most compat reads from one input (or a compressed input expands to).
#: The largest real inputs are a few megabytes; a 100k-register registry is
#: about 30 MB.
MAX_INPUT_BYTES = 256 * 1024 * 1024

_CHUNK = 1 << 20


class InputTooLarge(CompatError):
    """An input larger than the limit (a :class:`CompatError`)."""


def size_text(limit: int) -> str:
    """``256 MiB`` (or bytes, for a limit that is not whole mebibytes)."""
    return f"{limit >> 20} MiB" if limit % (1 << 20) == 0 else f"{limit} bytes"


def file_kind(mode: int) -> str | None:
    """What a non-regular file is (``"a FIFO"``), or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def not_regular(name: str, kind: str, what: str, hint: str | None = None) -> CompatError:
    if hint is None:
        hint = ("pass a file inside it" if kind == "a directory" else
                "compat reads regular files only; save the data to a file and pass that")
    return CompatError.at(Location(name), f"cannot read {what}: it is {kind}, not a regular "
                          "file", hint=hint)


def read_input(path: Path | str, display: str | None = None, *, what: str = "file",
               limit: int | None = None, hint: str | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Errors are :class:`CompatError` located at ``display`` (default: the
    path) and say ``cannot read WHAT``; ``hint`` is added to an OS error
    (a missing file)."""
    name = display if display is not None else str(path)
    limit = MAX_INPUT_BYTES if limit is None else limit
    try:
        before = os.stat(path)
    except (OSError, ValueError) as exc:
        raise _os_error(name, what, exc, hint) from None
    kind = file_kind(before.st_mode)
    if kind is not None:
        raise not_regular(name, kind, what)
    if before.st_size > limit:
        raise _too_big(name, what, limit)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        raise _os_error(name, what, exc, hint) from None
    try:
        kind = file_kind(os.fstat(fd).st_mode)  # swapped for a FIFO since the stat?
        if kind is not None:
            raise not_regular(name, kind, what)
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # a file that grows while it is read
                raise _too_big(name, what, limit)
        return b"".join(chunks)
    except OSError as exc:
        raise _os_error(name, what, exc, hint) from None
    finally:
        os.close(fd)


def gunzip(data: bytes, name: str, *, what: str = "file", limit: int | None = None) -> bytes:
    """Decompress gzip ``data`` (every member), refusing more than ``limit``
    bytes of output: a small "gzip bomb" must not exhaust memory."""
    limit = MAX_INPUT_BYTES if limit is None else limit
    out = []
    total = 0
    rest = data
    try:
        while rest:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = inflater.decompress(rest, limit + 1 - total)
            while True:
                total += len(chunk)
                out.append(chunk)
                if total > limit:
                    raise InputTooLarge.at(Location(name), f"cannot read {what}: it expands to "
                                         f"more than {size_text(limit)} (the limit)",
                                         hint="a real input is far smaller; is this the "
                                         "right file?")
                if inflater.eof or not inflater.unconsumed_tail:
                    break
                chunk = inflater.decompress(inflater.unconsumed_tail, limit + 1 - total)
            if not inflater.eof:  # output zlib still holds (at most a window)
                chunk = inflater.flush()
                total += len(chunk)
                out.append(chunk)
                if total > limit or not inflater.eof:
                    raise EOFError("compressed file ended before the end-of-stream marker"
                                   if total <= limit else "it expands beyond the limit")
            rest = inflater.unused_data.lstrip(b"\0")  # gzip pads members with NULs
    except zlib.error as exc:
        raise CompatError.at(Location(name), f"cannot gunzip {what}: {exc}",
                             hint="check the file is complete (gzip -t FILE)") from None
    except EOFError as exc:
        raise CompatError.at(Location(name), f"cannot gunzip {what}: {exc}",
                             hint="check the file is complete (gzip -t FILE)") from None
    return b"".join(out)


def _too_big(name: str, what: str, limit: int) -> CompatError:
    return InputTooLarge.at(Location(name), f"cannot read {what}: it is larger than "
                          f"{size_text(limit)} (the limit for one input)",
                          hint="a real input is far smaller; is this the right file?")


def _os_error(name: str, what: str, exc: BaseException, hint: str | None) -> CompatError:
    reason = getattr(exc, "strerror", None) or str(exc)
    return CompatError.at(Location(name), f"cannot read {what}: {reason}", hint=hint)
