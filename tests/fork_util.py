"""Counting the forks of compat's second processes (compat/load/parallel.py,
compat/load/background.py) in a test."""

from __future__ import annotations

import os


def count_forks(monkeypatch) -> list[int]:
    """The pids of the children forked from now on (os.fork patched)."""
    forks: list[int] = []
    real_fork = os.fork

    def fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return forks
