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


# -- issue 18 item 9: decode and suggestions ----------------------------------

@pytest.mark.parametrize("name", ["TCR2_EL1", "ARM64_SYS_REG(3,0,2,0,3)"])
def test_decode_of_a_name_points_to_encode(name):
    res = run_inproc("decode", name)
    assert res.rc == 1, res
    assert "compat encode" in res.err and name in res.err
    assert res.out == ""


@pytest.mark.parametrize("index,why", [
    ("0x1234", "architecture 0x00 (bits 63..56) is neither arm64"),
    ("0x6030000000990000", "group 0x99 (bits 27..16) is not a KVM arm64 register group"),
    ("0x6020000000130000", "sysreg registers are never 32-bit"),
    ("0x4020000000110000", "group 0x11 (bits 27..16) is not a KVM arm register group"),
])
def test_decode_of_a_number_that_is_no_kvm_index_is_an_error(index, why):
    for extra in ((), ("--json",)):
        res = run_inproc("decode", *extra, index)
        assert res.rc == 1, res
        assert f"{index}: not a KVM register index: {why}" in res.err
    # one bad index does not hide the good ones
    res = run_inproc("decode", index, "0x603000000013c103")
    assert res.rc == 1 and "TCR2_EL1" in res.out


def test_a_word_of_an_enum_value_is_suggested(tmp_path):
    reg = tmp_path / "registry.toml"
    reg.write_text(MINIMAL_REGISTRY.replace('compat = "hide"', 'compat = "tolerate"'))
    res = run_inproc("validate", "-r", str(reg))
    assert res.rc == 1
    assert "not \"tolerate\" (did you mean 'tolerate-missing'?)" in res.err


def test_did_you_mean_takes_a_unique_word_of_a_name():
    from compat.core.diagnostics import did_you_mean
    assert did_you_mean("tolerate", ["hide", "tolerate-missing"]) == \
        " (did you mean 'tolerate-missing'?)"
    assert did_you_mean("10.1", ["virt-10.1", "virt-10.0"]) == " (did you mean 'virt-10.1'?)"
    assert did_you_mean("10.1", ["virt-10.1", "rhel-10.1"]) == ""  # ambiguous: no guess
    assert did_you_mean("x", ["hide"]) == ""
