"""The ``qemu-glue`` output: the one file QEMU's hook points include.

The glue is compiled with -Wall -Wextra -Werror into tests/c/glue_harness.c
(all three hook points in one file, the glue included twice) against the
bundled registry's other generated files, then run under each
``COMPAT_RULES`` value: what acts must be exactly what the switch says
(compat/data/qemu-patches/README.md), and the rows and tolerances must be
the ones the other outputs generate.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cbuild import compile_harness
from conftest import BUNDLED, run_compat

BMAP_2 = "0x6030000000160003"
PMMIR = "0x603000000013c4f6"
#: ID_AA64MMFR2_EL1 as Linux 6.12 (NV = 2) and 6.16 (NV = 0) give it on the
#: lab's QEMU 11.1 host (tests/data/real/qemu11.1-max-linux-*.idregs)
MMFR2 = "0x603000000013c03a"
MMFR2_NV2, MMFR2_NV0 = "0x1221011112011011", "0x1221011110011011"
GUARDS_OFF = {"drop": ["allowed"], "host": ["allowed"], "el2": ["allowed"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("glue")
    result = run_compat("build", "-r", str(BUNDLED), "-o", str(out / "gen"))
    assert result.rc == 0, result.err
    return out / "gen"


@pytest.fixture(scope="module")
def glue(built, tmp_path_factory) -> Path:
    return compile_harness("glue", built, tmp_path_factory.mktemp("glue-exe"))


def acts(exe: Path, rules: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "COMPAT_RULES"}
    if rules is not None:
        env["COMPAT_RULES"] = rules
    args = args or ("10.2", "virt-10.2", BMAP_2, "0x3")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env,
                          timeout=30)


def summary(proc: subprocess.CompletedProcess) -> dict[str, list[str]]:
    assert proc.returncode == 0, proc.stderr
    seen: dict[str, list[str]] = {"row": [], "tolerance": [], "stock": [], "drop": [],
                                  "host": [], "el2": []}
    for line in proc.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        seen[kind].append(rest)
    return seen


def tolerance_calls(built: Path) -> int:
    return (built / "arm-cpreg-mig-tolerances.c.inc").read_text().count(
        "arm_register_cpreg_mig_tolerance(")


@pytest.mark.parametrize("rules", [None, "", "on"])
def test_default_turns_everything_on(glue, built, rules):
    seen = summary(acts(glue, rules))
    rows = dict(r.split(" ", 1) for r in seen["row"])
    assert BMAP_2 in rows["x-mig-hidden-regs"] and PMMIR in rows["x-mig-hidden-regs"]
    assert rows["kvm-psci-version"] == "1.1"
    assert len(seen["tolerance"]) == tolerance_calls(built) > 0
    assert f"{BMAP_2} ToleranceOnlySrcTestValue" in seen["tolerance"]
    assert seen["stock"] == []
    assert seen["drop"][0].startswith("refused: ")
    assert "impl-cpu" in seen["drop"][0] and "virt-10.2" in seen["drop"][0]
    assert seen["el2"][0].startswith("refused: ") and "virtualization=on" in seen["el2"][0]


def test_off_leaves_nothing_of_compat(glue):
    seen = summary(acts(glue, "off"))
    assert seen == {"row": [], "tolerance": [], "stock": [], **GUARDS_OFF}
    for value in (MMFR2_NV2, MMFR2_NV0):
        assert summary(acts(glue, "off", "10.2", "virt-10.2", MMFR2, value))["host"] == ["allowed"]


def test_tables_are_the_compat_props_output_and_keep_the_guards(glue, built):
    seen = summary(acts(glue, "tables"))
    assert seen["tolerance"] == [] and seen["stock"] == []
    table = (built / "arm-virt-kernel-compat.c.inc").read_text()
    section = table[table.index("arm_virt_kernel_compat_10_2[]"):]
    section = section[:section.index("};")]
    for row in seen["row"]:
        prop, value = row.split(" ", 1)
        assert f'"{prop}"' in section
        assert all(v.strip() in section for v in value.split(","))
    assert len(seen["row"]) == section.count("TYPE_ARM_CPU")
    assert seen["drop"][0].startswith("refused: ")
    assert seen["el2"][0].startswith("refused: ")


def test_tolerances_alone(glue, built):
    seen = summary(acts(glue, "tolerances"))
    assert seen["row"] == [] and seen["stock"] == []
    assert {k: seen[k] for k in GUARDS_OFF} == GUARDS_OFF
    assert len(seen["tolerance"]) == tolerance_calls(built)


def test_stock_asks_for_qemus_own_list_only(glue):
    seen = summary(acts(glue, "stock"))
    assert seen == {"row": [], "tolerance": [], "stock": [""], **GUARDS_OFF}


def test_a_value_the_guard_accepts_and_an_unknown_machine_pass(glue):
    assert summary(acts(glue, None, "10.2", "virt-10.2", BMAP_2, "0"))["drop"] == ["allowed"]
    assert summary(acts(glue, None, "9.2", "virt-9.2", BMAP_2, "0x3")) == {
        "row": [], "tolerance": summary(acts(glue, None))["tolerance"], "stock": [],
        **GUARDS_OFF}


@pytest.mark.parametrize("rules", [None, "tables"])
def test_the_host_guard_refuses_a_machine_type_on_a_host_it_cannot_keep(glue, rules):
    """ID_AA64MMFR2_EL1.NV = 2 (Linux 6.12 on a FEAT_NV2 host): virt-10.2's
    promise reaches 6.16, which stops advertising NV and which 6.12 cannot
    take back, so the guard refuses virt-10.2 there; virt-11.1's promise
    starts at 6.18, and NV = 0 is no break."""
    refused = summary(acts(glue, rules, "10.2", "virt-10.2", MMFR2, MMFR2_NV2))["host"]
    assert refused[0].startswith("refused: ") and "ID_AA64MMFR2_EL1.NV" in refused[0]
    assert "virt-10.2" in refused[0]
    for machine, value in (("virt-10.2", MMFR2_NV0), ("virt-11.1", MMFR2_NV2)):
        assert summary(acts(glue, rules, "10.2", machine, MMFR2, value))["host"] == ["allowed"]


def test_the_el2_guard_follows_the_promise(glue):
    """A vCPU with EL2 is refused on machine types whose promise spans the
    6.17 ICH_*_EL2 removal (virt-10.0 .. virt-11.0), allowed on virt-11.1."""
    for machine in ("virt-10.0", "virt-10.2", "virt-11.0"):
        assert summary(acts(glue, None, "10.2", machine, BMAP_2, "0"))["el2"][0].startswith(
            "refused: ")
    assert summary(acts(glue, None, "10.2", "virt-11.1", BMAP_2, "0"))["el2"] == ["allowed"]


def test_unknown_value_stops_qemu_with_the_choices(glue):
    proc = acts(glue, "yes")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("COMPAT_RULES=yes: unknown value")
    for value in ("on", "off", "tables", "tolerances", "stock"):
        assert f'"{value}"' in proc.stderr


def test_glue_includes_exactly_the_other_generated_c(built):
    text = (built / "arm-compat-glue.c.inc").read_text()
    included = sorted(line.split('"')[1] for line in text.splitlines()
                      if line.startswith("#include \""))
    assert included == ["arm-compat-guards.c.inc", "arm-cpreg-mig-tolerances.c.inc",
                        "arm-virt-kernel-compat.c.inc"]
    assert all((built / name).is_file() for name in included)
    assert text.startswith("/* SPDX-License-Identifier: GPL-2.0-or-later */\n")
