"""Hostile input to the lab (issue 20, items 4, 5, 10, 11): CASE strings with
path and shell metacharacters in every field, header fields with control
characters, a download cache truncated at random offsets.  Nothing here
boots a guest: every refusal happens before one would."""

from __future__ import annotations

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
