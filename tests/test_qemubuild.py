"""``compat lab qemu build`` and ``lab migrate --inner-qemu``, the parts that need
no QEMU build: the cache key, the patch series (read and applied with the
real ``patch``), the tool checks, the deb-src configuration, the inner
QEMU's cases and guest script.  The build itself and two real migrations
with it: tests/test_qemubuild_lab.py (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compat.core.diagnostics import CompatError
from compat.lab import guest
from compat.lab.cases import Case, parse_case
from compat.lab.qemubuild import QEMU_OUTPUTS, build, inner, series, source, toolchain
from conftest import run_compat

K72, K73 = "7.2.13+deb14", "7.3.4+deb13"


def _message(exc: CompatError) -> str:
    return "\n".join(f"{d.message} {d.hint or ''}" for d in exc.diagnostics)


# -- cache key -----------------------------------------------------------------------------------

def test_cache_key_changes_with_each_input_and_only_then():
    base = build.cache_key("10.2.2+ds-1", "a" * 64, "b" * 64)
    assert base == build.cache_key("10.2.2+ds-1", "a" * 64, "b" * 64)
    assert base.startswith("10.2.2+ds-1-") and len(base) == len("10.2.2+ds-1-") + 16
    others = {build.cache_key("10.2.1+ds-1", "a" * 64, "b" * 64),
              build.cache_key("10.2.2+ds-1", "c" * 64, "b" * 64),
              build.cache_key("10.2.2+ds-1", "a" * 64, "c" * 64)}
    assert base not in others and len(others) == 3


def test_outputs_digest_is_of_names_and_texts_not_order():
    a = build.outputs_digest({"x.h": "1", "y.c.inc": "2"})
    assert a == build.outputs_digest({"y.c.inc": "2", "x.h": "1"})
    assert a != build.outputs_digest({"x.h": "1", "y.c.inc": "3"})
    assert a != build.outputs_digest({"z.h": "1", "y.c.inc": "2"})
    # a text moved from one file to the other is another set of outputs
    assert build.outputs_digest({"x": "ab", "y": ""}) != build.outputs_digest({"x": "a", "y": "b"})


def test_a_cached_build_is_returned_without_building(tmp_path):
    """Nothing changed: the cached path, no download, no tool run (tools are fake)."""
    d = tmp_path / "patches"
    d.mkdir()
    (d / "0001-a.patch").write_text("x\n")
    s = series.read_series(d)
    outputs = {"arm-compat-guards.h": "/* h */\n"}
    key = build.cache_key("10.2.2+ds-1", s.digest, build.outputs_digest(outputs))
    dest = build.builds_dir(tmp_path) / key
    dest.mkdir(parents=True)
    (dest / build.BINARY).write_bytes(b"bin")
    (dest / "build.json").write_text(json.dumps({"source": "10.2.2+ds-1", "key": key}))
    said = []
    got = build.build(tmp_path, source="10.2.2+ds-1", series=s, outputs=outputs, registry="r",
                      jobs=1, report=said.append,
                      tools=toolchain.Toolchain({}, sys.executable, "1.5.0"))
    assert got.cached and got.binary == dest / build.BINARY
    assert said == [f"done: nothing changed, cached {dest / build.BINARY}"]
    assert build.find_build(tmp_path, "build").binary == dest / build.BINARY
    # a changed output is another key: not this build
    assert build.cache_key("10.2.2+ds-1", s.digest, build.outputs_digest({"a": "b"})) != key


# -- the patch series ----------------------------------------------------------------------------

def _series_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "series-dir"
    d.mkdir()
    for name, text in files.items():
        (d / name).write_text(text)
    return d


def test_series_file_gives_the_order_and_comments_do_not_count(tmp_path):
    d = _series_dir(tmp_path, {"b.patch": "B\n", "a.patch": "A\n",
                               "series": "# the order\nb.patch\n\na.patch -p1  # second\n"})
    s = series.read_series(d)
    assert [p.name for p in s.patches] == ["b.patch", "a.patch"] and s.from_series_file
    digest = s.digest
    (d / "series").write_text("b.patch\na.patch\n")
    assert series.read_series(d).digest == digest
    (d / "series").write_text("a.patch\nb.patch\n")
    assert series.read_series(d).digest != digest      # the order counts
    (d / "series").write_text("b.patch\na.patch\n")
    (d / "a.patch").write_text("A2\n")
    assert series.read_series(d).digest != digest      # the contents count


def test_without_a_series_file_every_patch_in_name_order(tmp_path):
    d = _series_dir(tmp_path, {"0002-b.patch": "B\n", "0001-a.patch": "A\n", "README": "x\n"})
    s = series.read_series(d)
    assert [p.name for p in s.patches] == ["0001-a.patch", "0002-b.patch"]
    assert not s.from_series_file


@pytest.mark.parametrize("files,where,said", [
    ({"series": "a.patch\nmissing.patch\n", "a.patch": "A\n"}, ":2", "'missing.patch' is not a patch file"),
    ({"series": "a.patch\na.patch\n", "a.patch": "A\n"}, ":2", "listed twice"),
    ({"series": "a.patch -p0\n", "a.patch": "A\n"}, ":1", "unsupported option '-p0'"),
    ({"series": "../a.patch\n"}, ":1", "is not a patch file"),
    ({"README": "no patches\n"}, "", "no 'series' file and no *.patch file"),
])
def test_bad_series_directories_are_named(tmp_path, files, where, said):
    d = _series_dir(tmp_path, files)
    with pytest.raises(CompatError) as e:
        series.read_series(d)
    diag = e.value.diagnostics[0]
    assert said in diag.message
    assert str(diag.location) == str(d / "series") + where if where else str(diag.location) == str(d)


def test_bad_patches_directories_on_the_command_line(tmp_path):
    r = run_compat("lab", "qemu", "build", "--patches", str(tmp_path / "nowhere"))
    assert r.rc == 2 and "<command line>: error: --patches" in r.err and "is not a directory" in r.err
    assert "Traceback" not in r.err
    (tmp_path / "empty").mkdir()
    r = run_compat("lab", "qemu", "build", "--patches", str(tmp_path / "empty"))
    assert r.rc == 1 and f"{tmp_path / 'empty'}: error: no 'series' file" in r.err
    d = _series_dir(tmp_path, {"series": "gone.patch\n"})
    r = run_compat("lab", "qemu", "build", "--patches", str(d))
    assert r.rc == 1 and f"{d / 'series'}:1: error: 'gone.patch' is not a patch file" in r.err


def _tree(tmp_path: Path) -> Path:
    t = tmp_path / "tree"
    (t / "hw/arm").mkdir(parents=True)
    (t / "hw/arm/virt.c").write_text("int a;\nint b;\nint c;\n")
    return t


PATCH_OK = """--- a/hw/arm/virt.c
+++ b/hw/arm/virt.c
@@ -1,3 +1,4 @@
 int a;
+#include "compat/arm-virt-kernel-compat.c.inc"
 int b;
 int c;
"""
PATCH_BAD = """--- a/hw/arm/virt.c
+++ b/hw/arm/virt.c
@@ -1,3 +1,3 @@
 int a;
-int nothing_like_this;
+int b2;
 int c;
"""


def test_a_series_applies_with_patch_in_order(tmp_path):
    tree = _tree(tmp_path)
    d = _series_dir(tmp_path, {"series": "0001-include.patch\n", "0001-include.patch": PATCH_OK})
    said = []
    series.apply_series(series.read_series(d), tree, said.append)
    assert '#include "compat/arm-virt-kernel-compat.c.inc"' in (tree / "hw/arm/virt.c").read_text()
    assert said == ["patch 1/1: 0001-include.patch"]


def test_a_patch_that_does_not_apply_is_named_with_its_hunk(tmp_path):
    tree = _tree(tmp_path)
    d = _series_dir(tmp_path, {"series": "0001-ok.patch\n0002-bad.patch\n",
                               "0001-ok.patch": "--- a/hw/arm/new.c\n+++ b/hw/arm/new.c\n"
                                                "@@ -0,0 +1 @@\n+int n;\n",
                               "0002-bad.patch": PATCH_BAD})
    with pytest.raises(CompatError) as e:
        series.apply_series(series.read_series(d), tree, lambda m: None)
    diag = e.value.diagnostics[0]
    assert diag.message.startswith(f"{d / '0002-bad.patch'}: patch 2 of the series does not apply")
    assert any("Hunk #1 FAILED" in line for line in diag.detail), diag.detail


def test_a_patch_applied_twice_is_refused_not_reversed(tmp_path):
    """--forward: a patch already in the tree is an error, never undone."""
    tree = _tree(tmp_path)
    d = _series_dir(tmp_path, {"series": "a.patch\n", "a.patch": PATCH_OK})
    series.apply_series(series.read_series(d), tree, lambda m: None)
    with pytest.raises(CompatError) as e:
        series.apply_series(series.read_series(d), tree, lambda m: None)
    assert any("Reversed" in line for line in e.value.diagnostics[0].detail)
    assert (tree / "hw/arm/virt.c").read_text().count("compat/arm-virt-kernel-compat.c.inc") == 1


# -- tools ---------------------------------------------------------------------------------------

def _fake_tools(tmp_path: Path, leave_out: str | None = None) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in toolchain.BUILD_TOOLS:
        if tool != leave_out:
            (bin_dir / tool).write_text("#!/bin/sh\n")
            (bin_dir / tool).chmod(0o755)
    return str(bin_dir)


@pytest.mark.parametrize("tool", sorted(toolchain.BUILD_TOOLS))
def test_each_missing_tool_is_named_with_its_package(tmp_path, tool):
    with pytest.raises(CompatError) as e:
        toolchain.check(path=_fake_tools(tmp_path, leave_out=tool), meson="1.5.1")
    said = _message(e.value)
    assert f"'{tool}' is not installed" in said
    assert f"apt-get install {toolchain.BUILD_TOOLS[tool]}" in said


def test_meson_missing_or_too_old(tmp_path):
    path = _fake_tools(tmp_path)
    with pytest.raises(CompatError) as e:
        toolchain.check(path=path, meson=None)
    assert "pip install 'meson>=1.5'" in _message(e.value)
    with pytest.raises(CompatError) as e:
        toolchain.check(path=path, meson="1.0.1")
    assert "meson 1.0.1 is too old" in _message(e.value)
    got = toolchain.check(path=path, meson="1.10.0")     # 1.10 > 1.5, not "1.1"
    assert got.meson == "1.10.0" and got["ninja"] == os.path.join(path, "ninja")


def test_the_command_names_a_missing_cross_compiler(tmp_path):
    """PATH without aarch64-linux-gnu-gcc: an error naming the Debian package, exit 1."""
    d = _series_dir(tmp_path, {"series": ""})
    path = _fake_tools(tmp_path, leave_out="aarch64-linux-gnu-gcc")
    r = run_compat("lab", "qemu", "build", "--patches", str(d), "--cache", str(tmp_path / "c"),
                   env={"PATH": path})
    assert r.rc == 1, r.err
    assert "error: 'aarch64-linux-gnu-gcc' is not installed" in r.err
    assert "apt-get install gcc-aarch64-linux-gnu" in r.err and "Traceback" not in r.err
    assert not (tmp_path / "c").exists()     # nothing downloaded, nothing written


# -- the deb-src configuration ---------------------------------------------------------------------

def test_deb_src_lines_come_from_the_machines_uris(tmp_path):
    etc = tmp_path / "etc"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://archive.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://archive.invalid/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n")
    apt = source.BuildApt(tmp_path / "cache", suites=("bookworm",), etc=etc)
    lines = [l for l in apt.sources_text().splitlines() if not l.startswith("#")]
    signed = f"signed-by={source.KEYRING}" if source.KEYRING.exists() else ""
    assert lines == [f"deb [arch=arm64{' ' + signed if signed else ''}] http://archive.invalid/debian "
                     "bookworm main",
                     f"deb-src {'[' + signed + '] ' if signed else ''}http://archive.invalid/debian "
                     "sid main"]
    # lists of their own: the lab's arm64 lists are not touched
    assert apt.root.parent == tmp_path / "cache" and apt.root.name != "apt"


def test_sources_lines_per_uri_and_suite():
    got = source.sources_lines(["http://a.invalid/debian", "http://b.invalid/debian"],
                               ("bookworm",), ("sid", "experimental"), keyring=None)
    assert got == ["deb [arch=arm64] http://a.invalid/debian bookworm main",
                   "deb-src http://a.invalid/debian sid main",
                   "deb-src http://a.invalid/debian experimental main",
                   "deb [arch=arm64] http://b.invalid/debian bookworm main",
                   "deb-src http://b.invalid/debian sid main",
                   "deb-src http://b.invalid/debian experimental main"]


def test_machine_release_and_source_versions(tmp_path):
    f = tmp_path / "os-release"
    f.write_text('PRETTY_NAME="Debian"\nVERSION_CODENAME=bookworm\n')
    assert source.machine_release(f) == "bookworm"
    f.write_text('NAME="Something"\n')
    with pytest.raises(CompatError, match="no VERSION_CODENAME"):
        source.machine_release(f)
    assert source.full_version("10.2.2+ds-1", ["1:11.1.3+ds-2", "1:10.2.2+ds-1"]) == "1:10.2.2+ds-1"
    assert source.full_version("1:10.2.2+ds-1", ["1:10.2.2+ds-1"]) == "1:10.2.2+ds-1"
    with pytest.raises(CompatError) as e:
        source.full_version("10.2.3+ds-1", ["1:11.1.3+ds-2"])
    assert "offered: 1:11.1.3+ds-2" in _message(e.value)


# -- compat's outputs --------------------------------------------------------------------------------

def test_generated_outputs_are_compats_c_for_the_registry(tmp_path):
    import argparse
    from compat.commands import lab_qemu
    from compat.load import pipeline
    from compat.core.resources import default_registry
    got = lab_qemu.generated_outputs(argparse.Namespace(registry=None, plugin=[]))
    path, name = default_registry()
    loaded = pipeline.load(path, name)
    assert set(QEMU_OUTPUTS) <= set(loaded.outputs)
    assert set(got) == set(pipeline.declared_files(pipeline.select_outputs(loaded, QEMU_OUTPUTS)))
    assert {"arm-virt-kernel-compat.c.inc", "arm-cpreg-mig-tolerances.c.inc",
            "arm-compat-guards.h", "arm-compat-glue.c.inc"} <= set(got)
    assert lab_qemu.release_of("10.2.2+ds-1") == "10.2" and lab_qemu.release_of("1:11.1.3+ds-2") == "11.1"


# -- the inner QEMU ----------------------------------------------------------------------------------

def _arm64_elf(path: Path) -> Path:
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + (183).to_bytes(2, "little") + bytes(100))
    return path


def _built(tmp_path: Path) -> build.Built:
    info = {"source": "10.2.2+ds-1", "patches": {"directory": "d", "files": [], "sha256": "p" * 64},
            "outputs_hash": "o" * 64, "outputs": ["x"], "registry": "registry.toml", "key": "k"}
    return build.Built(_arm64_elf(tmp_path / "qemu-system-aarch64"), info, True)


def test_inner_cases_run_once_per_compat_setting_with_their_own_names(tmp_path):
    built = _built(tmp_path)
    case = parse_case(f"{K73}:{K72}:-:virt-10.2")
    got = inner.inner_cases([case], [f"{K73}:{K72}:-:virt-10.2"], built, "both")
    assert [c.name for c in got] == ["7.3-to-7.2_qemu10.2.2-compat-off_virt-10.2",
                                     "7.3-to-7.2_qemu10.2.2-compat-on_virt-10.2"]
    assert [c.compat for c in inner.inner_cases([case], [], built, "off")] == ["off"]
    assert [c.compat for c in inner.inner_cases([case], [], built, "off,tables,tolerances,on")] \
        == ["off", "tables", "tolerances", "on"]
    for bad in ("", "of", "on,maybe"):
        with pytest.raises(CompatError, match="--compat"):
            inner.inner_cases([case], [], built, bad)
    # Debian's QEMU cases keep their names
    assert case.name == "7.3-to-7.2_qemu11.1_virt-10.2"
    with pytest.raises(CompatError, match="with --inner-qemu"):
        inner.inner_cases([case], [f"{K73}:{K72}:11.1"], built, "on")
    prov = inner.provenance(built)
    assert set(prov["build"]) >= {"source", "patches", "outputs_hash", "registry"}
    built.info["patches"]["directory"] = "/home/x/compat/compat/data/qemu-patches/10.2"
    assert inner.provenance(built)["build"]["patches"]["directory"] == "compat/data/qemu-patches/10.2"
    assert series.read_series(series.project_series("10.2")).name == "compat/data/qemu-patches/10.2"


def test_the_guest_exports_compat_rules_only_for_a_built_qemu(tmp_path):
    on = Case(K73, K72, "10.2.2", "virt-10.2", compat="off")
    script = guest.case_script("dest", on.machine, "host", "", True, 100, on.compat)
    assert "export COMPAT_RULES=off\n" in script
    assert "COMPAT_RULES" not in guest.case_script("dest", "virt-11.0", "host", "", True, 100)
    # the script is shell: it sets what it says
    proc = subprocess.run(["sh", "-c", script + 'sh -c \'echo "$COMPAT_RULES"\''],
                          capture_output=True, text=True)
    assert proc.stdout == "off\n"


def test_find_build_labels_and_paths(tmp_path):
    with pytest.raises(CompatError) as e:
        build.find_build(tmp_path, "build")
    assert "run 'compat lab qemu build' first" in _message(e.value)
    with pytest.raises(CompatError, match="not an arm64"):
        build.find_build(tmp_path, sys.executable if "/" in sys.executable else "/bin/sh")
    with pytest.raises(CompatError, match="no such file"):
        build.find_build(tmp_path, str(tmp_path / "nothing"))
    elf = _arm64_elf(tmp_path / "q")
    assert build.find_build(tmp_path, str(elf)).binary == elf
    with pytest.raises(CompatError, match="no such build"):
        build.find_build(tmp_path, "10.2.2+ds-1-0000")


def test_inner_qemu_on_the_command_line_is_checked_first(tmp_path):
    r = run_compat("lab", "migrate", f"{K73}:{K72}:-:virt-10.2", "-o", str(tmp_path / "o"),
                   "--inner-qemu", "build", "--cache", str(tmp_path / "c"))
    assert r.rc == 2 and "--inner-qemu build: no QEMU 10.2.2+ds-1 built" in r.err, r.err
    assert "Traceback" not in r.err


def test_sync_tree_touches_only_what_differs(tmp_path):
    """The kept source tree gets a fresh extraction's files; only those that differ
    are rewritten (and become newer), so ninja rebuilds only what they touch."""
    fresh, tree = tmp_path / "fresh", tmp_path / "tree"
    for root in (fresh, tree):
        (root / "hw/arm").mkdir(parents=True)
        (root / "hw/arm/virt.c").write_text("same\n")
        (root / "include").mkdir()
    (fresh / "hw/arm/cpu.c").write_text("new text\n")
    (tree / "hw/arm/cpu.c").write_text("old text\n")
    (fresh / "compat").mkdir()
    (fresh / "compat/arm-compat-glue.c.inc").write_text("glue\n")
    (tree / "hw/arm/gone.c").write_text("removed by the new series\n")
    (tree / "include/stale").mkdir()
    os.symlink("virt.c", fresh / "hw/arm/link.c")
    old = 1_000_000_000
    for p in tree.rglob("*"):
        os.utime(p, (old, old), follow_symlinks=False)
    changed = build.sync_tree(fresh, tree)
    assert changed == 5     # cpu.c, the glue, gone.c, include/stale, link.c
    got = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    assert got == sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*"))
    assert (tree / "hw/arm/cpu.c").read_text() == "new text\n"
    assert (tree / "hw/arm/virt.c").stat().st_mtime == old           # untouched
    assert (tree / "hw/arm/cpu.c").stat().st_mtime > old
    assert os.readlink(tree / "hw/arm/link.c") == "virt.c"
    assert build.sync_tree(fresh, tree) == 0                          # nothing left to do


def test_each_compat_setting_gets_its_own_source_runs(tmp_path):
    """The source's COMPAT_RULES changes its stream (compat's tables hide registers):
    a case with rules off and one with rules on share no guest run."""
    from compat.lab.migrate import schedule
    from compat.lab.runcase import Outcome

    class Fake:
        def __init__(self):
            self.sources = []

        def source(self, case, work):
            self.sources.append((case.source, case.compat))
            return (f"{case.source}/{case.compat}".encode(), 0.0, [])

        def run(self, case, stream, seconds, msgs, own):
            assert stream == f"{case.source}/{case.compat}".encode()
            assert own == f"{case.destination}/{case.compat}".encode()
            return Outcome(case, True, "running", 0, [], tmp_path / case.name, 0.0,
                           {"verdict": "pass"})

        def failure(self, case, exc):
            raise exc

    cases = [Case(K73, K72, "10.2.2", "virt-10.2", compat="off"),
             Case(K73, K72, "10.2.2", "virt-10.2", compat="on")]
    fake = Fake()
    done = schedule(cases, tmp_path, fake, jobs=1, report=lambda m: None)
    assert len(done) == 2
    assert sorted(fake.sources) == sorted([(K73, "off"), (K72, "off"), (K73, "on"), (K72, "on")])
