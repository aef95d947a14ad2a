"""Hostile input to the lab (issue 20, items 4, 5, 10, 11): CASE strings with
path and shell metacharacters in every field, header fields with control
characters, a download cache truncated at random offsets.  Nothing here
boots a guest: every refusal happens before one would."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat.core.diagnostics import CompatError
from compat.lab import cases, guest, runcase
from hostile_util import run_inproc

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

GOOD = ["6.16.12+deb13", "6.12.117+deb13", "11.1", "virt-11.0", "host,kvm-psci-version=1.1", "host"]
FIELDS = ("SRC", "DST", "QEMU", "MACHINE", "SRC_CPU", "DST_CPU")
#: what a field must never carry into a path or the guest's shell
METACHARS = ["/", "../", "..", "'", '"', "`", "$(", "$", ";", "&", "|", " ", "\t", "\n", "\r",
             "\\", "*", "?", "[", "~", "#", "<", ">", "(", ")", "{", "}", "!", "\x00", "\x1b",
             "\u202e", "\u2028", "%", "@"]


def _usage_error(exc: CompatError) -> None:
    assert exc.is_usage_error(), exc.format()
    assert "Traceback" not in exc.format()


@settings(max_examples=300, **SETTINGS)
@given(field=st.integers(0, 5), meta=st.sampled_from(METACHARS),
       where=st.sampled_from(["prefix", "suffix", "middle"]), extra=st.text(max_size=8))
def test_metacharacters_in_every_case_field_are_usage_errors(field, meta, where, extra):
    parts = list(GOOD)
    value = parts[field]
    if meta == ":":
        return
    bad = {"prefix": meta + value, "suffix": value + meta + extra.replace(":", ""),
           "middle": value[:2] + meta + value[2:]}[where]
    parts[field] = bad
    with pytest.raises(CompatError) as info:
        cases.parse_case(":".join(parts))
    _usage_error(info.value)


@settings(max_examples=300, **SETTINGS)
@given(st.text(max_size=60))
def test_any_case_string_is_refused_or_safe(text):
    """Whatever parses names a directory of one component and carries no
    shell or path metacharacter into the guest."""
    try:
        case = cases.parse_case(text)
    except CompatError as exc:
        _usage_error(exc)
        return
    assert "/" not in case.name and case.name not in (".", "..")
    for value in (case.machine, case.source_cpu, case.destination_cpu, case.source,
                  case.destination):
        assert not set(value) & set("/'\"`$;&| \t\n\\*?[~#<>(){}!"), value


def test_the_reviews_victim_case_is_refused_before_anything_runs(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("x")
    out = tmp_path / "a" / "b"
    res = run_inproc("lab", "migrate", "6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0/../../victim",
                     "-o", str(out), "--cache", str(tmp_path / "cache"))
    assert res.rc == 2, res.err
    assert res.err.startswith("<command line>: error: CASE ") and "MACHINE" in res.err, res.err
    assert (victim / "keep").exists() and not out.exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("case", [
    "6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0:host,x='$(reboot)'",
    "6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0:host:host'; echo compat-migrate: verdict",
    "6.16.12+deb13/..:6.12.117+deb13",
    "6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0:host:host:extra",
    "6.16.12+deb13:6.12.117+deb13:9.2",
])
def test_bad_cases_exit_2_on_the_command_line(tmp_path, case):
    res = run_inproc("lab", "migrate", case, "-o", str(tmp_path / "out"))
    assert res.rc == 2, res.err
    assert res.err.startswith("<command line>: error: ") and "Traceback" not in res.err
    assert not (tmp_path / "out").exists()


def test_a_case_built_in_code_cannot_leave_the_output_directory(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    evil = cases.Case("6.16.12+deb13", "6.12.117+deb13", "11.1", "virt-11.0/../../victim")
    with pytest.raises(CompatError, match="not a directory of its own"):
        runcase.case_dir(out, evil)
    good = cases.Case("6.16.12+deb13", "6.12.117+deb13")
    assert runcase.case_dir(out, good) == out / good.name
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / good.name).symlink_to(elsewhere)
    with pytest.raises(CompatError, match="not a directory of its own"):
        runcase.case_dir(out, good)


@settings(max_examples=150, **SETTINGS)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=30))
def test_case_script_quotes_every_value_for_the_shell(text):
    """``case.sh`` sourced by a real POSIX shell gives back every value as it
    was, however hostile (defence in depth behind the grammar)."""
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    script = guest.case_script("source", text, text + "'", "-trace " + text, True, 60)
    probe = script + 'printf "%s\\0%s\\0%s\\0%s" "$MACHINE" "$CPU" "$TRACE" "$MODE"\n'
    proc = subprocess.run([sh, "-c", probe], capture_output=True, timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode("utf-8", "surrogateescape").split("\0") == \
        [text, text + "'", "-trace " + text, "source"]


# -- header fields (issue 20.11) -----------------------------------------------

CONTROLS = ["\n", "\r", "\x00", "\x1b[2J", "\x85", "\u2028", "\u202e", "\t", "\x7f"]


@settings(max_examples=60, **SETTINGS)
@given(control=st.sampled_from(CONTROLS), at=st.integers(0, 8))
def test_control_characters_in_host_are_refused_by_compat_collect(control, at):
    host = "box-one"[:at] + control + "0x6030000000130000"
    res = run_inproc("collect", "--host", host, "--device", "/dev/null")
    assert res.rc == 2, res.err
    assert res.err.startswith("<command line>: error: --host ") and "Traceback" not in res.err


@settings(max_examples=60, **SETTINGS)
@given(option=st.sampled_from(["--host", "--cpu"]),
       bad=st.sampled_from(CONTROLS + ["/", "../", "..", " ", "'", "$(x)", ";"]),
       at=st.integers(0, 4))
def test_lab_collect_host_and_cpu_keep_their_grammar(tmp_path_factory, option, bad, at):
    """--host names the output file and --cpu goes into it and the header:
    both refused before anything runs (no cache, no output directory)."""
    tmp = tmp_path_factory.mktemp("lc")
    good = {"--host": "qemu11.1-max", "--cpu": "max"}[option]
    res = run_inproc("lab", "collect", "6.1.0-50", "-o", str(tmp / "out"), "--cache",
                     str(tmp / "cache"), option, good[:at] + bad + good[at:])
    assert res.rc == 2, res.err
    assert res.err.startswith(f"<command line>: error: {option} ") and "Traceback" not in res.err
    assert not (tmp / "out").exists() and not (tmp / "cache").exists()


@settings(max_examples=200, **SETTINGS)
@given(values=st.lists(st.text(max_size=12), min_size=6, max_size=6))
def test_every_header_field_stays_on_its_line(values):
    """The list writer escapes control characters in every header key and
    value: whatever they hold, the list reads back as the same indices."""
    from compat import collector
    from compat.analysis.reglist import parse_reglist
    indices = [0x6030000000130000, 0x6030000000160000]
    text = collector.format_list(indices, kernel=values[0], host=values[1], cpu=values[2] or None,
                                 features=[values[3]], extra={values[4] or "k": values[5]})
    lines = text.splitlines()
    assert len(lines) == 6 + len(indices) and text.count("\n") == len(lines)
    assert all(line.startswith("# ") for line in lines[:6])
    assert lines[6:] == [f"0x{i:016x}" for i in indices]
    try:
        got = parse_reglist(text, "x.reglist")
    except CompatError:
        return  # a header the reader refuses (a bad kernel version) is refused, never misread
    assert got.indices == indices


# -- the download cache (issue 20.5) -------------------------------------------

@pytest.fixture(scope="module")
def real_deb(tmp_path_factory):
    """A real .deb built by dpkg-deb (incompressible content, so the data
    member is most of the file)."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    tmp = tmp_path_factory.mktemp("deb")
    root = tmp / "root"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: hello\nVersion: 1:1.0-1\nArchitecture: arm64\nMaintainer: t <t@t>\n"
        "Description: test\n")
    (root / "usr" / "share").mkdir(parents=True)
    (root / "usr" / "share" / "blob").write_bytes(bytes((i * 7919) % 251 for i in range(9000)))
    out = tmp / "hello_1%3a1.0-1_arm64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(out)],
                   check=True, capture_output=True)
    return out


@settings(max_examples=200, **SETTINGS)
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_a_deb_truncated_anywhere_is_not_whole(real_deb, tmp_path_factory, fraction):
    from compat.lab.apt import deb_complete
    data = real_deb.read_bytes()
    cut = int(len(data) * fraction)
    path = tmp_path_factory.mktemp("cut") / real_deb.name
    path.write_bytes(data[:cut])
    assert not deb_complete(path), cut
    path.write_bytes(data)
    assert deb_complete(path)


def _fake_apt(tmp_path, monkeypatch, script):
    """A PrivateApt whose apt-get is ``script`` (sh; $SPEC is the last argument)."""
    from compat.lab.apt import PrivateApt
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "sources.list").write_text("deb http://mirror.invalid/debian bookworm main\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "apt-get"
    tool.write_text('#!/bin/sh\nfor SPEC; do :; done\necho "$SPEC" >> "$FAKE_CALLS"\n' + script)
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls"))
    return PrivateApt(tmp_path / "cache", etc=etc)


@settings(max_examples=25, **SETTINGS)
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_a_truncated_cache_file_is_fetched_again(real_deb, tmp_path_factory, fraction):
    tmp = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAKE_DEB", str(real_deb))
        apt = _fake_apt(tmp, mp, 'cp "$FAKE_DEB" ./hello_1%3a1.0-1_arm64.deb\n')
        debs = apt.root / "debs"
        debs.mkdir(parents=True)
        data = real_deb.read_bytes()
        (debs / real_deb.name).write_bytes(data[:int(len(data) * fraction)])
        [path] = apt.download(["hello=1:1.0-1"])
        assert path == debs / real_deb.name and path.read_bytes() == data
        assert (tmp / "calls").read_text() == "hello=1:1.0-1\n"
        [again] = apt.download(["hello=1:1.0-1"])       # whole now: reused
        assert again == path and (tmp / "calls").read_text() == "hello=1:1.0-1\n"
        assert sorted(p.name for p in debs.iterdir()) == [real_deb.name]


def test_an_interrupted_download_leaves_no_cache_file(real_deb, tmp_path, monkeypatch):
    """apt-get killed half way (as by Ctrl-C): nothing under the final name,
    no temporary directory left, and the next run fetches it whole."""
    monkeypatch.setenv("FAKE_DEB", str(real_deb))
    apt = _fake_apt(tmp_path, monkeypatch,
                    'if [ ! -e "$FAKE_CALLS.once" ]; then : > "$FAKE_CALLS.once"\n'
                    '  head -c 3000 "$FAKE_DEB" > ./hello_1%3a1.0-1_arm64.deb; kill -9 $$; fi\n'
                    'cp "$FAKE_DEB" ./hello_1%3a1.0-1_arm64.deb\n')
    with pytest.raises(CompatError, match="apt-get download failed"):
        apt.download(["hello=1:1.0-1"])
    assert list((apt.root / "debs").iterdir()) == []
    [path] = apt.download(["hello=1:1.0-1"])
    assert path.read_bytes() == real_deb.read_bytes()


@settings(max_examples=40, **SETTINGS)
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_a_truncated_bundle_manifest_is_built_again(tmp_path_factory, fraction):
    """The guest QEMU's manifest cut anywhere (an older compat wrote it in
    place) is not read as a traceback: the bundle is built again."""
    import json

    from compat.lab import bundle
    tmp = tmp_path_factory.mktemp("bundle")
    root = tmp / "migrate" / "qemu-sid"
    root.mkdir(parents=True)
    text = json.dumps({"files": {"/bin/busybox": "bin/busybox"},
                       "provenance": {"suite": "sid"}}, indent=1)
    (root / "manifest.json").write_text(text[:int(len(text) * fraction)])

    class Apt:
        cache = tmp

        def cache_query(self, *args):
            raise CompatError.at(cases.COMMAND_LINE, "stub: building again")
    with pytest.raises(CompatError, match="stub: building again"):
        bundle.qemu_bundle(Apt(), "11.1")
    assert not (root / "manifest.json").exists()
