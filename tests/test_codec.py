"""The KVM register index codec: worked examples, real register lists, properties."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat.core import codec
from compat.core.codec import CodecError
from conftest import REGLISTS, examples

# --- worked examples ---------------------------------------------------------


def test_decode_fw_feat_bmap():
    d = codec.decode(0x6030000000160003)
    assert d.arch == "arm64"
    assert d.size == 64
    assert d.group == "fw-feat-bmap"
    assert d.fields == {"number": 3}
    assert d.qemu_name == "fw feat reg 3"
    assert d.name == "KVM_REG_ARM_VENDOR_HYP_BMAP_2"
    assert d.macro == "KVM_REG_ARM_FW_FEAT_BMAP_REG(3)"
    assert d.in_cpreg_list()


def test_decode_sysreg_tcr2():
    d = codec.decode(0x603000000013C103)
    assert d.group == "sysreg"
    assert d.size == 64
    assert d.fields == {"op0": 3, "op1": 0, "crn": 2, "crm": 0, "op2": 3}
    assert d.qemu_name == "op0:3 op1:0 crn:2 crm:0 op2:3"
    assert d.name == "TCR2_EL1"
    assert d.macro == "ARM64_SYS_REG(3, 0, 2, 0, 3)"
    assert d.encoding() == "op0=3 op1=0 crn=2 crm=0 op2=3"


def test_decode_aarch32_cp14_ns():
    d = codec.decode(0x40200000200E0298)
    assert d.arch == "arm"
    assert d.group == "cp14"
    assert d.size == 32
    assert d.fields == {"opc1": 3, "crn": 0, "crm": 5, "opc2": 0, "is64": False, "ns": True}
    assert "cp14" in d.qemu_name and d.qemu_name.endswith(" ns")
    assert d.in_cpreg_list()
    assert codec.reencode(d) == 0x40200000200E0298


def test_json_form():
    j = codec.decode(0x6030000000160003).to_json()
    assert j["index"] == "0x6030000000160003"
    assert j["group"] == "fw-feat-bmap"
    assert j["known_name"] == "KVM_REG_ARM_VENDOR_HYP_BMAP_2"
    assert j["in_cpreg_list"] is True


@pytest.mark.parametrize("expr, index", [
    ("ARM64_SYS_REG(3,0,10,2,3)", 0x603000000013C513),
    ("ARM64_SYS_REG(3, 0, 2, 0, 3)", 0x603000000013C103),
    ("KVM_REG_ARM_FW_REG(1)", 0x6030000000140001),
    ("KVM_REG_ARM_FW_FEAT_BMAP_REG(3)", 0x6030000000160003),
    ("KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc)",
     0x6030000000100040),
    ("KVM_REG_ARM64_SVE_VLS", 0x606000000015FFFF),
    ("TCR2_EL1", 0x603000000013C103),
    ("0x603000000013c103", 0x603000000013C103),
    ("ARM64_SYS_REG(3, 0, 2, 0, 3),", 0x603000000013C103),  # selftest initializer
])
def test_parse_expr(expr, index):
    assert codec.parse_expr(expr) == index


def test_helpers_agree_with_parse_expr():
    assert codec.sysreg(3, 0, 10, 2, 3) == 0x603000000013C513
    assert codec.fw_reg(1) == codec.parse_expr("KVM_REG_ARM_FW_REG(1)")
    assert codec.fw_feat_bmap_reg(3) == 0x6030000000160003
    assert codec.format_index(0x6030000000160003) == "0x6030000000160003"
    assert codec.format_index(1) == "0x0000000000000001"


def test_parse_expr_registry_names():
    assert codec.parse_expr("MY_REG", {"MY_REG": 0x1234}) == 0x1234


def test_unknown_group_decodes_without_error():
    index = 0x6030000000170000  # a future group 0x17 (SME, say)
    d = codec.decode(index)
    assert d.group == "unknown"
    assert d.group_number == 0x17
    assert d.name is None
    assert "0x17" in d.qemu_name
    assert d.macro == codec.format_index(index)
    assert codec.reencode(d) == index


@pytest.mark.parametrize("index, why", [
    (0x6030000000100040, "core pc"),
    (0x6040000000100054, "core vregs[0], U128"),
    (0x606000000015FFFF, "sve vls"),
    (0x6080000000150000, "sve z0"),
    (0x6040000000130000 | 0xC103, "U128 sysreg-shaped"),
])
def test_not_in_cpreg_list(index, why):
    assert not codec.decode(index).in_cpreg_list(), why


# --- real register lists -----------------------------------------------------

def _reglist_indices():
    out = []
    for path in sorted(REGLISTS.glob("*.reglist")):
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                out.append((path.name, line))
    return out


REGLIST_INDICES = _reglist_indices()


def test_reglists_present():
    assert len(REGLIST_INDICES) > 1000


@pytest.mark.parametrize("path", sorted(p.name for p in REGLISTS.glob("*.reglist")))
def test_reglist_indices_roundtrip(path):
    failures = []
    for name, text in REGLIST_INDICES:
        if name != path:
            continue
        index = codec.parse_index(text)
        d = codec.decode(index)
        if d.group == "unknown":
            failures.append(f"{text}: unknown group")
            continue
        if codec.reencode(d) != index:
            failures.append(f"{text}: reencode gives {codec.format_index(codec.reencode(d))}")
        try:
            again = codec.parse_expr(d.macro)
        except CodecError as exc:
            failures.append(f"{text}: macro {d.macro!r} does not parse: {exc}")
            continue
        if again != index:
            failures.append(f"{text}: macro {d.macro!r} gives {codec.format_index(again)}")
    assert not failures, "\n".join(failures[:20])


# --- properties ----------------------------------------------------------------

nib = st.integers(0, 15)
three = st.integers(0, 7)


def _roundtrip(group, extra=None, **fields):
    index = codec.encode_fields(group, **fields, **(extra or {}))
    d = codec.decode(index)
    assert d.group == group
    assert d.fields == fields
    assert codec.reencode(d) == index
    assert codec.parse_expr(codec.format_index(index)) == index
    return d


@given(st.integers(0, 3), three, nib, nib, three)
def test_sysreg_roundtrip(op0, op1, crn, crm, op2):
    d = _roundtrip("sysreg", op0=op0, op1=op1, crn=crn, crm=crm, op2=op2)
    assert d.size == 64
    assert codec.sysreg(op0, op1, crn, crm, op2) == d.index
    assert codec.parse_expr(d.macro) == d.index


@given(st.sampled_from(["fw", "fw-feat-bmap"]), st.integers(0, 0xFFFF))
def test_fw_roundtrip(group, number):
    d = _roundtrip(group, number=number)
    assert d.size == 64
    assert codec.parse_expr(d.macro) == d.index
    assert d.qemu_name.endswith(f"reg {number}")


@given(st.sampled_from(["cp14", "cp15"]), nib, nib, nib, three, st.booleans(), st.booleans())
def test_aarch32_roundtrip(group, opc1, crn, crm, opc2, is64, ns):
    d = _roundtrip(group, opc1=opc1, crn=crn, crm=crm, opc2=opc2, is64=is64, ns=ns)
    assert d.arch == "arm"
    assert d.size == (64 if is64 else 32)


sve_fields = st.one_of(
    st.just({"kind": "vls"}),
    st.builds(lambda n, s: {"kind": "zreg", "n": n, "slice": s}, st.integers(0, 31), st.integers(0, 31)),
    st.builds(lambda n, s: {"kind": "preg", "n": n, "slice": s}, st.integers(0, 15), st.integers(0, 31)),
    st.builds(lambda s: {"kind": "ffr", "slice": s}, st.integers(0, 31)),
)


@given(sve_fields)
def test_sve_roundtrip(fields):
    d = _roundtrip("sve", **fields)
    assert not d.in_cpreg_list()
    assert codec.parse_expr(d.macro) == d.index


@given(st.integers(0, 0xFFFF), st.sampled_from([32, 64, 128]))
def test_core_roundtrip(offset, size):
    index = codec.encode_fields("core", offset=offset, size=size)
    d = codec.decode(index)
    assert d.group == "core"
    assert d.fields == {"offset": offset}
    assert d.size == size
    assert codec.reencode(d) == index
    assert codec.parse_expr(d.macro) == index


@pytest.mark.parametrize("name, offset, size",
                         sorted((n, o, s) for n, (o, s) in codec.CORE_OFFSETS.items()))
def test_core_names(name, offset, size):
    expr = (f"KVM_REG_ARM64 | KVM_REG_SIZE_U{size} | KVM_REG_ARM_CORE | "
            f"KVM_REG_ARM_CORE_REG({name})")
    index = codec.parse_expr(expr)
    d = codec.decode(index)
    assert d.name == name
    assert d.macro == expr


@settings(max_examples=examples(2000), suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, codec.U64_MAX))
def test_any_u64_decodes_and_reencodes(index):
    d = codec.decode(index)          # never raises
    d.qemu_name, d.macro, d.encoding(), d.to_json(), d.in_cpreg_list()
    assert codec.reencode(d) == index


# Structured variants of the property above: random bits inside a known group's
# index, so the rarely-hit combinations (size x group) are exercised.
_GROUP_CODES = [(0x60, g) for g in (0x10, 0x11, 0x13, 0x14, 0x15, 0x16, 0x17)] \
    + [(0x40, g) for g in (0x0E, 0x0F, 0x13)]

@settings(max_examples=examples(1000))
@given(st.sampled_from(_GROUP_CODES), st.integers(0, 15), st.integers(0, 0xFFFF),
       st.sampled_from([0, 1 << 29, 1 << 40]))
def test_group_shaped_u64_roundtrip(arch_group, size_code, low, spare):
    arch, group = arch_group
    index = arch << 56 | size_code << 52 | spare | group << 16 | low
    d = codec.decode(index)
    assert codec.reencode(d) == index, (codec.format_index(index), d)


@pytest.mark.parametrize("index", [
    0x6020000000130000 | 0xC103,   # TCR2_EL1's fields, but U32
    0x6040000000140001,            # fw reg 1, U128
    0x6020000000160003,            # fw feat reg 3, U32
    0x6030000000110000,            # demux, U64
    0x40300000200E8298,            # cp14 with QEMU's internal is64 bit 15, U64
    0x40200000200E8298,            # cp14 with bit 15, U32
    0x40400000200E0298,            # cp14, U128
], ids=codec.format_index)
def test_size_is_part_of_the_encoding(index):
    d = codec.decode(index)
    assert codec.reencode(d) == index
    assert d.group == "unknown"


def test_aarch32_64bit_ids_are_qemus():
    """QEMU's cpreg_to_kvm_id() clears its is64 bit 15 and says U64 instead."""
    d = codec.decode(0x40300000200E0298)
    assert (d.group, d.size, d.fields["is64"]) == ("cp14", 64, True)
    assert codec.encode_fields("cp15", opc1=0, crm=2, is64=True) == 0x40300000000F0100


def test_c_operator_precedence():
    assert codec.parse_expr("1 | 2 + 3") == 1 | (2 + 3)
    assert codec.parse_expr("0x13<<16 + 1") == 0x13 << (16 + 1)
    assert codec.parse_expr("0x13 << 16") == 0x130000
    assert codec.parse_expr("KVM_REG_ARM64 | KVM_REG_SIZE_U64 | (0x13 << 16) | 0xc103") \
        == 0x603000000013C103
    with pytest.raises(CodecError):
        codec.parse_expr("1 << 64")


def test_decode_rejects_out_of_range():
    with pytest.raises(CodecError):
        codec.decode(-1)
    with pytest.raises(CodecError):
        codec.decode(1 << 64)


# --- bad input -------------------------------------------------------------------

@pytest.mark.parametrize("expr, pattern", [
    ("TCR2_EL2X", r"unknown register name 'TCR2_EL2X'.*did you mean"),
    ("TCR2_EL11", r"unknown register name 'TCR2_EL11'.*did you mean.*TCR2_EL1\b"),
    ("ARM64_SYS_REG(3, 0, 2, 0)", r"ARM64_SYS_REG takes 5 argument\(s\), not 4"),
    ("KVM_REG_ARM_FW_REG(1, 2)", r"takes 1 argument\(s\), not 2"),
    ("ARM64_SYS_REG(4, 0, 2, 0, 3)", r"op0 = 4 is out of range 0\.\.3"),
    ("ARM64_SYS_REG(3, 0, 16, 0, 3)", r"crn = 16 is out of range 0\.\.15"),
    ("KVM_REG_ARM_FW_REG(0x10000)", r"number = 65536 is out of range"),
    ("KVM_REG_ARM_CORE_REG(regs.nope)", r"not a member of struct kvm_regs"),
    ("ARM64_SYS_REG(3, 0, 2, 0, 3", r"expected"),
    ("$$$", r"unexpected '\$'"),
    ("", r"empty"),
    ("0x1ffffffffffffffff", r"64 bits"),
    ("KVM_REG_ARM64 |", r"expected"),
])
def test_bad_expressions(expr, pattern):
    with pytest.raises(CodecError) as info:
        codec.parse_expr(expr)
    assert re.search(pattern, str(info.value), re.I), str(info.value)


@pytest.mark.parametrize("text", ["zz", "0xg", "-1", str(1 << 64), ""])
def test_bad_index(text):
    with pytest.raises(CodecError):
        codec.parse_index(text)


@pytest.mark.parametrize("group, fields, pattern", [
    ("sysreg", {"op0": 3, "op1": 0, "crn": 2, "crm": 0}, r"needs 'op2'"),
    ("sysreg", {"op0": 3, "op1": 0, "crn": 2, "crm": 0, "op2": 3, "opc9": 1}, r"no field 'opc9'"),
    ("sysreg", {"op0": True, "op1": 0, "crn": 2, "crm": 0, "op2": 3}, r"out of range"),
    ("cp15", {"opc1": 16, "crm": 0}, r"opc1 = 16 is out of range 0\.\.15"),
    ("nosuch", {}, r"unknown group 'nosuch'"),
    ("sve", {"kind": "xreg"}, r"kind"),
    ("core", {"offset": 0x40, "size": 24}, r"size 24"),
])
def test_bad_fields(group, fields, pattern):
    with pytest.raises(CodecError) as info:
        codec.encode_fields(group, **fields)
    assert re.search(pattern, str(info.value)), str(info.value)


def test_octal_literals_inside_expressions():
    """Inside an expression a leading 0 means octal, as in C."""
    assert codec.parse_expr("ARM64_SYS_REG(3, 0, 010, 0, 3)") == codec.sysreg(3, 0, 8, 0, 3)


@pytest.mark.parametrize("expr", ["ARM64_SYS_REG(3, 0, 09, 0, 3)", "08 | 0"])
def test_bad_octal_is_a_codec_error(expr):
    """A C-style octal literal with digits 8/9 is invalid C: CodecError, not ValueError."""
    with pytest.raises(CodecError):
        codec.parse_expr(expr)


def test_leading_zero_means_the_same_everywhere():
    assert codec.parse_expr("010") == codec.parse_expr("010 | 0")


@pytest.mark.parametrize("text, value", [("017", 15), ("0x11", 17), ("17", 17), ("0", 0),
                                         ("5ULL", 5)])
def test_one_number_grammar_for_indices_and_registry_values(text, value):
    from compat.load.semantic import parse_u64
    assert codec.parse_index(text) == parse_u64(text) == value


@pytest.mark.parametrize("text", ["1_000", "\u0661\u0662\u0663", "0x+6030", "0x 6030",
                                  "0x6030_0000", "5uLuL", "08", "\uff11\uff12", "0x"])
def test_not_c_integer_literals(text):
    from compat.load.semantic import parse_u64
    with pytest.raises(codec.CodecError):
        codec.parse_index(text)
    with pytest.raises(ValueError):
        parse_u64(text)


def test_the_group_table_is_what_the_schema_and_the_decoder_know():
    """A new group is one entry in codec.GROUPS: the schema must name it
    (this test says so when it does not), and every entry round-trips."""
    import json

    from compat.core.resources import schema_path
    schema = json.loads(schema_path().read_text())
    encoding = schema["$defs"]["encoding"]
    assert set(encoding["properties"]["group"]["enum"]) == set(codec.GROUPS)
    for name, group in codec.GROUPS.items():
        assert codec.MACROS[group.constant] == group.code << codec.GROUP_SHIFT \
            if group.constant else True
        sample = {"sysreg": dict(op0=3, op1=0, crn=2, crm=0, op2=3),
                  "core": dict(offset=64), "demux": dict(id=0, value=2),
                  "sve": dict(kind="ffr", slice=0),
                  "cp14": dict(opc1=3, crm=5, ns=True), "cp15": dict(opc1=0, crm=1)}
        index = codec.encode_fields(name, **sample.get(name, {"number": 3}))
        decoded = codec.decode(index)
        assert decoded.group == name and codec.reencode(decoded) == index
