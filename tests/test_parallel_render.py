"""``compat build`` renders the docs in a forked second process on two CPUs
(compat/load/parallel.py): the same files as one process, the same errors,
and nothing staged left behind when the child fails or is stopped."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

import compat.load.parallel as parallel
from compat.plugins.docs import md as docs_md, rst as docs_rst
from conftest import BUNDLED
from fork_util import count_forks
from hostile_util import assert_graceful, run_inproc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks on Linux only")


def _tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _build(tmp_path: Path, out: Path, processes: str, monkeypatch):
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", processes)
    reg = tmp_path / "registry.toml"
    if not reg.exists():
        reg.write_text(BUNDLED.read_text())
    return run_inproc("build", "-r", str(reg), "-o", str(out))


def test_two_processes_write_the_files_one_process_writes(tmp_path, monkeypatch):
    forks = count_forks(monkeypatch)
    one = _build(tmp_path, tmp_path / "one", "1", monkeypatch)
    assert one.rc == 0, one.err
    assert forks == []
    two = _build(tmp_path, tmp_path / "two", "2", monkeypatch)
    assert two.rc == 0, two.err
    assert len(forks) == 1
    assert two.out.replace(str(tmp_path / "two"), str(tmp_path / "one")) == one.out
    assert _tree(tmp_path / "two") == _tree(tmp_path / "one")
    assert {"kvm-register-compat.md", "kvm-register-compat.rst"} <= set(_tree(tmp_path / "two"))
    assert not list((tmp_path / "two").rglob("*.tmp"))
    # rebuilt unchanged: nothing staged, nothing rewritten, in either process
    again = _build(tmp_path, tmp_path / "two", "2", monkeypatch)
    assert again.rc == 0 and "(all up to date)" in again.out


def test_a_docs_failure_in_the_child_is_the_one_process_error(tmp_path, monkeypatch):
    def explode(model):
        raise RuntimeError("docs exploded")

    monkeypatch.setattr(docs_rst, "render_chunks", explode)
    one = _build(tmp_path, tmp_path / "new1" / "out", "1", monkeypatch)
    forks = count_forks(monkeypatch)
    two = _build(tmp_path, tmp_path / "new2" / "out", "2", monkeypatch)
    assert len(forks) == 1
    assert_graceful(two)
    assert two.rc == one.rc == 1
    assert "docs exploded" in two.err and two.err == one.err.replace("new1", "new2")
    # docs-md was staged by the child and the C outputs by the parent: all gone,
    # and the directories the run created too
    assert not (tmp_path / "new2").exists()


def test_a_child_stopped_by_sigterm_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kvm-register-compat.md").write_text("previous\n")

    def stop_myself(model):  # runs in the child, after docs-md was staged
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("not reached")

    monkeypatch.setattr(docs_rst, "render_chunks", stop_myself)
    forks = count_forks(monkeypatch)
    res = _build(tmp_path, out, "2", monkeypatch)
    assert len(forks) == 1
    assert_graceful(res)
    assert res.rc == 1 and "the process rendering the docs stopped (exit status 1)" in res.err
    assert sorted(p.name for p in out.iterdir()) == ["kvm-register-compat.md"]
    assert (out / "kvm-register-compat.md").read_text() == "previous\n"


def test_the_earlier_output_s_error_wins_when_both_processes_fail(tmp_path, monkeypatch):
    """compat-props (parent) sorts before docs-md (child): the one-process
    build stops at compat-props, so the two-process build reports it too."""
    from compat.plugins.c import compat_props

    def broken(context):
        raise RuntimeError("compat-props exploded")

    def explode(model):
        raise RuntimeError("docs exploded")

    monkeypatch.setattr(compat_props, "render", broken)  # what its render_files calls
    monkeypatch.setattr(docs_md, "render_chunks", explode)
    one = _build(tmp_path, tmp_path / "a", "1", monkeypatch)
    two = _build(tmp_path, tmp_path / "b", "2", monkeypatch)
    assert one.rc == two.rc == 1
    assert "compat-props exploded" in two.err and "docs exploded" not in two.err
    assert two.err == one.err.replace(str(tmp_path / "a"), str(tmp_path / "b"))


def test_processes_follow_the_cpus_and_the_variable(monkeypatch):
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "1")
    assert parallel.processes() == 1
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "2")
    assert parallel.processes() == 2
    monkeypatch.delenv("COMPAT_RENDER_PROCESSES")
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0})
    assert parallel.processes() == 1
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: {0, 1})
    assert parallel.processes() == 2


def test_a_full_disk_in_the_child_keeps_previous_outputs(tmp_path, monkeypatch):
    """ENOSPC while the child stages the docs: the parent reports it (naming
    the file), renames nothing, and no temp file stays in either's files."""
    import errno

    import compat.output as output
    out = tmp_path / "out"
    assert _build(tmp_path, out, "1", monkeypatch).rc == 0
    before = _tree(out)
    # every "Defined at: registry.toml:LINE" moves: the docs change
    (tmp_path / "registry.toml").write_text("# one more line\n" + BUNDLED.read_text())
    parent = os.getpid()
    real_fsync = os.fsync

    def fsync(fd):
        if os.getpid() != parent:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(output.os, "fsync", fsync)
    forks = count_forks(monkeypatch)
    res = _build(tmp_path, out, "2", monkeypatch)
    assert len(forks) == 1
    assert_graceful(res)
    assert res.rc == 1 and "No space left on device" in res.err
    assert f"{out}/kvm-register-compat.md" in res.err
    assert _tree(out) == before
    assert not list(out.rglob("*.tmp"))
