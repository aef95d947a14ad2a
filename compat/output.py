"""Writing generated files: confined, atomic, and only when changed.

Every file is written to a temporary file in its destination directory and
renamed over the target, so a reader (a parallel build, an editor) sees the
old file or the new one, never half of one.  A build stages each output as
soon as it is rendered (:class:`StagedOutputs`) and renames nothing until
every output rendered successfully; an unchanged file is not touched, so
make/ninja do not rebuild what depends on it.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import string
import tempfile
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

from compat.core.diagnostics import COMMAND_LINE, CompatError, Location
from compat.core.inputs import InputTooLarge, file_kind, read_input


def check_relative(path: str, plugin: str = "?") -> PurePosixPath:
    """Refuse output paths that would leave the output directory."""
    pure = PurePosixPath(path)
    if (not path or pure.is_absolute() or "\\" in path or ".." in pure.parts
            or path.startswith("~") or any(p in ("", ".") for p in path.split("/"))
            or "\0" in path):
        raise CompatError.at(Location("<plugins>"),
                             f"plugin '{plugin}' wants to write '{path}', which is not a plain "
                             "relative path inside the output directory")
    return pure


def resolve_inside(out_dir: Path, relative: PurePosixPath) -> Path:
    """The target path, refusing symlinks that lead outside ``out_dir``."""
    root = out_dir.resolve()
    target = out_dir.joinpath(*relative.parts)
    probe = out_dir
    for part in relative.parts:
        probe = probe / part
        if probe.is_symlink():
            raise CompatError.at(Location(str(target)), "refusing to write through a symbolic "
                                 "link in the output directory",
                                 hint="remove the link; compat writes regular files only")
    resolved = target.resolve()
    if resolved == root or not resolved.is_relative_to(root):  # not a prefix test: "-o /"
        raise CompatError.at(Location(str(target)), "output path leaves the output directory")
    return target


def read_existing(path: Path) -> str | None:
    """The text of the file compat is about to replace (None: absent, or
    not UTF-8, or too large: it differs anyway).  Anything but a regular
    file under an output's name is an error: a planted FIFO would hang the
    read, and a directory or device is not compat's to replace."""
    if not _existing_regular(path):
        return None
    try:
        raw = read_input(path, str(path), what="existing file")
    except InputTooLarge:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def same_file(a: "str | Path", b: "str | Path") -> bool:
    """Whether ``a`` and ``b`` name one file (symlinks and hard links too;
    the same path even if no such file exists)."""
    a, b = Path(a), Path(b)
    try:
        if a == b or a.resolve() == b.resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def refuse_clobbering(path: Path, option: str, *, inputs: Iterable[Path] = (),
                      outputs: Iterable[Path] = ()) -> None:
    """Refuse to write ``path`` (given as ``option``: a report, a depfile)
    over an input or another output of the same run: ``--depfile
    registry.toml`` must not destroy the registry."""
    for role, paths in (("an input", inputs), ("an output", outputs)):
        for other in paths:
            if same_file(path, Path(other)):
                raise CompatError.at(COMMAND_LINE,
                                     f"{option} {str(path)!r} is {role} of this run "
                                     f"({other}); writing it would destroy it",
                                     hint=f"give {option} a path of its own")


@contextlib.contextmanager
def locked_for_update(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` for a read-modify-write
    (``new-register --write``): two runs appending to one registry take
    turns, and each reads the file only once it holds the lock.

    The lock is ``flock`` on the file itself.  The writer replaces the file
    (a new inode), so a run that waited on the old one finds it is no longer
    the file at ``path`` and locks the new one.  A missing or non-regular
    file is not locked: reading it reports the problem."""
    import fcntl
    fd = None
    try:
        while True:
            try:
                if file_kind(os.stat(path).st_mode) is not None:
                    break
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                break
            fcntl.flock(fd, fcntl.LOCK_EX)
            held, now = os.fstat(fd), _stat_or_none(path)
            if now is not None and (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                break
            os.close(fd)  # replaced while we waited: lock the file there now
            fd = None
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _stat_or_none(path: Path):
    try:
        return os.stat(path)
    except OSError:
        return None


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a same-directory temp file + rename."""
    tmp = _stage(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def write_file(path: Path, text: str) -> bool:
    """Atomically write one file unless it already holds ``text``; whether
    it was written.  An OS error becomes a :class:`CompatError`."""
    if read_existing(path) == text:
        return False
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise CompatError.at(Location(str(path)), f"cannot write: {exc.strerror or exc}") \
            from None
    return True


def _stage(path: Path, text: str) -> str:
    """Write ``text`` to a new temp file beside ``path``; return its name.
    On failure the temp file is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_temp(path, (text,), None)  # type: ignore[return-value]


def _keep_mode(path: Path, tmp: str) -> None:
    """Give the temp file ``tmp`` the mode of the file it will replace (a
    new file gets rw-r--r--)."""
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o644
    os.chmod(tmp, mode)


def _existing_regular(path: Path) -> bool:
    """Whether ``path`` exists; anything but a regular file there is an error."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise CompatError.at(Location(str(path)), f"cannot read: {exc.strerror or exc}") from None
    kind = file_kind(mode)
    if kind is not None:
        raise CompatError.at(Location(str(path)), f"cannot write: it is {kind}, not a "
                             "regular file", hint="compat writes regular files only; "
                             "remove it, or choose another path")
    return True


def _open_existing(path: Path):
    """The file compat is about to replace, open for reading in binary (None:
    absent); not a regular file is an error, as in :func:`read_existing`."""
    if not _existing_regular(path):
        return None
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CompatError.at(Location(str(path)), f"cannot read: {exc.strerror or exc}") from None


def _stage_chunks(path: Path, chunks: Iterable[str]) -> str | None:
    """Write ``chunks`` to a new temp file beside ``path`` as they come,
    comparing them with the file already there; the temp file's name, or
    None (and no temp file left) if the existing file holds the same bytes.
    On failure the temp file is removed."""
    old = _open_existing(path)
    try:
        return _write_temp(path, chunks, old)
    finally:
        if old is not None:
            old.close()


def _write_temp(path: Path, chunks: Iterable[str], old) -> str | None:
    """:func:`_stage_chunks` with the existing file ``old`` open (None:
    nothing to compare with, the temp file is always kept)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        same = old is not None
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                data = chunk.encode("utf-8")
                handle.write(data)
                if same:
                    same = old.read(len(data)) == data
            if same and old.read(1) == b"":
                handle.close()
                _unlink_quietly(tmp)
                return None
            handle.flush()
            os.fsync(handle.fileno())
        _keep_mode(path, tmp)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class StagedOutputs:
    """A build's outputs, staged on disk as they are rendered, renamed into
    place all at once.

    :meth:`add` checks the target path and writes a changed file in full to
    a temp file beside its target straight away, so the build holds one
    rendered output in memory at a time, not all of them.  :meth:`commit`
    then renames every temp file over its target.  Leaving the ``with``
    block without committing (a later output failed to render, a refused
    path, a full disk, SIGTERM) removes every temp file and every directory
    this run created, and leaves every previous output untouched.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.names: list[str] = []           # every file added, changed or not
        self._staged: dict[str, tuple[str, Path]] = {}  # rel -> (temp file, target)
        self._created: list[Path] = []       # directories this run made, outermost first

    def __enter__(self) -> "StagedOutputs":
        return self

    def __exit__(self, *exc_info) -> None:
        self.abort()

    def add(self, rel: str, text: "str | Iterable[str]") -> bool:
        """Stage ``text`` (a string, or its chunks: written as they come,
        never joined) as the output ``rel``; whether it differs from the
        file on disk (an unchanged file is neither staged nor touched)."""
        target = resolve_inside(self.out_dir, check_relative(rel))
        self.names.append(rel)
        if isinstance(text, str) and read_existing(target) == text:
            return False
        try:
            self._make_parents(target.parent)
            tmp = _stage(target, text) if isinstance(text, str) else _stage_chunks(target, text)
        except OSError as exc:
            raise CompatError.at(Location(str(target)), f"cannot write: {exc.strerror or exc}",
                                 hint="every output is either its previous or its new "
                                 "version; rerun after fixing the cause") from None
        if tmp is None:
            return False
        self._staged[rel] = (tmp, target)
        return True

    def make_parents(self, rel: str) -> None:
        """Create the missing directories of the output ``rel`` now (they
        are removed again if the build does not commit)."""
        self._make_parents(resolve_inside(self.out_dir, check_relative(rel)).parent)

    def adopt(self, rel: str, tmp: str) -> None:
        """Take over ``tmp``, a file another process staged for ``rel`` (it
        is renamed at :meth:`commit` or removed at :meth:`abort`)."""
        self._staged[rel] = (tmp, resolve_inside(self.out_dir, check_relative(rel)))

    def detach(self) -> dict[str, str]:
        """Give up the staged files (another process will commit or remove
        them): ``{rel: temp file}``."""
        staged = {rel: tmp for rel, (tmp, _) in self._staged.items()}
        self._staged.clear()
        return staged

    def _make_parents(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for path in reversed(missing):
            path.mkdir()
            self._created.append(path)

    def commit(self) -> list[str]:
        """Rename every staged file over its target; the relative paths
        written, sorted."""
        changed = sorted(self._staged)
        current = None
        try:
            for current in changed:
                tmp, target = self._staged[current]
                os.replace(tmp, target)
                del self._staged[current]
        except OSError as exc:
            raise CompatError.at(Location(str(self._staged[current][1])),
                                 f"cannot write: {exc.strerror or exc}",
                                 hint="rerun after fixing the cause") from None
        self._created.clear()
        return changed

    def abort(self) -> None:
        """Remove what is staged and not yet renamed, and the directories
        this run created if they are left empty."""
        for tmp, _ in self._staged.values():
            _unlink_quietly(tmp)
        self._staged.clear()
        for directory in reversed(self._created):
            try:
                directory.rmdir()
            except OSError:
                pass
        self._created.clear()


def write_files(out_dir: Path, files: dict[str, str]) -> list[str]:
    """Write every changed file of ``files`` all or nothing
    (:class:`StagedOutputs`); return the relative paths written."""
    with StagedOutputs(out_dir) as staged:
        for rel in sorted(files):
            staged.add(rel, files[rel])
        return staged.commit()


def stale_diff(out_dir: Path, rel: str, text: str) -> str | None:
    """A unified diff if the file ``rel`` on disk differs from ``text``."""
    target = out_dir.joinpath(*check_relative(rel).parts)
    old = read_existing(target)
    if old == text:
        return None
    diff = difflib.unified_diff(
        (old or "").splitlines(keepends=True), text.splitlines(keepends=True),
        fromfile=f"a/{rel}" if old is not None else "/dev/null", tofile=f"b/{rel}")
    return "".join(diff)


def stale_diffs(out_dir: Path, files: dict[str, str]) -> dict[str, str]:
    """Unified diffs of files whose content on disk differs; ``{}`` if current."""
    diffs = {}
    for rel in sorted(files):
        diff = stale_diff(out_dir, rel, files[rel])
        if diff is not None:
            diffs[rel] = diff
    return diffs


#: Characters ninja and make both read literally in a depfile path.
_DEP_PLAIN = frozenset(string.ascii_letters + string.digits + "+,/_.~(){}@!-")
#: Characters with an escape both read: ``\ ``, ``\#``, ``\:``, ``$$``.
_DEP_ESCAPES = {" ": "\\ ", "#": "\\#", ":": "\\:", "$": "$$"}


def depfile_path(path: Path | str) -> str:
    """``path`` written so ninja's depfile parser and make both read it back.

    Space, ``#``, ``:`` and ``$`` are escaped; a backslash is literal to
    both unless it precedes one of them (or ends the path), which no escape
    can express.  Anything else outside the characters both read literally
    (a newline or other control character, ``&;'"|<>`` which end a path
    for ninja, make's wildcards ``*?[]``, its ``%`` and ``=``) cannot be
    written, and is an error rather than a depfile that silently names
    other files."""
    text = str(path)
    out = []
    for i, char in enumerate(text):
        if char in _DEP_PLAIN or (char > "\x7f" and char.isprintable()
                                  and not "\ud800" <= char <= "\udfff"):
            out.append(char)
        elif char in _DEP_ESCAPES and not (char == ":" and i == len(text) - 1):
            out.append(_DEP_ESCAPES[char])
        elif char == "\\" and len(text.rstrip("\\")) > i \
                and text[i:].lstrip("\\")[0] not in " #:$":
            out.append(char)
        else:
            what = {"\\": "a backslash before a space, '#', ':', '$' or the end",
                    ":": "a ':' at the end"}.get(char, repr(char))
            raise CompatError.at(Location(str(path)), f"this path cannot be written in a "
                                 f"depfile: ninja and make would misread {what}",
                                 hint="rename or move it, or build without --depfile")
    return "".join(out)


def depfile_text(targets: list[Path], inputs: list[Path]) -> str:
    """A Makefile-syntax depfile, as ninja, meson's ``depfile:`` and make
    read it (:func:`depfile_path`)."""
    head = " ".join(depfile_path(t) for t in targets)
    body = " \\\n  ".join(depfile_path(i) for i in inputs)
    return f"{head}: \\\n  {body}\n"
