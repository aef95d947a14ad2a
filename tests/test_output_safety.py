"""Writing outputs: atomic, only when changed, confined, all or nothing.

A failed build (bad registry, a plugin raising, a full disk) must leave the
previous outputs exactly as they were and no temp file behind; an output
path is never followed out of the output directory; two builds racing into
one directory never leave a torn file.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import compat.output as output
from compat.plugin import hookimpl
from compat.plugin.api import OutputSpec
from compat.plugin.host import PluginHost
from conftest import BUNDLED, ROOT
from output_files import bundled_output_files
from hostile_util import assert_graceful, run_inproc

TEXT = BUNDLED.read_text()
OTHER = TEXT.replace("Extended Translation Control Register (FEAT_TCRX).",
                     "Extended Translation Control Register (FEAT_TCRX), reworded.")


@pytest.fixture(scope="module")
def output_files() -> frozenset[str]:
    """Files the bundled registry's build writes (derived from the plugins)."""
    return frozenset(bundled_output_files())


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    """name -> (content, inode, mtime_ns) of every entry, temp files included."""
    return {p.name: (os.readlink(p).encode() if p.is_symlink() else p.read_bytes(),
                     p.lstat().st_ino, p.lstat().st_mtime_ns)
            for p in sorted(directory.iterdir())}


def build(reg: Path, out: Path, *extra: str):
    return run_inproc("build", "-r", str(reg), "-o", str(out), *extra)


@pytest.fixture
def built(tmp_path, output_files) -> tuple[Path, Path, dict]:
    """(registry, output dir, snapshot) after a first successful build."""
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    out = tmp_path / "out"
    res = build(reg, out)
    assert res.rc == 0, res.err
    snap = snapshot(out)
    assert set(snap) == output_files
    return reg, out, snap


def no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.rglob("*") if p.name.startswith(".")
                or p.name.endswith(".tmp")]


# -- atomic and incremental ---------------------------------------------------

def test_each_file_goes_through_a_sibling_temp_and_rename(tmp_path, monkeypatch, output_files):
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((Path(src), Path(dst), Path(src).read_text()))
        return real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", spy)
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    assert build(reg, tmp_path / "out").rc == 0
    assert {dst.name for _, dst, _ in renames} == output_files
    for src, dst, staged in renames:
        assert src.parent == dst.parent and src.name.startswith(f".{dst.name}.")
        assert staged == dst.read_text()  # the temp file was complete before the rename
    assert no_temp_files(tmp_path / "out")
    assert all(oct(p.stat().st_mode & 0o777) == "0o644" for p in (tmp_path / "out").iterdir())


def test_rebuild_touches_nothing(built):
    reg, out, snap = built
    time.sleep(0.01)
    res = build(reg, out)
    assert res.rc == 0 and "wrote 0 of 8 files (all up to date)" in res.out
    assert snapshot(out) == snap  # same content, inode and mtime


def test_rebuild_rewrites_only_what_changed(built, output_files):
    reg, out, snap = built
    reg.write_text(OTHER)
    res = build(reg, out)
    assert res.rc == 0, res.err
    after = snapshot(out)
    changed = {name for name in output_files if after[name] != snap[name]}
    # a description reaches the docs and registry.json, never the C
    assert changed == {name for name in output_files if not name.endswith((".c.inc", ".h"))}
    assert "kvm-register-compat.md" in changed and "registry.json" in changed
    assert f"wrote {len(changed)} of {len(output_files)} files" in res.out


# -- all or nothing -------------------------------------------------------------

def test_validation_error_keeps_previous_outputs(built):
    reg, out, snap = built
    reg.write_text(TEXT.replace('min-kernel = "6.18"', 'min-kernel = "6.x"'))
    res = build(reg, out)
    assert_graceful(res, located=True)
    assert res.rc == 1
    assert snapshot(out) == snap and no_temp_files(out)


def test_raising_plugin_keeps_previous_outputs(built, monkeypatch):
    """docs-md raises after other outputs rendered, and after the first
    chunks of its own text were staged: nothing is written."""
    import compat.plugins.docs.md as docs_md

    def boom(model):
        yield "# half a document\n"
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(docs_md, "render_chunks", boom)
    reg, out, snap = built
    reg.write_text(OTHER)  # every output would change
    res = build(reg, out)
    assert_graceful(res)
    assert res.rc == 1
    assert "docs-md" in res.err and "renderer exploded" in res.err
    assert snapshot(out) == snap and no_temp_files(out)


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_full_disk_while_writing_keeps_previous_outputs(built, monkeypatch, fail_at):
    """ENOSPC on the n-th file written: no file changes, no temp file stays."""
    reg, out, snap = built
    calls = {"n": 0}
    real_fsync = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(output.os, "fsync", fsync)
    # one process: the count is the build's (test_parallel_render.py fails the docs' process)
    monkeypatch.setenv("COMPAT_RENDER_PROCESSES", "1")
    reg.write_text(OTHER)
    res = build(reg, out)
    assert_graceful(res)
    assert res.rc == 1 and "No space left on device" in res.err
    assert f"{out}/" in res.err  # names the file
    assert snapshot(out) == snap and no_temp_files(out)


def test_failing_rename_leaves_whole_files_and_no_temp(built, monkeypatch, output_files):
    """A rename failing midway: every file is a full old or new version."""
    reg, out, snap = built
    real_replace = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", replace)
    reg.write_text(OTHER)
    res = build(reg, out)
    assert res.rc == 1 and "Input/output error" in res.err
    assert no_temp_files(out)
    monkeypatch.undo()
    fresh = out.parent / "fresh"
    reg.write_text(OTHER)
    assert build(reg, fresh).rc == 0
    for name in output_files:
        assert (out / name).read_bytes() in (snap[name][0], (fresh / name).read_bytes())


def test_output_dir_is_a_file(tmp_path):
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    (tmp_path / "out").write_text("not a directory")
    res = build(reg, tmp_path / "out")
    assert_graceful(res)
    assert res.rc == 1
    assert (tmp_path / "out").read_text() == "not a directory"


# -- confinement ------------------------------------------------------------------

@pytest.mark.parametrize("dangling", [False, True])
def test_symlink_inside_output_dir_is_refused(built, tmp_path, dangling, output_files):
    reg, out, snap = built
    victim = tmp_path / "victim.md"
    if not dangling:
        victim.write_text("precious")
    (out / "kvm-register-compat.md").unlink()
    (out / "kvm-register-compat.md").symlink_to(victim)
    reg.write_text(OTHER)
    res = build(reg, out)
    assert_graceful(res)
    assert res.rc == 1 and "symbolic link" in res.err
    assert f"{out / 'kvm-register-compat.md'}: error:" in res.err
    assert victim.exists() != dangling and (dangling or victim.read_text() == "precious")
    after = snapshot(out)
    assert all(after[n] == snap[n] for n in output_files - {"kvm-register-compat.md"})
    assert no_temp_files(out)


def test_output_dir_may_itself_be_a_symlink(tmp_path, output_files):
    """-o naming a link to a directory is the user's choice, and allowed."""
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert build(reg, tmp_path / "link").rc == 0
    assert {p.name for p in (tmp_path / "real").iterdir()} == output_files


class EvilPlugin:
    """Declares one output whose file list is set per test."""

    def __init__(self, files: tuple[str, ...]) -> None:
        self.files = files

    @hookimpl
    def compat_outputs(self):
        return [OutputSpec("evil", self.files, "writes where it should not", default=False)]

    @hookimpl
    def compat_render_output(self, name, context):
        if name == "evil":
            return {f: "owned\n" for f in self.files}
        return None


def _with_plugin(monkeypatch, plugin) -> None:
    real_create = PluginHost.create.__func__

    def create(cls, named=(), **kwargs):
        host = real_create(cls, named, **kwargs)
        host.register(plugin, "evil")
        return host

    monkeypatch.setattr(PluginHost, "create", classmethod(create))


@pytest.mark.parametrize("rel", ["../escape.txt", "/tmp/compat-abs-escape.txt",
                                 "a/../../escape.txt", "", ".", "a//b", "./a", "~/x",
                                 "a\\..\\b", "nul\0byte", "a/."])
def test_plugin_paths_outside_are_refused(tmp_path, monkeypatch, rel):
    _with_plugin(monkeypatch, EvilPlugin((rel,)))
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    out = tmp_path / "sub" / "out"
    for extra in ((), ("--check",)):
        res = build(reg, out, "--only", "evil", *extra)
        assert_graceful(res)
        assert res.rc == 1, res.out
        assert "evil" in res.err
    assert not (tmp_path / "sub" / "escape.txt").exists()
    assert not Path("/tmp/compat-abs-escape.txt").exists()
    assert not out.exists() or not any(out.iterdir())


def test_plugin_path_through_symlinked_subdir_is_refused(tmp_path, monkeypatch):
    _with_plugin(monkeypatch, EvilPlugin(("sub/file.txt",)))
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    res = build(reg, out, "--only", "evil")
    assert res.rc == 1 and "symbolic link" in res.err
    assert not any(elsewhere.iterdir())


def test_plugin_nested_path_inside_is_written(tmp_path, monkeypatch):
    _with_plugin(monkeypatch, EvilPlugin(("deep/er/file.txt",)))
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    res = build(reg, tmp_path / "out", "--only", "evil")
    assert res.rc == 0, res.err
    assert (tmp_path / "out" / "deep" / "er" / "file.txt").read_text() == "owned\n"


# -- concurrency ---------------------------------------------------------------------

_WORKER = """
import sys
from compat.cli import main
import contextlib, io
reg, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(n):
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["build", "-r", reg, "-o", out])
    if rc != 0:
        sys.exit(rc)
"""


@pytest.mark.process("several builds at once, each its own process")
def test_concurrent_builds_never_tear_a_file(tmp_path, output_files):
    """Two processes rebuild one directory from two registries, 8 times
    each, while this process reads: every read is one whole version.  (A
    build that copies over its targets instead of renaming, or one whose
    processes share a temp file name, failed this within 3 builds each in
    5 of 5 tries, as with 20 and 60.)"""
    versions: dict[str, set[bytes]] = {name: set() for name in output_files}
    regs = []
    for i, text in enumerate((TEXT, OTHER)):
        reg = tmp_path / f"r{i}.toml"
        reg.write_text(text)
        regs.append(reg)
        ref = tmp_path / f"ref{i}"
        assert build(reg, ref).rc == 0
        for name in output_files:
            versions[name].add((ref / name).read_bytes())
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(reg), str(out), "8"], env=env)
             for reg in regs]
    reads = 0
    deadline = time.monotonic() + 240
    while any(p.poll() is None for p in procs):
        assert time.monotonic() < deadline, "builds hung"
        for name in output_files:
            try:
                data = (out / name).read_bytes()
            except FileNotFoundError:
                continue
            reads += 1
            assert data in versions[name], f"torn {name}: {len(data)} bytes"
    assert [p.wait() for p in procs] == [0, 0]
    assert reads > 0
    for name in output_files:
        assert (out / name).read_bytes() in versions[name]
    assert no_temp_files(out)


# -- --check and --depfile -------------------------------------------------------------

def test_check_fresh_and_stale(built):
    reg, out, snap = built
    res = build(reg, out, "--check")
    assert res.rc == 0 and "8 files up to date" in res.out
    reg.write_text(OTHER)
    res = build(reg, out, "--check")
    assert res.rc == 1
    assert "--- a/kvm-register-compat.md" in res.out and "+++ b/kvm-register-compat.md" in res.out
    assert "+Extended Translation Control Register \\(FEAT\\_TCRX\\), reworded\\." in res.out
    assert "arm-compat-guards.h" not in res.out
    assert "3 of 8 files are stale" in res.err
    assert f"compat build -r {reg} -o {out}" in res.err
    assert snapshot(out) == snap  # --check writes nothing
    # The printed command does regenerate.
    assert build(reg, out).rc == 0 and build(reg, out, "--check").rc == 0


def test_check_missing_directory_writes_nothing(tmp_path):
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    res = build(reg, tmp_path / "none", "--check", "--only", "docs-md")
    assert res.rc == 1 and "--- /dev/null" in res.out and "+++ b/kvm-register-compat.md" in res.out
    assert "--only docs-md" in res.err
    assert not (tmp_path / "none").exists()


def test_depfile_lists_targets_and_inputs(tmp_path, output_files):
    reg = tmp_path / "my registry.toml"
    reg.write_text(TEXT)
    out = tmp_path / "out dir"
    dep = tmp_path / "compat.d"
    res = build(reg, out, "--depfile", str(dep))
    assert res.rc == 0, res.err
    text = dep.read_text()
    head, body = text.split(": \\\n", 1)
    targets = [t.replace("\\ ", " ") for t in head.replace("\\ ", "\0").split(" ")]
    targets = [t.replace("\0", " ") for t in targets]
    assert sorted(Path(t).name for t in targets) == sorted(output_files)
    assert all(Path(t).parent == out for t in targets)
    inputs = [line.strip().rstrip("\\").strip().replace("\\ ", " ") for line in body.splitlines()]
    assert str(reg.resolve()) in inputs
    assert any(i.endswith("registry.schema.json") for i in inputs)
    assert any(i.endswith("docs/md.py") for i in inputs)
    assert all(Path(i).exists() for i in inputs)
    # Rebuilding rewrites nothing, the depfile included.
    before = dep.stat().st_mtime_ns, dep.stat().st_ino
    assert build(reg, out, "--depfile", str(dep)).rc == 0
    assert (dep.stat().st_mtime_ns, dep.stat().st_ino) == before


@pytest.mark.parametrize("where", ["dir", "under-file"])
def test_unwritable_depfile_is_an_error_not_a_crash(tmp_path, where):
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    (tmp_path / "afile").write_text("x")
    dep = tmp_path if where == "dir" else tmp_path / "afile" / "compat.d"
    res = build(reg, tmp_path / "out", "--depfile", str(dep))
    assert_graceful(res)
    assert res.rc == 1 and f"{dep}: error: cannot write" in res.err
    assert no_temp_files(tmp_path) and (tmp_path / "afile").read_text() == "x"


def test_depfile_escapes_make_specials():
    text = output.depfile_text([Path("o u$t#/a b")], [Path("in#1"), Path("x$y z")])
    assert text == "o\\ u$$t\\#/a\\ b: \\\n  in\\#1 \\\n  x$$y\\ z\n"


# -- reports and depfiles never clobber the run's inputs or outputs (item 7) ------

REGLIST_DIR = ROOT / "tests" / "data" / "reglists"


@pytest.mark.parametrize("victim", ["registry", "output", "hardlink-to-registry"])
def test_depfile_over_an_input_or_output_is_refused(built, victim):
    reg, out, snap = built
    before = reg.read_bytes()
    if victim == "registry":
        dep = reg
    elif victim == "output":
        dep = out / "arm-compat-guards.h"
    else:
        dep = reg.parent / "link.d"
        os.link(reg, dep)
    res = build(reg, out, "--depfile", str(dep))
    assert res.rc == 2 and "<command line>: error: --depfile" in res.err, res
    assert "would destroy it" in res.err
    assert reg.read_bytes() == before and snapshot(out) == snap


def test_html_report_over_an_input_is_refused(tmp_path):
    lists = [tmp_path / "n1-linux-6.12.reglist", tmp_path / "n1-linux-6.13.reglist"]
    for target in lists:
        target.write_bytes((REGLIST_DIR / target.name).read_bytes())
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    for victim in (lists[0], reg):
        before = victim.read_bytes()
        res = run_inproc("audit", "-r", str(reg), *map(str, lists), "--html", str(victim))
        assert res.rc == 2 and "--html" in res.err and "input of this run" in res.err, res
        assert victim.read_bytes() == before


def _limited_run(args: list[str], limit: int) -> subprocess.CompletedProcess:
    """``compat ARGS`` with files limited to ``limit`` bytes (a full disk, in effect)."""
    import resource
    import signal

    def limit_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-long write fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.run([sys.executable, "-m", "compat", *args], capture_output=True,
                          text=True, timeout=300, preexec_fn=limit_files,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))


@pytest.mark.process("a file-size limit (RLIMIT_FSIZE) on the process")
def test_a_failed_html_write_leaves_the_old_report_whole(tmp_path):
    lists = [str(REGLIST_DIR / "n1-linux-6.12.reglist"), str(REGLIST_DIR / "n1-linux-6.13.reglist")]
    report = tmp_path / "report.html"
    report.write_text("the previous report\n")
    proc = _limited_run(["audit", *lists, "--html", str(report)], 4096)
    assert proc.returncode == 1 and f"{report}: error: cannot write" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert report.read_text() == "the previous report\n"
    assert no_temp_files(tmp_path)


# -- SIGTERM mid-write (item 8) ---------------------------------------------------

_PAUSED_BUILD = """
import os, sys, time
import compat.output
real_replace = os.replace
def paused_replace(src, dst):  # every output is staged: say so, then wait to be killed
    sys.stderr.write("STAGED\\n"); sys.stderr.flush()
    time.sleep(60)
    real_replace(src, dst)
compat.output.os.replace = paused_replace
from compat.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
@pytest.mark.process("a signal ends the process mid-write")
def test_termination_mid_write_leaves_no_temp_file(tmp_path, signame):
    import signal
    reg = tmp_path / "registry.toml"
    reg.write_text(TEXT)
    out = tmp_path / "out"
    # the default action for the signal, whatever this process inherited
    # (under nohup SIGHUP is ignored, and an ignored signal stays ignored in a child)
    sig = getattr(signal, signame)
    proc = subprocess.Popen([sys.executable, "-c", _PAUSED_BUILD, "build", "-r", str(reg),
                             "-o", str(out)], stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(sig, signal.SIG_DFL))
    try:
        line = proc.stderr.readline()
        assert line == "STAGED\n", line + proc.stderr.read()
        assert [p for p in out.iterdir() if p.name.endswith(".tmp")]  # mid-write indeed
        proc.send_signal(getattr(signal, signame))
        rc = proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert rc == 128 + getattr(signal, signame), proc.stderr.read()
    assert "Traceback" not in proc.stderr.read()
    assert no_temp_files(tmp_path)


# -- depfiles that ninja and make read back (item 9) -----------------------------

WEIRD_DIR = "we ird#$dir:x\\y é"


def _weird_registry(tmp_path: Path) -> tuple[Path, Path]:
    """``registry.toml``, a symlink to a registry whose real path needs every
    escape (the depfile lists inputs by their resolved path)."""
    weird = tmp_path / WEIRD_DIR
    weird.mkdir()
    real = weird / "re#g $x.toml"
    real.write_text(TEXT)
    (tmp_path / "registry.toml").symlink_to(real)
    return tmp_path / "registry.toml", real


def _tool(name: str) -> str:
    import shutil
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


@pytest.mark.process("ninja runs the command line a user would write")
def test_ninja_reads_the_depfile_back(tmp_path, output_files):
    ninja = _tool("ninja")
    _, real = _weird_registry(tmp_path)
    outs = " ".join(f"out/{name}" for name in sorted(output_files))
    (tmp_path / "build.ninja").write_text(
        "rule compat\n"
        f"  command = {sys.executable} -m compat build -r registry.toml -o out --depfile out.d\n"
        "  depfile = out.d\n  deps = gcc\n"
        f"build {outs}: compat registry.toml\n")

    def run(*args):
        proc = subprocess.run([ninja, *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout
    run()
    deps = run("-t", "deps")
    assert f"    {real}\n" in deps, deps
    assert str(Path(output.__file__).resolve()) in deps  # compat's own modules shape it
    assert "no work to do" in run()  # a backslash in a path no longer rebuilds forever
    time.sleep(0.01)
    os.utime(real)
    assert "no work to do" not in run()


@pytest.mark.process("make runs the command line a user would write")
def test_make_reads_the_depfile_back(tmp_path):
    make = _tool("make")
    _, real = _weird_registry(tmp_path)
    (tmp_path / "Makefile").write_text(
        "out/registry.json:\n"
        f"\tPYTHONPATH={ROOT} {sys.executable} -m compat build -r registry.toml -o out "
        "--depfile out.d\n"
        "-include out.d\n"
        "show:\n\t@:$(info [$^])\n")

    def make_rc(*args):
        return subprocess.run([make, "-s", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
    assert make_rc("out/registry.json").returncode == 0
    assert make_rc("-q", "out/registry.json").returncode == 0
    shown_deps = subprocess.run(
        [make, "-s", "-p", "-q", "out/registry.json"], cwd=tmp_path, capture_output=True,
        text=True, timeout=300).stdout
    assert str(real) in shown_deps, shown_deps[-3000:]
    time.sleep(0.01)
    os.utime(real)
    assert make_rc("-q", "out/registry.json").returncode == 1


@pytest.mark.parametrize("bad", ["new\nline", "tab\there", "amp&ersand", "semi;colon",
                                 "quote'd", "star*", "trailing\\", "back\\ slash-space",
                                 "colon-at-end:", "per%cent", "lone\udcff"])
def test_paths_a_depfile_cannot_hold_are_refused(tmp_path, bad):
    try:
        reg = tmp_path / bad
        reg.write_text(TEXT)  # the registry: an input the depfile lists
    except (OSError, UnicodeEncodeError):
        pytest.skip("the file system refuses this name")
    out = tmp_path / "out"
    res = build(reg, out, "--depfile", str(tmp_path / "ok.d"))
    assert res.rc == 1 and "cannot be written in a depfile" in res.err, res
    assert_graceful(res)
    assert not out.exists() and not (tmp_path / "ok.d").exists()


def test_depfile_lists_a_plugin_that_is_a_class_or_an_instance(tmp_path, monkeypatch):
    from importlib.metadata import EntryPoint

    from compat.plugin.host import PluginHost

    pkg = tmp_path / "compat_depfile_plugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .impl import Plugin, INSTANCE\n")
    (pkg / "impl.py").write_text(
        "from compat.plugin import hookimpl\n"
        "from .hooks import validate\n"
        "class Plugin:\n    compat_validate = staticmethod(validate)\n"
        "class Other:\n    @hookimpl\n    def compat_outputs(self):\n        return []\n"
        "INSTANCE = Other()\n")
    (pkg / "hooks.py").write_text(
        "from compat.plugin import hookimpl\n"
        "@hookimpl\ndef validate(registry):\n    return []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = {"cls": EntryPoint("cls", "compat_depfile_plugin:Plugin", "compat.plugins"),
           "obj": EntryPoint("obj", "compat_depfile_plugin:INSTANCE", "compat.plugins")}
    monkeypatch.setattr(PluginHost, "entry_points", staticmethod(lambda: eps))
    dep = tmp_path / "out.d"
    res = run_inproc("build", "-r", str(BUNDLED), "-o", str(tmp_path / "out"),
                     "--plugin", "cls", "--plugin", "obj", "--depfile", str(dep))
    assert res.rc == 0, res
    text = dep.read_text()
    for name in ("__init__.py", "impl.py", "hooks.py"):
        assert str(pkg / name) in text, text
    for module in list(sys.modules):
        if module.startswith("compat_depfile_plugin"):
            sys.modules.pop(module)


def test_an_output_over_the_registry_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    reg = out / "registry.json"  # TOML under the name of the registry-json output
    reg.write_text(TEXT)
    res = build(reg, out)
    assert res.rc == 1 and "would overwrite an input" in res.err, res
    assert reg.read_text() == TEXT and sorted(p.name for p in out.iterdir()) == ["registry.json"]
