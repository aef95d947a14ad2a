"""Issue 20 item 11 (smaller defects): bidi controls in registry text are
shown, not obeyed, in the docs; a version spelled twice is named as such."""

from __future__ import annotations

import pytest

from compat.core.text import html_text, md_text, rst_literal, rst_text
from compat.testing import MINIMAL_REGISTRY, build_in_memory
from hostile_util import run_inproc

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
        "\u2069", "\u200e", "\u200f", "\u061c"]


@pytest.mark.parametrize("control", BIDI, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("escape", [md_text, rst_text, rst_literal, html_text])
def test_bidi_controls_are_shown_by_code_point(escape, control):
    out = escape(f"safe {control}evil")
    assert control not in out
    assert f"U+{ord(control):04X}" in out.replace("\\", "")


def test_bidi_controls_never_reach_the_docs():
    text = MINIMAL_REGISTRY.replace(
        'description = "Firmware pseudo-register: vendor hypervisor services bitmap 2."',
        'description = "Firmware \u202eevil\u202c and \u2067isolate\u2069."')
    result = build_in_memory(text, only=["docs-md", "docs-rst"])
    assert result.ok, result.text()
    assert set(result.files) == {"kvm-register-compat.md", "kvm-register-compat.rst"}
    for name, body in result.files.items():
        assert not any(c in body for c in BIDI), name
        assert "U+202E" in body.replace("\\", ""), name


def _versions(*labels: str) -> str:
    rows = "".join(f'  {{ version = "{label}", min-kernel = "6.6" }},\n' for label in labels)
    start = MINIMAL_REGISTRY.index("versions = [")
    end = MINIMAL_REGISTRY.index("]\n", start) + 2
    return MINIMAL_REGISTRY[:start] + "versions = [\n" + rows + "]\n" + MINIMAL_REGISTRY[end:]


@pytest.mark.parametrize("labels,line", [(("10.1", "10.01", "10.0"), 7),
                                         (("10.1", "10.0", "10.01"), 8),
                                         (("10.01", "10.1"), 7)])
def test_one_version_spelled_twice_is_the_same_version_twice(tmp_path, labels, line):
    reg = tmp_path / "registry.toml"
    reg.write_text(_versions(*labels))
    res = run_inproc("validate", "-r", str(reg))
    assert res.rc == 1, res
    assert f"registry.toml:{line}:" in res.err
    assert "are the same version twice" in res.err
    assert "newest first" not in res.err


def test_versions_out_of_order_still_say_newest_first(tmp_path):
    reg = tmp_path / "registry.toml"
    reg.write_text(_versions("10.0", "10.1"))
    res = run_inproc("validate", "-r", str(reg))
    assert res.rc == 1 and "must be listed newest first" in res.err, res
