"""Stopping the lab: an interrupted ``lab collect`` / ``lab migrate`` with
``-j N`` kills the QEMUs its threads run instead of waiting for each boot to
end on its own (``compat.lab.boot.boot_pool``).

A boot is a real process here (``sleep``, registered as the lab registers
its QEMUs), so the test sees the pool's exit time and the process's end.
"""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from compat.lab import boot


def _long_running(started: threading.Event) -> int:
    """What a boot thread does: start a process the lab may kill, wait for it."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    with boot._LIVE_LOCK:
        boot._LIVE.add(proc)
    started.set()
    try:
        return proc.wait()
    finally:
        with boot._LIVE_LOCK:
            boot._LIVE.discard(proc)


def test_an_interrupted_pool_kills_its_boots_instead_of_waiting():
    started = [threading.Event(), threading.Event()]
    futures = []
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with boot.boot_pool(2) as pool:
            futures = [pool.submit(_long_running, e) for e in started]
            assert all(e.wait(10) for e in started)
            raise KeyboardInterrupt   # what Ctrl-C or SIGTERM raises in the main thread
    assert time.monotonic() - t0 < 15        # not the 60 s of the boots
    assert [f.result() for f in futures] == [-9, -9]     # SIGKILLed, both
    assert not boot._LIVE


def test_a_pool_that_ends_normally_waits_for_its_work():
    with boot.boot_pool(2) as pool:
        futures = [pool.submit(time.sleep, 0.2), pool.submit(lambda: 42)]
    assert all(f.done() for f in futures) and futures[1].result() == 42
