"""``compat check`` quotes the failure line of the QEMU it predicts.

QEMU 11.1 and a QEMU built from compat's patch set name each register only
the incoming stream has (``handle_cpreg_only_in_incoming_stream: system
register op0:3 ... in the incoming stream but unknown on the destination:
fail migration``); stock QEMU 10.x names none.  For every real case in
tests/data/real-migrations/ whose QEMU printed such a line, the failure
``compat check`` predicts from the case's cpreg lists, under the rules of
that QEMU, carries the very line QEMU printed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compat.analysis.reglist import read_reglist
from compat.analysis.simulate import Simulator
from compat.core.resources import default_registry
from compat.load.pipeline import load
from compat.qemu import modes

DATA = Path(__file__).resolve().parent / "data" / "real-migrations"
MARK = "handle_cpreg_only_in_incoming_stream: "
#: a built QEMU's COMPAT_RULES (case.json qemu.compat_rules) -> the rules mode;
#: not "tables": compat-props keeps QEMU 10.x's length wording (compat.qemu.modes)
BUILT = {"off": "qemu-10.2-patched", "tolerances": "tolerances", "stock": "qemu-11.1"}


def rules_of(info: dict) -> str | None:
    qemu = info["qemu"]
    if "compat_rules" in qemu:
        return BUILT.get(qemu["compat_rules"])
    return {"10.0": "qemu-10.0", "11.1": "qemu-11.1"}.get(qemu.get("version"))


def naming_cases() -> list[Path]:
    found = []
    for case in sorted(DATA.glob("*/case.json")):
        info = json.loads(case.read_text())
        if any(MARK in m for m in info.get("qemu_messages", ())) and \
                (case.parent / "source.cpregs").exists() and rules_of(info):
            found.append(case.parent)
    return found


CASES = naming_cases()


def test_some_real_case_names_a_register():
    assert CASES, "no real case whose QEMU names an unknown register"


@pytest.mark.parametrize("case_dir", CASES, ids=[c.name for c in CASES])
def test_check_quotes_the_line_qemu_printed(case_dir):
    info = json.loads((case_dir / "case.json").read_text())
    loaded = load(*default_registry())
    sim = Simulator(loaded.registry, loaded.derivation)
    machine = info["qemu"].get("machine")
    mode = rules_of(info)
    rules = sim.rule_set(mode, machine if modes.resolve(mode).needs_machine else None)
    result = sim.simulate(read_reglist(case_dir / "source.cpregs"),
                          read_reglist(case_dir / "destination.cpregs"), rules)
    printed = {m.split(MARK, 1)[1] for m in info["qemu_messages"] if MARK in m}
    quoted = {f.qemu_error.split(MARK, 1)[1].split("; ", 1)[0]
              for f in result.failures if MARK in f.qemu_error}
    assert printed and printed <= quoted, (printed, [f.qemu_error for f in result.failures])


def test_stock_10_x_names_no_register():
    """QEMU 10.0 fails a longer list on its length: no register line to quote."""
    assert modes.QEMU_10_0.unknown_register_error(0x603000000013c4f6) is None
    assert modes.QEMU_11_1.unknown_register_error(0x603000000013c4f6) == (
        MARK + "system register op0:3 op1:0 crn:9 crm:14 op2:6 in the incoming stream but "
        "unknown on the destination: fail migration")
    assert modes.QEMU_10_2_PATCHED.unknown_register_error(0x6030000000160003) == (
        MARK + "fw feat reg 3 in the incoming stream but unknown on the destination: "
        "fail migration")


def test_the_patched_mode_has_no_rule_but_the_patch_sets_property(tmp_path):
    """qemu-10.2-patched: 7.3 -> 7.2 fails on PMMIR_EL1, named, not on the
    length; kvm-psci-version (QEMU 11.0's, in the patch set) is taken."""
    case = DATA / "7.3-to-7.2_qemu11.1_virt-11.0"
    loaded = load(*default_registry())
    sim = Simulator(loaded.registry, loaded.derivation)
    rules = sim.rule_set("qemu-10.2-patched", None, (), ["kvm-psci-version=1.1"])
    assert rules.refused_options == ()
    result = sim.simulate(read_reglist(case / "source.cpregs"),
                          read_reglist(case / "destination.cpregs"), rules)
    (f,) = result.failures
    assert f.kind == "unknown-register" and f.name == "PMMIR_EL1"
    assert f.qemu_error.startswith(MARK + "system register op0:3 op1:0 crn:9 crm:14 op2:6 ")
    assert result.length is None
