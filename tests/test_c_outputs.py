"""The generated C compiles with -Wall -Wextra -Werror and behaves.

Each output is compiled into a harness in tests/c/ against small stand-ins
for QEMU's types, then run: the compat tables are applied through QEMU's
options chain, the tolerances are registered, the guards are asked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cbuild import compile_harness, run, run_many, without_section
from compat.load import pipeline as build
from conftest import BUNDLED, run_compat

VIRT_VERSIONS = ["11.1", "11.0", "10.2", "10.1", "10.0"]
PMMIR = "0x603000000013c4f6"
BMAP_2 = "0x6030000000160003"
TCR2, PIRE0, PIR = "0x603000000013c103", "0x603000000013c512", "0x603000000013c513"
DBGDTRTX = "0x40200000200e0298"
SCTLR2 = "0x603000000013c083"


def generate(text: str, out: Path) -> build.Loaded:
    """Write the registry text's outputs into ``out`` with ``compat build``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "registry.toml").write_text(text)
    result = run_compat("build", "-r", str(out / "registry.toml"), "-o", str(out / "gen"))
    assert result.rc == 0, result.err
    return build.load_text(text)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> tuple[Path, build.Loaded]:
    out = tmp_path_factory.mktemp("bundled")
    loaded = generate(BUNDLED.read_text(), out)
    return out / "gen", loaded


def applied(exe: Path, layout: str, version: str) -> dict[str, list[str]]:
    newer = VIRT_VERSIONS[:VIRT_VERSIONS.index(version)]
    proc = run(exe, layout, version, *newer)   # newest first
    assert proc.returncode == 0, proc.stderr
    props = {}
    for line in proc.stdout.splitlines():
        prop, *values = line.split()
        props[prop] = values
    return props


def expected(loaded: build.Loaded, version: str) -> dict[str, list[str]]:
    rules = loaded.derivation.for_machine(f"virt-{version}")
    want = {"x-mig-hidden-regs": [f"0x{i:016x}" for i in rules.hidden_indices],
            "x-mig-safe-missing-regs": [f"0x{i:016x}" for i in rules.tolerated_indices]}
    from compat.qemu.value_rules import pins_for
    for pin in pins_for(loaded.registry, rules.machine):      # scalar: the last one wins
        want[pin.register.cpu_property.name] = [pin.property_value]
    from compat.qemu.id_rules import id_rules_for
    for id_pin in id_rules_for(loaded.registry, rules.machine)[0]:   # SYSREG_<REG>_<FIELD>
        want[id_pin.qemu_property] = [id_pin.property_value]
    return {k: v for k, v in want.items() if v}


def test_generated_c_fits_80_columns(bundled):
    gen, _ = bundled
    for path in sorted(gen.glob("*.[ch]*")):
        if path.suffix in (".h", ".inc"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                assert len(line) <= 80, f"{path.name}:{number}: {len(line)} columns"
                assert line == line.rstrip(), f"{path.name}:{number}: trailing blank"


@pytest.mark.parametrize("version", VIRT_VERSIONS)
def test_per_version_tables_give_each_machine_its_derived_lists(bundled, tmp_path, version):
    gen, loaded = bundled
    exe = compile_harness("compat_props", gen, tmp_path)
    assert applied(exe, "per-version", version) == expected(loaded, version)


def test_bundled_lists_are_the_known_ones(bundled, tmp_path):
    """The lists are the derived ones (the registry grows: no hand-kept full
    list here), and they hold the known facts."""
    gen, loaded = bundled
    exe = compile_harness("compat_props", gen, tmp_path)
    v101 = applied(exe, "per-version", "10.1")
    assert v101 == expected(loaded, "10.1")
    # SCTLR2_EL1 (6.17), PMMIR_EL1 (7.3), BMAP_2 (6.15) are hidden
    assert {SCTLR2, PMMIR, BMAP_2} <= set(v101["x-mig-hidden-regs"])
    assert {DBGDTRTX, TCR2, PIRE0, PIR} <= set(v101["x-mig-safe-missing-regs"])
    assert v101["kvm-psci-version"] == ["1.1"]    # value rule: Linux 6.13 raised PSCI to 1.3
    # ID fields: lowered on the source (6.17's SCTLRX, 6.14's FAMINMAX, ...)
    assert v101["SYSREG_ID_AA64MMFR3_EL1_SCTLRX"] == ["0"]
    assert v101["SYSREG_ID_AA64ISAR3_EL1_FAMINMAX"] == ["0"]
    # PMMIR_EL1 (added in Linux 7.3) is inside every promise; SCTLR2_EL1
    # (Linux 6.17) is older than virt-11.1's min-kernel 6.18
    v111 = applied(exe, "per-version", "11.1")
    assert v111 == expected(loaded, "11.1")
    assert PMMIR in v111["x-mig-hidden-regs"] and SCTLR2 not in v111["x-mig-hidden-regs"]


def test_chaining_per_version_tables_would_abort_qemu(bundled, tmp_path):
    """Why the layout matters: adding cumulative tables in every options
    function sets the array twice, which QEMU refuses."""
    gen, _ = bundled
    exe = compile_harness("compat_props", gen, tmp_path)
    proc = run(exe, "chained", "10.2", "11.1", "11.0")
    assert proc.returncode == 1
    assert re.search(r"array size property x-mig-(hidden|safe-missing)-regs may not be set "
                     "more than once", proc.stderr), proc.stderr


def chained_text() -> str:
    """The bundled registry without the registers that machine types newer
    than virt-10.2 need (derived: DBGDTRTX for QEMU 11.1, SCTLR2_EL1 for
    Linux 6.17, PMMIR_EL1 for Linux 7.3, ...): then only virt-10.2 needs a
    table, and the chain can carry it unchanged to older types."""
    from compat.qemu.id_rules import id_rules_for
    loaded = build.load_text(BUNDLED.read_text())
    derivation = loaded.derivation
    newer = set()
    for version in VIRT_VERSIONS[:VIRT_VERSIONS.index("10.2")]:
        rules = derivation.for_machine(f"virt-{version}")
        newer |= {rule.register.name for rule in rules.hidden + rules.tolerated}
        # ID registers whose fields newer types pin (SYSREG_<REG>_<FIELD>)
        newer |= {p.field.register for p in id_rules_for(loaded.registry, rules.machine)[0]}
    assert {"DBGDTRTX", "PMMIR_EL1", "SCTLR2_EL1"} <= newer
    text = BUNDLED.read_text()
    for name in sorted(newer):
        text = without_section(text, f"[registers.{name}]")
    return text.replace('cpu-driver = "TYPE_ARM_CPU"\n',
                        'cpu-driver = "TYPE_ARM_CPU"\ncompat-layout = "chained"\n', 1)


@pytest.mark.parametrize("version", VIRT_VERSIONS)
def test_chained_layout_sets_each_array_once(tmp_path, version):
    loaded = generate(chained_text(), tmp_path)
    exe = compile_harness("compat_props", tmp_path / "gen", tmp_path)
    assert applied(exe, "chained", version) == expected(loaded, version)
    text = (tmp_path / "gen" / "arm-virt-kernel-compat.c.inc").read_text()
    assert text.count("static GlobalProperty") == 1  # only virt-10.2 needs a table


def test_chained_layout_that_would_set_twice_is_rejected(tmp_path):
    text = BUNDLED.read_text().replace(
        'cpu-driver = "TYPE_ARM_CPU"\n', 'cpu-driver = "TYPE_ARM_CPU"\ncompat-layout = "chained"\n')
    path = tmp_path / "registry.toml"
    path.write_text(text)
    for command in (["validate"], ["build", "-o", str(tmp_path / "out")]):
        result = run_compat(*command, "-r", str(path))
        assert result.rc == 1, result.err
        assert "QEMU would abort on machine type virt-10.2" in result.err
        assert "array size property x-mig-safe-missing-regs may not be set more than once" \
            in result.err
        assert "Traceback" not in result.err
    assert not (tmp_path / "out").exists()


def test_tolerances_are_qemu_masters_four_and_pmmir(bundled, tmp_path):
    """QEMU master registers four tolerances (commits 113ed8e53c08 and
    6dd8be31f8fb); the registry adds SCTLR2_EL1 (Linux 6.17, FEAT_SCTLR2),
    PMMIR_EL1 (Linux 7.3) and, for nested vCPUs (el2), SCTLR2_EL2, VSESR_EL2
    and VDISR_EL2 (value-tested, added in 6.17) and RVBAR_EL2 (removed in 6.17).
    The vGIC's ICH_*_EL2 registers get none: dropping them is refused."""
    gen, _ = bundled
    exe = compile_harness("tolerances", gen, tmp_path)
    proc = run(exe)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"{SCTLR2} 0xffffffffffffffff 0x0 ToleranceOnlySrcTestValue",
        f"{TCR2} 0x0 0x0 ToleranceNotOnBothEnds",
        f"{PMMIR} 0xffffffffffffffff 0x0 ToleranceOnlySrcTestValue",
        f"{PIRE0} 0x0 0x0 ToleranceNotOnBothEnds",
        f"{PIR} 0x0 0x0 ToleranceNotOnBothEnds",
        "0x603000000013e083 0xffffffffffffffff 0x0 ToleranceOnlySrcTestValue",  # SCTLR2_EL2
        "0x603000000013e293 0xffffffffffffffff 0x0 ToleranceOnlySrcTestValue",  # VSESR_EL2
        "0x603000000013e601 0x0 0x0 ToleranceNotOnBothEnds",                   # RVBAR_EL2
        "0x603000000013e609 0xffffffffffffffff 0x0 ToleranceOnlySrcTestValue",  # VDISR_EL2
        f"{BMAP_2} 0xffffffffffffffff 0x0 ToleranceOnlySrcTestValue",
    ]
    text = (gen / "arm-cpreg-mig-tolerances.c.inc").read_text()
    assert "ARM64_SYS_REG(3, 0, 2, 0, 3)" in text
    assert "KVM_REG_ARM_FW_FEAT_BMAP_REG(3)" in text
    assert "UINT64_MAX, 0, ToleranceOnlySrcTestValue" in text
    assert "c0000e58c74e" in text and "0fcb4eea5345" in text and "a68cddbe47ef" in text


@pytest.fixture(scope="module")
def guards(bundled, tmp_path_factory) -> Path:
    gen, _ = bundled
    return compile_harness("guards", gen, tmp_path_factory.mktemp("guards"))


def test_guard_refuses_impl_cpu_on_machine_that_hides_bmap_2(guards):
    proc = run(guards, "feature", "virt-10.1", "impl-cpu")
    assert proc.returncode == 1
    message = proc.stdout
    for part in ("impl-cpu", "KVM_REG_ARM_VENDOR_HYP_BMAP_2", BMAP_2, "virt-10.1",
                 "use machine type virt-11.0 or newer"):
        assert part in message


@pytest.mark.parametrize("machine", ["virt-11.1", "virt-11.0"])
def test_guard_allows_impl_cpu_where_nothing_is_hidden(guards, machine):
    proc = run(guards, "feature", machine, "impl-cpu")
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("machine", ["virt-10.0", "virt-10.1", "virt-10.2", "virt-11.0"])
def test_guard_refuses_nested_vcpus_where_the_promise_spans_6_17(guards, machine):
    """virtualization=on under KVM (a nested vCPU, el2) on a machine type
    whose promise spans Linux 6.17, which moved the vGIC's ICH_*_EL2 state out
    of KVM_GET_REG_LIST: refused, naming the change and the fix."""
    proc = run(guards, "feature", machine, "virtualization")
    assert proc.returncode == 1
    for part in ("-machine virtualization=on", machine, "Linux 6.17", "ICH_AP0R0_EL2",
                 "c70a4027f5f3", "use machine type virt-11.1 or newer"):
        assert part in proc.stdout, part


def test_guard_allows_nested_vcpus_on_virt_11_1(guards):
    """virt-11.1 promises Linux 6.18 and later: no nested change inside."""
    assert run(guards, "feature", "virt-11.1", "virtualization").returncode == 0


def test_guard_allows_unknown_features(guards):
    assert run(guards, "feature", "virt-10.1", "no-such-feature").returncode == 0


def test_drop_check_passes_for_reset_value(guards):
    proc = run(guards, "drop", "virt-10.1", BMAP_2, "0")
    assert proc.returncode == 0, proc.stdout


def test_drop_check_fails_for_impl_cpu_value(guards):
    proc = run(guards, "drop", "virt-10.1", BMAP_2, "0x3")
    assert proc.returncode == 1
    assert "KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003) is 0x3" in proc.stdout
    assert "virt-10.1" in proc.stdout and "impl-cpu" in proc.stdout


def test_drop_check_ignores_registers_without_condition(guards):
    assert run(guards, "drop", "virt-10.1", TCR2, "0xffff").returncode == 0
    # not dropped by virt-11.1 at all: nothing to check
    assert run(guards, "drop", "virt-11.1", BMAP_2, "0x3").returncode == 0


@pytest.mark.parametrize("machine,index,answer", [
    ("virt-10.1", BMAP_2, "hidden hidden"),
    ("virt-10.1", TCR2, "safe-missing visible"),
    ("virt-10.1", PIR, "safe-missing visible"),
    ("virt-10.1", DBGDTRTX, "safe-missing visible"),
    ("virt-10.1", "0x603000000013c000", "migrated visible"),
    ("virt-10.1", "0xffffffffffffffff", "migrated visible"),
    ("virt-10.1", "0", "migrated visible"),
    ("virt-11.1", BMAP_2, "migrated visible"),
    ("virt-11.0", DBGDTRTX, "safe-missing visible"),
])
def test_rule_lookup(guards, machine, index, answer):
    proc = run(guards, "rule", machine, index)
    assert proc.stdout.strip() == answer


def test_rule_lookup_agrees_with_derivation_for_every_register(bundled, guards):
    _, loaded = bundled
    cases = []
    for rules in loaded.derivation.machines:
        hidden, tolerated = set(rules.hidden_indices), set(rules.tolerated_indices)
        for reg in loaded.registry.registers.values():
            want = ("hidden" if reg.index in hidden else
                    "safe-missing" if reg.index in tolerated else "migrated")
            cases.append((rules.machine.name, reg, want))
    answers = run_many(guards, [["rule", machine, hex(reg.index)] for machine, reg, _ in cases])
    for (machine, reg, want), answer in zip(cases, answers, strict=True):
        assert answer.stdout.split()[0] == want, (machine, reg.name)


PSCI = "0x6030000000140000"


@pytest.mark.parametrize("machine, answer", [
    ("virt-10.0", "pinned 0x10001 kvm-psci-version=1.1"),
    ("virt-10.2", "pinned 0x10001 kvm-psci-version=1.1"),
    ("virt-11.0", "not-pinned"),
    ("virt-11.1", "not-pinned"),
])
def test_pin_lookup(guards, machine, answer):
    """arm_compat_reg_pinned(): the value rules of compat.qemu.value_rules."""
    assert run(guards, "pin", machine, PSCI).stdout.strip() == answer
    assert run(guards, "pin", machine, TCR2).stdout.strip() == "not-pinned"


MMFR2 = "0x603000000013c03a"     # ID_AA64MMFR2_EL1: NV (27:24) stops at Linux 6.15


@pytest.mark.parametrize("machine, value, refused", [
    ("virt-10.2", "0x1221011112011011", True),    # a 6.12 host with FEAT_NV2 (measured)
    ("virt-10.0", "0x1221011112011011", True),
    ("virt-10.2", "0x1221011110011011", False),   # 6.16 on the same host: NV hidden
    ("virt-11.0", "0x1221011112011011", False),   # its promise starts at 6.15
    ("virt-10.2", "0x0", False),                  # a host without the feature
])
def test_id_guard_refuses_a_machine_type_whose_promise_no_pin_keeps(guards, machine, value,
                                                                    refused):
    """arm_compat_check_id_reg(): the ID fields compat.qemu.id_rules says no
    rule can lower (NV: Linux 6.15 stops advertising it, 6.12 cannot take 0)."""
    proc = run(guards, "idreg", machine, MMFR2, value)
    assert proc.returncode == (1 if refused else 0), proc.stdout + proc.stderr
    if refused:
        for part in (f"machine type {machine} cannot keep its migration promise",
                     "ID_AA64MMFR2_EL1.NV is 2 here", "9d6745572899", "use virt-11.0 or newer"):
            assert part in proc.stdout, proc.stdout
    # a field a pin lowers is no reason to refuse (SCTLRX on a 6.17 host)
    assert run(guards, "idreg", machine, "0x603000000013c03b", "0x111").returncode == 0


# A register the old simulator tolerated unconditionally while the generated C
# tested its value (tolerate-missing with safe-when), next to DBGDTRTX, which
# the old simulator tolerated although QEMU's tolerance list (KVM only) has no
# entry for it.  Both now come from compat.qemu.tolerance.
DISAGREED = '''
[registers.S3_0_C10_C2_4]
description = "A test register: tolerated only while its value passes."
encoding = { group = "sysreg", op0 = 3, op1 = 0, crn = 10, crm = 2, op2 = 4 }
reset = "0x5"
changes = [ { kernel = "6.14", change = "removed", commit = "abcdef1" } ]
compat = "tolerate-missing"
safe-when = { mask = "0xff", value = "0x0" }
'''


def test_check_with_tolerances_agrees_with_the_generated_c(tmp_path):
    """For every register of a registry where the two old code paths
    disagreed, ``compat check --rules tolerances`` lets a source that has
    it migrate to a destination that lacks it exactly when the generated
    tolerance (compiled and run) would."""
    loaded = generate(BUNDLED.read_text() + DISAGREED, tmp_path)
    proc = run(compile_harness("tolerances", tmp_path / "gen", tmp_path))
    assert proc.returncode == 0, proc.stderr
    c_rules = {}
    for line in proc.stdout.splitlines():
        index, mask, value, kind = line.split()
        c_rules[int(index, 16)] = (int(mask, 16), int(value, 16), kind)
    base = "# kernel: 6.14\n# host: test\n0x603000000013c103\n"
    for reg in loaded.registry.registers.values():
        src, dst = tmp_path / f"{reg.name}.src", tmp_path / f"{reg.name}.dst"
        src.write_text(base + f"0x{reg.index:016x}\n")
        dst.write_text(base)
        result = run_compat("check", str(src), str(dst), "--rules", "tolerances",
                            "-r", str(tmp_path / "registry.toml"))
        rule = c_rules.get(reg.index)
        c_passes = rule is not None and (
            rule[2] == "ToleranceNotOnBothEnds" or (reg.reset or 0) & rule[0] == rule[1])
        assert result.rc == (0 if c_passes else 1), (reg.name, rule, result.out, result.err)
    # the two cases that used to disagree
    assert int(DBGDTRTX, 16) not in c_rules
    assert c_rules[0x603000000013c514] == (0xff, 0, "ToleranceOnlySrcTestValue")


def test_the_guards_harness_batch_mode_answers_as_single_runs(guards):
    """cbuild.run_many (one harness process for many calls) answers every
    kind of call, allowed and refused, exactly as one process a call."""
    calls = [[what, machine, index] for what in ("rule", "pin")
             for machine in ("virt-10.1", "virt-11.1") for index in (BMAP_2, TCR2, PSCI, "0x0")]
    calls += [["feature", machine, feature] for machine in ("virt-10.1", "virt-11.1")
              for feature in ("impl-cpu", "virtualization")]
    calls += [["drop", "virt-10.1", BMAP_2, value] for value in ("0", "0x3")]
    calls += [["idreg", "virt-10.1", MMFR2, value] for value in ("0x0", "0x1111")]
    single = [run(guards, *call) for call in calls]
    assert {p.returncode for p in single} == {0, 1}  # both answers are among the calls
    assert [(p.returncode, p.stdout) for p in run_many(guards, calls)] == \
        [(p.returncode, p.stdout) for p in single]
