"""Running ``compat`` from the tests: in this process (the default) or as a
real ``python -m compat`` process (only where the process is the point).

:func:`run_compat` calls :func:`compat.cli.main` here, with stdout, stderr
and stdin replaced, the environment and working directory set for the run
and put back afterwards, and every piece of process-wide state a run
changes restored (see :func:`_isolated`).  It costs about a fiftieth of a
subprocess (no interpreter start, imports already done), and it answers
the same ``rc``/``out``/``err``: ``main`` turns every error into a message
and an exit status itself, and argparse's ``SystemExit`` (``--help``, a
usage error) becomes the status the process would have exited with.

:func:`run_compat_process` starts ``python -m compat``.  Use it only for
what a process has and a function call has not: the interpreter's exit
status and stderr at the real entry point, ``PYTHONHASHSEED``, the locale
and ``PYTHONIOENCODING``, signals, closed or full stdout, the console
script, import time.  Mark such a test ``@pytest.mark.process("why")``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import io
import os
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    """What one ``compat`` run printed and returned."""

    rc: int
    out: str
    err: str

    # subprocess.CompletedProcess's names, so a test written against
    # subprocess.run reads a Result unchanged
    returncode = property(lambda self: self.rc)
    stdout = property(lambda self: self.out)
    stderr = property(lambda self: self.err)


class Timeout(BaseException):
    """An in-process run exceeded its time.  A ``BaseException``, so that
    ``main``'s last-resort handler does not turn it into exit status 3."""


#: Environment variables read only when an interpreter starts: setting them
#: for an in-process run would change nothing, so the run refuses them.
PROCESS_ONLY_ENV = ("PYTHONHASHSEED", "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONPATH",
                    "PYTHONSAFEPATH", "PYTHONDONTWRITEBYTECODE", "LANG", "LC_ALL", "LC_CTYPE")


@contextlib.contextmanager
def _deadline(seconds: float):
    """Raise :class:`Timeout` in the main thread after ``seconds`` (no
    deadline outside the main thread, where SIGALRM cannot be handled)."""
    import threading
    if threading.current_thread() is not threading.main_thread() or not seconds:
        yield
        return

    def fire(signum, frame):  # noqa: ARG001 - signal API
        raise Timeout(f"compat did not finish within {seconds} s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def _isolated(cwd: Path | None, env: dict[str, str] | None, stdin: str | None):
    """The process-wide state one run may change, set for it and restored:
    the environment, the working directory, the standard streams, the
    colour mode (``--color`` is a module global in :mod:`compat.core.style`)
    and the garbage collector (loading ``gc.freeze()``s the registry, which
    a real process keeps until it exits)."""
    from compat.core import style
    bad = sorted(k for k in env or () if k in PROCESS_ONLY_ENV and os.environ.get(k) != env[k])
    if bad:
        raise ValueError(f"{', '.join(bad)} take effect only when an interpreter starts: "
                         "use run_compat_process (and mark the test 'process')")
    saved_env = dict(os.environ)
    try:
        saved_cwd: str | None = os.getcwd()
    except OSError:  # the test removed it on purpose (compat must cope)
        saved_cwd = None
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_mode = style._mode
    gc_enabled = gc.isenabled()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.update(env or {})
        if cwd is not None:
            os.chdir(cwd)
        sys.stdin = io.TextIOWrapper(io.BytesIO((stdin or "").encode()), encoding="utf-8")
        sys.stdout, sys.stderr = out, err
        yield out, err
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        if saved_cwd is not None:
            os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        style._mode = saved_mode
        gc.unfreeze()
        if gc_enabled:
            gc.enable()


#: Whether an in-process run may reuse an earlier run's loaded registry
#: (:func:`_reused_loads`); conftest turns it off for a test that uses
#: ``monkeypatch`` (it may have patched what loading calls).
REUSE_LOADS = True
#: (resolved path, display name, SHA-256 of the file) -> its Loaded
_LOADED: dict[tuple[str, str, bytes], object] = {}
_LOADED_MAX = 16


@contextlib.contextmanager
def _reused_loads():
    """While a run lasts, :func:`compat.load.pipeline.load` answers a file
    it loaded before (same path, same name, same bytes) with the same
    :class:`Loaded` instead of loading it again.

    Most in-process runs load the bundled registry: about 800 loads of
    25 ms in the fast set, a fifth of its CPU.  The registry and its
    derivation are frozen (``dataclass(frozen=True)``, read-only mappings),
    so runs cannot change what the next one reads; each run gets its own
    copy of the :class:`Loaded` record.  Not reused: a registry that names
    plugins (or a run given ``--plugin``: their code may differ between
    tests), a load with its own plugin host, and anything that fails (an
    error is raised again by loading again).  ``REUSE_LOADS = False``
    (``COMPAT_TESTS_FRESH_LOADS=1`` for a whole session) loads every time."""
    from compat.load import pipeline
    fresh = pipeline.load
    if not REUSE_LOADS or os.environ.get("COMPAT_TESTS_FRESH_LOADS"):
        yield
        return

    def load(path, display_name, plugins=(), *, host=None):
        plugins = tuple(plugins)
        try:  # only a regular file is read here (a FIFO would block: load refuses it)
            data = Path(path).read_bytes() if stat.S_ISREG(os.stat(path).st_mode) else None
        except OSError:  # the real load reports it
            data = None
        if data is None or plugins or host is not None or b"plugins" in data:
            return fresh(path, display_name, plugins, host=host)
        key = (str(Path(path).resolve()), display_name, hashlib.sha256(data).digest())
        loaded = _LOADED.get(key)
        if loaded is None:
            loaded = fresh(path, display_name, plugins)
            if len(_LOADED) >= _LOADED_MAX:
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = loaded
        return dataclasses.replace(loaded, inputs=list(loaded.inputs))

    pipeline.load = load
    try:
        yield
    finally:
        pipeline.load = fresh


def run_compat(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
               stdin: str | None = None, timeout: float = 120) -> Result:
    """``compat ARGS`` through :func:`compat.cli.main` in this process.

    ``env`` adds to the environment for the run, ``cwd`` is the working
    directory, ``stdin`` the text on standard input (empty if None).  The
    run raises :class:`Timeout` after ``timeout`` seconds.  Not for the
    variables in :data:`PROCESS_ONLY_ENV` (a ``ValueError`` says so)."""
    from compat.cli import main
    with _isolated(cwd, env, stdin) as (out, err), _deadline(timeout), _reused_loads():
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's --help/--version and usage errors
            if exc.code is None or isinstance(exc.code, int):
                rc = exc.code or 0
            else:  # sys.exit("message"): the interpreter prints it, status 1
                print(exc.code, file=sys.stderr)
                rc = 1
    return Result(rc, out.getvalue(), err.getvalue())


def run_compat_process(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                       stdin: str | None = None, timeout: float = 120) -> Result:
    """Run ``python -m compat ARGS`` in a subprocess, as a user would
    (``PYTHONHASHSEED=0`` unless ``env`` says otherwise)."""
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONHASHSEED", "0")
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "compat", *map(str, args)], cwd=cwd,
                          env=full_env, input=stdin, capture_output=True, text=True,
                          timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)
