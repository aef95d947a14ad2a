"""Verdicts a user can act on: each names the QEMU it assumes, plain register
lists predict what real QEMU does (the source kernel's defaults stand in for
values), and each fix fits the QEMU the rules mode stands for.  Inputs are
the real lists of tests/data/real (QEMU 11.1 -cpu max under each kernel)."""

from __future__ import annotations

import json
from pathlib import Path

import functools
import tempfile

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"
STREAMS = ROOT / "tests" / "data" / "streams"


@functools.lru_cache(maxsize=1)
def alone() -> Path:
    """The real lists without their .idregs siblings: these tests are about
    register lists and PSCI (ID values: tests/test_idregs.py)."""
    where = Path(tempfile.mkdtemp(prefix="compat-lists-alone-"))
    for path in REAL.glob("*.reglist"):
        (where / path.name).write_bytes(path.read_bytes())
    return where


def real(kernel: str, host: str = "qemu11.1-max") -> str:
    (path,) = alone().glob(f"{host}-linux-{kernel}.*reglist")
    return str(path)


def test_stock_11_1_fails_616_to_612_on_psci_and_names_the_pin(compat_cli):
    r = compat_cli("check", real("6.16*"), real("6.12*"), "--rules", "qemu-11.1")
    assert r.rc == 1, r.out + r.err
    head, *rest = r.out.splitlines()
    assert head.endswith("FAILS, assuming QEMU 11.1 as shipped (its cpreg migration "
                         "tolerances)"), head
    assert rest[0] == ("  KVM_REG_ARM_PSCI_VERSION (0x6030000000140000): Could not set register "
                       "fw reg 0 to 10003 (is 10001); Failed to put registers after init: "
                       "Invalid argument")
    assert "start the source with -cpu host,kvm-psci-version=1.1" in rest[1]
    assert "what Linux 6.16 gives a new vCPU" in rest[1]
    assert "depend" not in r.out
    ok = compat_cli("check", real("6.16*"), real("6.12*"), "--rules", "qemu-11.1",
                    "--cpu-option", "kvm-psci-version=1.1")
    assert ok.rc == 0 and ok.out.splitlines() == [
        "qemu11.1-max 6.16 -> qemu11.1-max 6.12 (backward, rules qemu-11.1, "
        "-cpu host,kvm-psci-version=1.1): ok, assuming QEMU 11.1 as shipped (its cpreg "
        "migration tolerances)"], ok.out


def test_compat_props_verdict_names_the_qemu_it_assumes(compat_cli):
    r = compat_cli("check", real("6.16*"), real("6.12*"), "--machine", "virt-10.1")
    assert r.rc == 0, r.out
    assert r.out.rstrip().endswith(
        ": ok, assuming a QEMU carrying compat's generated tables and guards for virt-10.1 (needs the "
        "x-mig-hidden-regs series; kvm-psci-version from QEMU 11.0)"), r.out


def test_json_carries_the_rules_and_the_verdict(compat_cli):
    r = compat_cli("check", real("6.16*"), real("6.12*"), "--rules", "none", "--json")
    data = json.loads(r.out)
    assert data["rules"] == {"name": "qemu-10.0", "description": "QEMU 10.0 as shipped (no "
                             "cpreg migration rules: the lists must match)"}
    assert (data["verdict"], data["ok"], r.rc) == ("fail", False, 1)


def test_qemu_10_0_refuses_kvm_psci_version_as_qemu_does(compat_cli):
    """Measured: Debian's QEMU 10.0 prints "Property 'host-arm-cpu.kvm-psci-version'
    not found" (tests/data/real-migrations, the source-error case)."""
    r = compat_cli("check", real("6.16*"), real("6.12*"), "--rules", "qemu-10.0",
                   "--cpu-option", "kvm-psci-version=1.1", "--json")
    data = json.loads(r.out)
    assert r.rc == 1 and data["verdict"] == "fail"
    assert [(f["kind"], f["qemu_error"]) for f in data["failures"]] == [
        ("cpu-option", "Property 'host-arm-cpu.kvm-psci-version' not found")]


@pytest.mark.parametrize("option, message", [
    ("kvm-psci-version", "write NAME=VALUE"),
    ("kvm-psci-versio=1.1", "did you mean 'kvm-psci-version'"),
    ("kvm-psci-version=one", "'one' is not a MAJOR.MINOR version"),
    ("SYSREG_ID_AA64MMFR3_EL1_SCTLRX=16", "'16' is not a value of the 4-bit field"),
    ("SYSREG_ID_AA64MMFR3_EL1_SCTLR=0", "did you mean 'SYSREG_ID_AA64MMFR3_EL1_SCTLRX'"),
])
def test_bad_cpu_options_are_usage_errors(compat_cli, option, message):
    r = compat_cli("check", real("6.16*"), real("6.12*"), "--rules", "qemu-11.1",
                   "--cpu-option", option)
    assert r.rc == 2 and r.out == "" and "Traceback" not in r.err
    assert r.err.startswith("<command line>: error: --cpu-option") and message in r.err, r.err


def test_sysreg_option_lowers_the_field_where_the_qemu_has_the_property(compat_cli):
    """-cpu host,SYSREG_ID_AA64MMFR3_EL1_SCTLRX=0 (the lab's patched QEMU; measured
    in tests/data/real-migrations): the source's 6.17 then lists no SCTLR2_EL1
    and sends SCTLRX = 0, which 6.16 takes; a QEMU without the property
    refuses the option at start."""
    lists = [str(REAL / f"qemu11.1-max-linux-{k}.reglist") for k in ("6.17.13+deb13",
                                                                     "6.16.12+deb13")]
    option = ("--cpu-option", "SYSREG_ID_AA64MMFR3_EL1_SCTLRX=0")
    r = compat_cli("check", *lists, "--rules", "qemu-10.2-patched", *option)
    assert r.rc == 0, r.out
    r = compat_cli("check", *lists, "--rules", "qemu-10.2-patched")
    assert r.rc == 1 and "SCTLR2_EL1" in r.out and "to 111 (is 101)" in r.out, r.out
    r = compat_cli("check", *lists, "--rules", "qemu-11.1", *option, "--json")
    data = json.loads(r.out)
    assert r.rc == 1 and [(f["kind"], f["qemu_error"]) for f in data["failures"]] == [
        ("cpu-option", "Property 'host-arm-cpu.SYSREG_ID_AA64MMFR3_EL1_SCTLRX' not found")]


def test_fix_names_the_qemu_that_applies_an_existing_rule(compat_cli):
    """6.17 -> 6.16 under stock 11.1: SCTLR2_EL1 is already hidden in the
    registry, so the fix is a QEMU that applies that rule, not "add a rule"."""
    r = compat_cli("check", real("6.17*"), real("6.16*"), "--rules", "qemu-11.1")
    assert r.rc == 1
    fix = next(l for l in r.out.splitlines() if l.startswith("    fix:"))
    assert "needs compat" not in fix and "add " not in fix
    assert fix == ("    fix: QEMU 11.1 as shipped does not apply the registry's compat = "
                   "\"hide\" for SCTLR2_EL1; a QEMU carrying compat's generated tolerances "
                   "tolerates it (--rules tolerances); or a QEMU carrying compat's tables hides "
                   "it on virt-11.0, virt-10.2, virt-10.1, virt-10.0 (--rules compat-props "
                   "--machine virt-11.0)")
    # the QEMU it names tolerates SCTLR2_EL1 (saying that its value is an
    # assumption); what still fails is the ID field 6.16 refuses (issue 24)
    t = compat_cli("check", real("6.17*"), real("6.16*"), "--rules", "tolerances", "--json")
    got = json.loads(t.out)
    assert t.rc == 1 and any("SCTLR2_EL1 is assumed to hold 0x0" in n for n in got["notes"])
    assert [(f["name"], f["kind"]) for f in got["failures"]] == [("ID_AA64MMFR3_EL1", "id-value")]


def test_unknown_value_is_unknown_with_exit_1(compat_cli, tmp_path, bundled_text):
    """A register with a value rule but no recorded default for the source's
    kernel: the verdict is UNKNOWN, exit 1, never a pass."""
    text = bundled_text.replace('max = "0x10003", default = "0x10003"', 'max = "0x10003"')
    assert text != bundled_text
    reg = tmp_path / "registry.toml"
    reg.write_text(text)
    r = compat_cli("check", "-r", str(reg), real("6.16*"), real("6.12*"), "--rules", "qemu-11.1",
                   "--json")
    data = json.loads(r.out)
    assert (r.rc, data["verdict"], data["ok"], data["failures"]) == (1, "unknown", False, [])
    assert "depends on the value of KVM_REG_ARM_PSCI_VERSION" in data["depends_on"][0]
    text_out = compat_cli("check", "-r", str(reg), real("6.16*"), real("6.12*"),
                          "--rules", "qemu-11.1").out
    assert ": UNKNOWN (depends on values), assuming QEMU 11.1" in text_out


def test_machine_without_family_suggests_it(compat_cli):
    r = compat_cli("check", real("6.16*"), real("6.12*"), "--machine", "10.1")
    assert r.rc == 2 and "unknown machine type '10.1' (did you mean 'virt-10.1'?)" in r.err


def test_tcg_stream_against_kvm_list_says_so_once(compat_cli):
    r = compat_cli("check", str(STREAMS / "qemu-7.2-tcg-max-virt.qevm.gz"),
                   real("6.12*", "qemu7.2-max"), "--kernel",
                   f"{STREAMS / 'qemu-7.2-tcg-max-virt.qevm.gz'}=6.12")
    assert r.rc == 1
    assert r.out.count("the source was a TCG CPU") == 1, r.out
    assert r.out.count("the stream carries") == 1
    assert "add [registers.REG_402" not in r.out     # TCG ids are no registry findings
    lengths = [l for l in r.out.splitlines() if "the stream carries" in l]
    assert lengths[0].startswith("  failed to load cpu:cpreg_vmstate_array_len: the stream "
                                 "carries 304 cpreg registers, the destination has")


def test_help_of_check_audit_diff_says_which_mode_to_pick(compat_cli):
    from compat.qemu import modes
    for command in ("check", "audit", "diff"):
        out = compat_cli(command, "--help").out
        assert modes.help_text().splitlines()[1] in out, command
        assert "qemu-11.1" in out and "stock QEMU 11.1" in out, command


def test_audit_rules_qemu_11_1_lists_the_failures_stock_11_1_has(compat_cli):
    lists = sorted(str(p) for p in alone().glob("qemu11.1-max-linux-*.reglist"))
    r = compat_cli("audit", "--rules", "qemu-11.1", *lists, "--json")
    data = json.loads(r.out)
    assert r.rc == 1
    assert data["rules"] == {"name": "qemu-11.1", "description": "QEMU 11.1 as shipped (its "
                             "cpreg migration tolerances)"}
    failing = {(f["name"], f["source"]["kernel"], f["destination"]["kernel"])
               for f in [dict(x, name=y["name"]) for x in data["failures"] for y in x["failures"]]}
    names = {n for n, _, _ in failing}
    # measured on stock 11.1: PSCI 6.16 -> 6.12, PMMIR_EL1 7.3 -> 7.2 (tests/data/real-migrations);
    # SCTLR2_EL1 (6.17 on) has no tolerance in 11.1 either, and 6.16 and older
    # refuse ID_AA64MMFR3_EL1.SCTLRX = 1 (issue 24; inferred here from the lists)
    assert names == {"KVM_REG_ARM_PSCI_VERSION", "PMMIR_EL1", "SCTLR2_EL1", "ID_AA64MMFR3_EL1"}
    assert ("KVM_REG_ARM_PSCI_VERSION", "6.16", "6.12") in failing
    assert ("PMMIR_EL1", "7.3", "7.2") in failing
    text = compat_cli("audit", "--rules", "qemu-11.1", *lists).out
    assert text.splitlines()[0].startswith("FAIL: 130 of 302 promised migrations fail")
    assert text.splitlines()[2] == ("rules: qemu-11.1: QEMU 11.1 as shipped (its cpreg migration "
                                    "tolerances)")
    # compat's own tables keep every promise on the same lists but the ID field,
    # whose SYSREG pin no released QEMU applies (docs/id-registers.md)
    props = json.loads(compat_cli("audit", *lists, "--json").out)
    assert props["rules"]["name"] == "compat-props"
    assert {g["name"] for f in props["failures"] for g in f["failures"]} == {"ID_AA64MMFR3_EL1"}


def test_diff_rules_say_what_that_qemu_does(compat_cli):
    r = compat_cli("diff", real("6.16*"), real("7.3*"), "--rules", "qemu-11.1")
    assert r.out.splitlines()[0].endswith("2 added, 0 removed, assuming QEMU 11.1 as shipped "
                                          "(its cpreg migration tolerances)")
    assert r.out.count("QEMU 11.1 as shipped fails on it") == 2
    props = compat_cli("diff", real("6.16*"), real("7.3*"), "--machine", "virt-10.1")
    assert props.out.count("a QEMU carrying compat's generated tables and guards for virt-10.1 lets it "
                           "through") == 2, props.out


def test_a_pin_the_source_kernel_refuses_stops_the_source(compat_cli):
    r = compat_cli("check", real("6.12*"), real("6.16*"), "--rules", "qemu-11.1",
                   "--cpu-option", "kvm-psci-version=1.3", "--json")
    data = json.loads(r.out)
    assert r.rc == 1 and [f["kind"] for f in data["failures"]] == ["cpu-option"]
    assert "Linux 6.12's KVM_SET_ONE_REG refuses KVM_REG_ARM_PSCI_VERSION = 0x10003" \
        in data["failures"][0]["qemu_error"]
    ok = compat_cli("check", real("6.12*"), real("6.16*"), "--rules", "qemu-11.1",
                    "--cpu-option", "kvm-psci-version=1.1")
    assert ok.rc == 0, ok.out
