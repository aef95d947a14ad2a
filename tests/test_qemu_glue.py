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
    seen: dict[str, list[str]] = {"row": [], "tolerance": [], "stock": [], "drop": []}
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


def test_off_leaves_nothing_of_compat(glue):
    seen = summary(acts(glue, "off"))
    assert seen == {"row": [], "tolerance": [], "stock": [], "drop": ["allowed"]}


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


def test_tolerances_alone(glue, built):
    seen = summary(acts(glue, "tolerances"))
    assert seen["row"] == [] and seen["stock"] == [] and seen["drop"] == ["allowed"]
    assert len(seen["tolerance"]) == tolerance_calls(built)


def test_stock_asks_for_qemus_own_list_only(glue):
    seen = summary(acts(glue, "stock"))
    assert seen == {"row": [], "tolerance": [], "stock": [""], "drop": ["allowed"]}


def test_a_value_the_guard_accepts_and_an_unknown_machine_pass(glue):
    assert summary(acts(glue, None, "10.2", "virt-10.2", BMAP_2, "0"))["drop"] == ["allowed"]
    assert summary(acts(glue, None, "9.2", "virt-9.2", BMAP_2, "0x3")) == {
        "row": [], "tolerance": summary(acts(glue, None))["tolerance"], "stock": [],
        "drop": ["allowed"]}


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
