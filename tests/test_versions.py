"""Kernel and QEMU version numbers."""

from __future__ import annotations

import pytest

from compat.core.versions import Version, VersionError


@pytest.mark.parametrize("text, major, minor", [
    ("6.12", 6, 12),
    ("6.12.0-55.el10.aarch64", 6, 12),
    ("7.3.0-rc1", 7, 3),
    ("7.3-rc1", 7, 3),
    ("v6.6", 6, 6),
    ("6.6.87", 6, 6),
    ("10.0", 10, 0),
    (" 6.13 ", 6, 13),
])
def test_parse(text, major, minor):
    v = Version.parse(text)
    assert (v.major, v.minor) == (major, minor)
    assert str(v) == f"{major}.{minor}"


def test_numeric_order():
    assert Version.parse("6.9") < Version.parse("6.13")
    assert Version.parse("6.13") > Version.parse("6.9")
    assert Version.parse("10.0") > Version.parse("9.2")
    assert sorted(map(Version.parse, ["6.13", "6.9", "6.12", "7.0"])) == \
        [Version(6, 9), Version(6, 12), Version(6, 13), Version(7, 0)]


def test_rc_counts_as_release():
    assert Version.parse("7.3.0-rc1") == Version.parse("7.3")
    assert Version.parse("6.12.0-55.el10.aarch64") == Version.parse("6.12")


def test_ident_and_hash():
    assert Version.parse("10.1").ident == "10_1"
    assert len({Version.parse("6.12"), Version.parse("6.12.3")}) == 1


@pytest.mark.parametrize("text", ["6.x", "6", "", "six", "6..12", "06.12", "6.12a", "-6.12",
                                  "6.12 rc1", ".12"])
def test_bad_strings(text):
    with pytest.raises(VersionError) as info:
        Version.parse(text)
    assert "MAJOR.MINOR" in str(info.value)


@pytest.mark.parametrize("value", [6.12, 612, None])
def test_not_a_string(value):
    with pytest.raises(VersionError):
        Version.parse(value)


def test_version_error_is_value_error():
    assert issubclass(VersionError, ValueError)
