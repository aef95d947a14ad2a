"""The lab's deb cache holds several suites' packages side by side: a package
asked for from one suite must be that suite's, never whichever sorts last."""

from __future__ import annotations

import pytest

from compat.core.diagnostics import CompatError
from compat.lab.apt import PrivateApt

MADISON = """\
    libc6 | 2.43-7 | http://archive.invalid/debian sid/main arm64 Packages
    libc6 | 2.41-12+deb13u5 | http://archive.invalid/debian trixie/main arm64 Packages
    libc6 | 2.36-9+deb12u14 | http://archive.invalid/debian bookworm/main arm64 Packages
busybox-static | 1:1.38.0-3+b1 | http://archive.invalid/debian sid/main arm64 Packages
busybox-static | 1:1.35.0-4+deb12u1+b1 | http://archive.invalid/debian bookworm/main arm64 Packages
"""


def _apt(tmp_path, monkeypatch):
    apt = PrivateApt(tmp_path / "cache")
    monkeypatch.setattr(apt, "cache_query", lambda *args: MADISON)
    return apt


def test_a_suite_spec_becomes_that_suites_version(tmp_path, monkeypatch):
    apt = _apt(tmp_path, monkeypatch)
    assert apt.pin_suites(["libc6/bookworm", "busybox-static/bookworm", "zlib1g=1:1.2.13"]) == [
        "libc6=2.36-9+deb12u14", "busybox-static=1:1.35.0-4+deb12u1+b1", "zlib1g=1:1.2.13"]
    assert apt.pin_suites(["libc6/trixie"]) == ["libc6=2.41-12+deb13u5"]


def test_the_cached_deb_of_another_suite_is_not_taken(tmp_path, monkeypatch):
    apt = _apt(tmp_path, monkeypatch)
    debs = tmp_path / "debs"
    debs.mkdir()
    for name in ("libc6_2.36-9+deb12u14_arm64.deb", "libc6_2.43-7_arm64.deb"):
        (debs / name).write_bytes(b"")
    (spec,) = apt.pin_suites(["libc6/bookworm"])
    assert apt.find_deb(spec, debs).name == "libc6_2.36-9+deb12u14_arm64.deb"
    assert apt.find_deb("libc6", debs).name == "libc6_2.43-7_arm64.deb"  # what went wrong before


def test_a_package_the_suite_lacks_is_a_clean_error(tmp_path, monkeypatch):
    apt = _apt(tmp_path, monkeypatch)
    with pytest.raises(CompatError, match="not in the archive's trixie: busybox-static"):
        apt.pin_suites(["busybox-static/trixie"])
