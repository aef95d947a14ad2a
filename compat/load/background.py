"""Work on the second CPU: a function of data the process already holds,
run in a forked child while the parent does something else.

A build has two CPUs to use (:func:`processes`) but much of it is serial.
:func:`start` forks a child that computes ``func(*args)`` and sends the
pickled result through a pipe; :meth:`Pending.result` takes it, or computes
it in the parent if the child could not deliver (it died, its result did
not pickle, the platform cannot fork).  So only functions whose result is
the same wherever they run belong here, and the parent never depends on the
child: what the child sends is the answer the parent would have computed.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from typing import Any, Callable


def processes() -> int:
    """How many processes a build may use: 1 or 2 (``COMPAT_RENDER_PROCESSES``)."""
    wanted = os.environ.get("COMPAT_RENDER_PROCESSES", "")
    # fork without exec only where it is the platform's own way (macOS's
    # system libraries are not safe to use in such a child)
    if wanted == "1" or not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return 2 if cpus >= 2 or wanted == "2" else 1


class Pending:
    """``func(*args)``, being computed in a child process (or not at all:
    then :meth:`result` computes it)."""

    def __init__(self, func: Callable[..., Any], args: tuple) -> None:
        self.func, self.args = func, args
        self.pid: int | None = None
        self.read_end: int | None = None

    def result(self) -> Any:
        """The child's result; computed here if the child did not deliver."""
        if self.pid is not None:
            data = b""
            try:
                with os.fdopen(self.read_end, "rb") as pipe:  # type: ignore[arg-type]
                    data = pipe.read()
                _, status = os.waitpid(self.pid, 0)
                if os.waitstatus_to_exitcode(status) == 0 and data:
                    return pickle.loads(data)
            except (OSError, pickle.UnpicklingError, EOFError):
                pass
            finally:
                self.pid = self.read_end = None
        return self.func(*self.args)

    def cancel(self) -> None:
        """Stop the child, if any (the parent no longer needs the result)."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        os.close(self.read_end)  # type: ignore[arg-type]
        try:
            os.kill(pid, signal.SIGKILL)  # it holds no files: nothing to clean up
            os.waitpid(pid, 0)
        except OSError:
            pass


def start(func: Callable[..., Any], *args: Any) -> Pending:
    """Start computing ``func(*args)`` in a forked child when the build may
    use two processes; call :meth:`Pending.result` or :meth:`Pending.cancel`."""
    pending = Pending(func, args)
    if processes() < 2:
        return pending
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; the parent checks what it sends
        code = 1
        try:
            os.close(read_end)
            data = pickle.dumps(func(*args), protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view):]
            code = 0
        except BaseException:  # noqa: BLE001 - the parent computes it instead
            pass
        finally:
            os._exit(code)
    os.close(write_end)
    pending.pid, pending.read_end = pid, read_end
    return pending
