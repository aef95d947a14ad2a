"""A build stages each output as soon as it is rendered (so it never holds
every output in memory) and still renames nothing unless all rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

import compat.output as output
from compat.plugin import hookimpl
from compat.plugin.api import OutputSpec
from conftest import BUNDLED
from hostile_util import assert_graceful, run_inproc
from test_output_safety import _with_plugin


class TwoOutputs:
    """``first`` writes a.txt and sub/b.txt; ``second`` (rendered after it)
    records which temp files exist when it renders, then maybe fails."""

    def __init__(self, out: Path, fail: bool):
        self.out, self.fail, self.seen = out, fail, None

    @hookimpl
    def compat_outputs(self):
        return [OutputSpec("first", ("a.txt", "sub/b.txt"), "first", default=False),
                OutputSpec("second", ("z.txt",), "second", default=False)]

    @hookimpl
    def compat_render_output(self, name, context):
        if name == "first":
            return {"a.txt": "a\n", "sub/b.txt": "b\n"}
        if name == "second":
            self.seen = sorted(str(p.relative_to(self.out)) for p in self.out.rglob("*.tmp"))
            if self.fail:
                raise RuntimeError("second output exploded")
            return {"z.txt": "z\n"}
        return None


def _build(tmp_path: Path, out: Path, *extra: str):
    reg = tmp_path / "registry.toml"
    reg.write_text(BUNDLED.read_text())
    return run_inproc("build", "-r", str(reg), "-o", str(out),
                      "--only", "first", "--only", "second", *extra)


def test_each_output_is_staged_before_the_next_renders(tmp_path, monkeypatch):
    out = tmp_path / "out"
    plugin = TwoOutputs(out, fail=False)
    _with_plugin(monkeypatch, plugin)
    res = _build(tmp_path, out)
    assert res.rc == 0, res.err
    # when "second" rendered, both files of "first" were already in temp files
    assert len(plugin.seen) == 2
    assert plugin.seen[0].startswith(".a.txt.") and plugin.seen[1].startswith("sub/.b.txt.")
    assert (out / "a.txt").read_text() == "a\n" and (out / "sub" / "b.txt").read_text() == "b\n"
    assert (out / "z.txt").read_text() == "z\n"
    assert not list(out.rglob("*.tmp"))
    assert "wrote 3 of 3 files" in res.out


def test_a_later_failure_leaves_no_output_and_no_directory(tmp_path, monkeypatch):
    """The first output was already staged when the second failed: its temp
    files and the directories the run created are gone."""
    out = tmp_path / "new" / "out"
    plugin = TwoOutputs(out, fail=True)
    _with_plugin(monkeypatch, plugin)
    res = _build(tmp_path, out)
    assert_graceful(res)
    assert res.rc == 1 and "second output exploded" in res.err
    assert plugin.seen  # staged indeed
    assert not (tmp_path / "new").exists()


def test_a_later_failure_keeps_previous_outputs(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "a.txt").write_text("old a\n")
    (out / "keep.txt").write_text("not compat's\n")
    _with_plugin(monkeypatch, TwoOutputs(out, fail=True))
    assert _build(tmp_path, out).rc == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == \
        ["a.txt", "keep.txt", "sub"]
    assert (out / "a.txt").read_text() == "old a\n"


def test_check_reads_each_output_as_it_renders(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _with_plugin(monkeypatch, TwoOutputs(out, fail=False))
    assert _build(tmp_path, out).rc == 0
    res = _build(tmp_path, out, "--check")
    assert res.rc == 0 and "3 files up to date" in res.out
    (out / "sub" / "b.txt").write_text("changed\n")
    res = _build(tmp_path, out, "--check")
    assert res.rc == 1 and "-changed\n+b\n" in res.out
    assert "1 of 3 files is stale" in res.err
    assert (out / "sub" / "b.txt").read_text() == "changed\n"  # --check writes nothing


def test_staged_outputs_unit(tmp_path):
    out = tmp_path / "o"
    with output.StagedOutputs(out) as staged:
        assert staged.add("x/y.txt", "y\n")
        assert list(out.rglob("*.tmp"))
        assert not (out / "x" / "y.txt").exists()
        assert staged.commit() == ["x/y.txt"]
    assert (out / "x" / "y.txt").read_text() == "y\n"
    with output.StagedOutputs(out) as staged:
        assert not staged.add("x/y.txt", "y\n")  # unchanged: not staged
        assert staged.add("x/z/w.txt", "w\n")
    assert not (out / "x" / "z").exists() and not list(out.rglob("*.tmp"))  # not committed


def test_staged_outputs_refuse_paths_outside(tmp_path):
    with output.StagedOutputs(tmp_path / "o") as staged:
        with pytest.raises(output.CompatError):
            staged.add("../evil.txt", "x\n")
    assert not (tmp_path / "evil.txt").exists()
