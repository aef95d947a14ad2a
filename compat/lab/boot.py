"""Run ``qemu-system-aarch64`` once: under a timeout, console captured, never
left running (its process group is killed in ``finally``, also on SIGTERM and
Ctrl-C).

Guests get no network card (``-nic none``): the lab needs none, and virt's
default virtio NIC makes QEMU load ``efi-virtio.rom``, which a
``qemu-system-arm`` installed without its recommended ROM packages lacks.

``boot()`` is generic: any kernel, one or more initrds (concatenated: the
kernel unpacks each cpio archive in turn, so a caller can append its own
files to a cached base), extra QEMU arguments, and an optional marker that
ends the run as soon as it shows on the console.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from compat.lab.errors import lab_error, need_tool

DEFAULT_MACHINE = "virt,virtualization=on,gic-version=3"
DEFAULT_APPEND = "console=ttyAMA0 panic=-1"


@dataclass
class BootResult:
    console: str          # everything the guest printed
    seconds: float
    returncode: int | None  # None when killed on timeout
    timed_out: bool

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.console.replace("\r", "").rstrip().splitlines()[-lines:])


def qemu_binary(qemu: str | None = None) -> str:
    if qemu:
        path = Path(qemu)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        found = need_tool(qemu) if os.sep not in qemu else None
        if found:
            return found
        raise lab_error(f"QEMU '{qemu}' is not an executable file",
                        "install it with: apt-get install qemu-system-arm")
    return need_tool("qemu-system-aarch64")


def qemu_version(qemu: str, env: dict | None = None, command_prefix=()) -> str:
    """``qemu-system-aarch64 --version``'s number (``7.2.19`` ...), or the first line."""
    try:
        out = subprocess.run([*command_prefix, qemu, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=30, env=env).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise lab_error(f"cannot run {qemu} --version: {exc}") from None
    m = re.search(r"version (\S+)(?: \(([^)]*)\))?", out)
    if not m:
        raise lab_error(f"{qemu} --version printed no version: {out.strip()[:200]}")
    return m.group(1) + (f" (Debian {m.group(2).split('Debian ')[-1]})" if m.group(2) and "Debian" in m.group(2) else "")


class _Terminated(Exception):
    pass


#: QEMU processes running now (any thread); :func:`kill_all` ends them
_LIVE: set = set()
_LIVE_LOCK = threading.Lock()


def kill_all() -> None:
    """Kill every QEMU that :func:`boot` started and that still runs."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        if proc.poll() is None:
            _kill(proc)


@contextlib.contextmanager
def boot_pool(jobs: int):
    """A thread pool for boots.  When the caller is interrupted (Ctrl-C, or
    SIGTERM turned into an exception), the QEMUs still running are killed
    before the pool waits for its threads: otherwise leaving the pool would
    wait for every running boot to end on its own."""
    from concurrent.futures import ThreadPoolExecutor
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        yield pool
    except BaseException:
        kill_all()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def boot(kernel: Path, initrds, *, qemu: str | None = None, cpu: str = "max",
         machine: str = DEFAULT_MACHINE, memory: str = "1024", smp: int = 1,
         append: str = DEFAULT_APPEND, extra_args=(), timeout: float = 300,
         stop_marker: str | None = None, env: dict | None = None,
         command_prefix=()) -> BootResult:
    """Boot ``kernel`` with ``initrds`` (one path or several, concatenated) and
    return what the console showed.  ``stop_marker``: end the run (kill QEMU)
    once this text has appeared and the line is complete.  ``command_prefix``
    runs QEMU under a wrapper (e.g. ``unshare -m ...``)."""
    exe = qemu_binary(qemu)
    if isinstance(initrds, (str, Path)):
        initrds = [initrds]
    initrds = [Path(p) for p in initrds]
    tmp = None
    if len(initrds) == 1:
        initrd = initrds[0]
    else:
        fd, name = tempfile.mkstemp(prefix="compat-initrd-", suffix=".cpio")
        with os.fdopen(fd, "wb") as out:
            for p in initrds:
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 20):
                        out.write(chunk)
                # each newc archive must start 4-byte aligned
                pad = (-out.tell()) % 4
                out.write(b"\0" * pad)
        initrd = tmp = Path(name)
    cmd = [*command_prefix, exe, "-M", machine, "-cpu", cpu, "-smp", str(smp), "-m", memory,
           "-nographic", "-no-reboot", "-nic", "none", "-kernel", str(kernel), "-initrd", str(initrd),
           "-append", append, *extra_args]
    chunks: list[bytes] = []
    seen = threading.Event()
    start = time.monotonic()
    proc = None
    old_term = None

    def on_term(signum, frame):
        raise _Terminated()

    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, on_term)
    try:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
        except OSError as exc:
            raise lab_error(f"cannot start {exe}: {exc.strerror or exc}") from None
        with _LIVE_LOCK:
            _LIVE.add(proc)

        def reader():
            tail = b""
            marker = stop_marker.encode() if stop_marker else None
            while True:
                data = proc.stdout.read1(65536)
                if not data:
                    break
                chunks.append(data)
                if marker and not seen.is_set():
                    tail = (tail + data)[-(len(marker) + 4096):]
                    i = tail.find(marker)
                    if i >= 0 and b"\n" in tail[i:]:
                        seen.set()

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        deadline = start + timeout
        timed_out = False
        while proc.poll() is None:
            if seen.is_set():
                break
            if time.monotonic() >= deadline:
                timed_out = True
                break
            seen.wait(0.1)
        if proc.poll() is None:
            _kill(proc)
        proc.wait()
        thread.join(5)
        rc = None if timed_out else proc.returncode
        return BootResult(b"".join(chunks).decode("utf-8", "replace"),
                          time.monotonic() - start, rc, timed_out)
    except _Terminated:
        raise KeyboardInterrupt from None
    finally:
        if proc is not None:
            if proc.poll() is None:
                _kill(proc)
                proc.wait()
            with _LIVE_LOCK:
                _LIVE.discard(proc)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
