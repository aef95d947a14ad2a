"""compat/load/background.py: work in a forked child while the parent goes
on, and the entity scan that loading a large registry runs that way.  The
parent's answer never depends on the child: a child that fails or is not
asked for changes nothing."""

from __future__ import annotations

import os
import sys

import pytest

from compat.core.diagnostics import CompatError
from compat.load import background, source
from conftest import BUNDLED
from fork_util import count_forks

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux only")

PARENT = os.getpid()


def _where(tag: str) -> tuple[str, bool]:
    return tag, os.getpid() == PARENT


def _fails_in_child(tag: str) -> str:
    if os.getpid() != PARENT:
        raise RuntimeError("only the child fails")
    return tag


def _dies_in_child(tag: str) -> str:
    if os.getpid() != PARENT:
        os._exit(0)  # exits "successfully" without sending anything
    return tag


def _unpicklable(tag: str):
    return (lambda: tag) if os.getpid() != PARENT else tag


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_the_child_computes_the_result(monkeypatch):
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "2")
    forks = count_forks(monkeypatch)
    assert background.start(_where, "x").result() == ("x", False)  # computed in the child
    assert len(forks) == 1 and _reaped(forks[0])


@pytest.mark.parametrize("func", [_fails_in_child, _dies_in_child, _unpicklable])
def test_a_child_that_does_not_deliver_is_replaced_by_the_parent(monkeypatch, func):
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "2")
    forks = count_forks(monkeypatch)
    assert background.start(func, "y").result() == "y"
    assert len(forks) == 1 and _reaped(forks[0])


def test_one_process_computes_in_place(monkeypatch):
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "1")
    forks = count_forks(monkeypatch)
    assert background.start(_where, "z").result() == ("z", True)
    assert forks == []


def test_cancel_stops_and_reaps_the_child(monkeypatch):
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "2")
    forks = count_forks(monkeypatch)
    pending = background.start(_where, "w")
    pending.cancel()
    pending.cancel()  # twice is harmless
    assert len(forks) == 1 and _reaped(forks[0])


def _big_registry() -> str:
    """The bundled registry made larger than the background-scan threshold
    by a long comment at its end (the scan still has entities to find)."""
    text = BUNDLED.read_text()
    return text + "#" + "x" * source.BACKGROUND_SCAN_CHARS + "\n"


def test_large_registry_positions_are_scanned_in_a_child(monkeypatch):
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "2")
    forks = count_forks(monkeypatch)
    text = _big_registry()
    forked = source.load_toml_text(text, "r.toml")
    assert len(forks) == 1 and _reaped(forks[0])
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "1")
    alone = source.load_toml_text(text, "r.toml")
    assert len(forks) == 1
    assert forked.data == alone.data
    paths = [("registers", name) for name in alone.data["registers"]]
    paths += [("registers", name, "changes", i) for name, reg in alone.data["registers"].items()
              for i in range(len(reg.get("changes", ())))]
    paths += [("machines", "virt", "versions", 0), ("registers", "X", "nothing")]
    assert len(paths) > 20
    for path in paths:
        assert forked.locate(path) == alone.locate(path), path
    # a location the entities-only scan skipped: the full scan runs, as without the child
    name = next(iter(alone.data["registers"]))
    assert forked.locate(("registers", name, "description")) == \
        alone.locate(("registers", name, "description"))


def test_large_registry_syntax_error_reaps_the_child(monkeypatch):
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "2")
    forks = count_forks(monkeypatch)
    text = _big_registry() + "broken = [\n"
    with pytest.raises(CompatError) as error:
        source.load_toml_text(text, "r.toml")
    assert "TOML syntax" in str(error.value.diagnostics[0])
    assert len(forks) == 1 and _reaped(forks[0])
