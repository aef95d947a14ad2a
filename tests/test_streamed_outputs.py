"""An output may render a file as chunks (an iterable of ``str``): compat
writes them to the staging file as they come, never joining them, with the
same bytes, the same all-or-nothing rename and the same checks as text."""

from __future__ import annotations

from pathlib import Path

import pytest

import compat.output as output
from compat.plugin import hookimpl
from compat.plugin.api import OutputSpec
from conftest import BUNDLED
from hostile_util import assert_graceful, run_inproc
from test_output_safety import _with_plugin

BIG = "x" * 65536 + "\n"  # larger than the file buffer: on disk once written


class Chunked:
    """``chunked`` writes c.txt from whatever ``make()`` returns."""

    def __init__(self, make):
        self.make = make

    @hookimpl
    def compat_outputs(self):
        return [OutputSpec("chunked", ("c.txt",), "chunks", default=False)]

    @hookimpl
    def compat_render_output(self, name, context):
        return {"c.txt": self.make()} if name == "chunked" else None


def _build(tmp_path: Path, out: Path, *extra: str):
    reg = tmp_path / "registry.toml"
    reg.write_text(BUNDLED.read_text())
    return run_inproc("build", "-r", str(reg), "-o", str(out), "--only", "chunked", *extra)


@pytest.mark.parametrize("make, text", [
    (lambda: ["a", "b\n", "", "c"], "ab\nc\n"),              # final newline added
    (lambda: iter(("one\n", "two\n")), "one\ntwo\n"),
    (lambda: (line for line in ["é", "\n"]), "é\n"),
    (lambda: [], "\n"),                                       # as "" would be
])
def test_chunks_write_the_same_bytes_as_text(tmp_path, monkeypatch, make, text):
    out = tmp_path / "out"
    _with_plugin(monkeypatch, Chunked(make))
    res = _build(tmp_path, out)
    assert res.rc == 0, res.err
    assert (out / "c.txt").read_bytes() == text.encode("utf-8")
    res = _build(tmp_path, out)  # the same chunks again: unchanged, not rewritten
    assert res.rc == 0 and "all up to date" in res.out
    assert _build(tmp_path, out, "--check").rc == 0


def test_chunks_are_on_disk_before_the_plugin_renders_the_rest(tmp_path, monkeypatch):
    out = tmp_path / "out"
    sizes = []

    def make():
        yield BIG
        sizes.extend(p.stat().st_size for p in out.rglob(".c.txt.*.tmp"))
        yield "end\n"

    _with_plugin(monkeypatch, Chunked(make))
    assert _build(tmp_path, out).rc == 0
    assert sizes == [len(BIG)]  # the first chunk was written, not held
    assert (out / "c.txt").read_text() == BIG + "end\n"


@pytest.mark.parametrize("make, message", [
    (lambda: ["ok\n", b"bytes\n"], "a chunk of the text is bytes, not str"),
    (lambda: ["ok\n", "\udc80\n"], "not valid Unicode"),
    (lambda: (1 / 0 for _ in range(1)), "failed rendering output 'chunked': ZeroDivisionError"),
])
def test_a_bad_chunk_keeps_previous_outputs(tmp_path, monkeypatch, make, message):
    out = tmp_path / "out"
    out.mkdir()
    (out / "c.txt").write_text("old\n")
    _with_plugin(monkeypatch, Chunked(make))
    res = _build(tmp_path, out)
    assert_graceful(res)
    assert res.rc == 1 and message in res.err and "plugin 'evil'" in res.err
    assert [p.name for p in out.iterdir()] == ["c.txt"]  # no temp file left
    assert (out / "c.txt").read_text() == "old\n"


def test_a_mapping_is_not_chunks(tmp_path, monkeypatch):
    _with_plugin(monkeypatch, Chunked(lambda: {"a": "b"}))
    res = _build(tmp_path, tmp_path / "out")
    assert_graceful(res)
    assert res.rc == 1 and "expected {path: text} of str" in res.err


@pytest.mark.parametrize("old, same", [
    (b"ab\ncd\n", True), (b"ab\ncd\nmore\n", False), (b"ab\n", False), (b"ab\ncX\n", False),
    (None, False),
])
def test_staged_chunks_compare_with_the_file_there(tmp_path, old, same):
    out = tmp_path / "o"
    out.mkdir()
    if old is not None:
        (out / "f.txt").write_bytes(old)
    with output.StagedOutputs(out) as staged:
        assert staged.add("f.txt", iter(["a", "b\nc", "d\n"])) is not same
        assert bool(list(out.glob("*.tmp"))) is not same
        staged.commit()
    assert (out / "f.txt").read_bytes() == b"ab\ncd\n"
    assert not list(out.glob("*.tmp"))


def test_docs_render_as_chunks(monkeypatch):
    """The built-in documents are streamed, a few lines a piece (here 7),
    and the pieces are the document."""
    from compat.plugins.docs import writer
    monkeypatch.setattr(writer, "CHUNK_LINES", 7)
    from compat.load import pipeline
    from compat.plugins.docs import md, rst
    loaded_bundled = pipeline.load(BUNDLED, "registry.toml")
    for module in (md, rst):
        spec = loaded_bundled.outputs[module.OUTPUT.name]
        files = module.render_files(pipeline.RenderContext(
            loaded_bundled.registry, loaded_bundled.derivation, spec, "registry.toml", {}))
        chunks = files[module.FILE]
        assert not isinstance(chunks, str)
        pieces = list(chunks)
        assert len(pieces) > 20 and all(p.count("\n") < 7 + 40 for p in pieces)
        text = "".join(pieces)
        assert text == pipeline.render(loaded_bundled, [spec])[module.FILE]
        assert text.endswith("\n") and not text.endswith("\n\n")
