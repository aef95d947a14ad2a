"""ID registers (issue 24): the registry's ID field facts, the simulator's ID
value and visibility checks, and the held real case 6.17 -> 6.16 on QEMU
11.1's emulated host (FEAT_SCTLR2): QEMU printed
``Could not set register op0:3 op1:0 crn:0 crm:7 op2:3 to 111 (is 101)``.

tests/data/real holds that host's lists with their measured ``.idregs``
(compat lab collect); "lists alone" reads copies without them."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from compat.analysis.reglist import read_reglist
from compat.analysis.simulate import Simulator
from compat.core.diagnostics import CompatError
from compat.core.resources import default_registry
from compat.core.versions import Version
from compat.load.pipeline import load
from compat.load.semantic import load_registry_text

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"
MMFR3, SCTLR2 = 0x603000000013c03b, 0x603000000013c083
L617, L616 = "qemu11.1-max-linux-6.17.13+deb13.reglist", "qemu11.1-max-linux-6.16.12+deb13.reglist"


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The 11.1 host's lists without their .idregs siblings."""
    where = tmp_path_factory.mktemp("alone")
    for path in REAL.glob("qemu11.1-max-linux-*.reglist"):
        (where / path.name).write_bytes(path.read_bytes())
    return where


@pytest.fixture(params=["lists-alone", "idregs"])
def where(request, alone):
    return alone if request.param == "lists-alone" else REAL


@pytest.fixture(scope="module")
def sim():
    loaded = load(*default_registry())
    return Simulator(loaded.registry, loaded.derivation)


def _id_failures(result):
    return [f for f in result.failures if f.kind == "id-value"]


#: what ran: stock QEMU 11.1, and QEMU 10.2.2 with compat's table for virt-10.2
RAN = [("qemu-11.1", None), ("compat-props", "virt-10.2")]


@pytest.mark.parametrize("mode, machine", RAN)
def test_held_case_fails_naming_the_field(sim, where, mode, machine):
    src, dst = read_reglist(where / L617), read_reglist(where / L616)
    assert (src.id_values is None) == (where != REAL)
    result = sim.simulate(src, dst, sim.rule_set(mode, machine))
    assert result.verdict == "fail"
    (failure,) = _id_failures(result)
    assert failure.index == MMFR3 and failure.name == "ID_AA64MMFR3_EL1"
    assert failure.qemu_error.startswith(
        "Could not set register op0:3 op1:0 crn:0 crm:7 op2:3 to ")
    assert "SCTLRX = 1" in failure.qemu_error
    assert "SYSREG_ID_AA64MMFR3_EL1_SCTLRX=0" in failure.fix
    if where == REAL:       # the measured values: QEMU's own words
        assert "to 111 (is 101)" in failure.qemu_error
    # stock 11.1 also names SCTLR2_EL1, as QEMU did; compat's table hides it
    assert (SCTLR2 in {f.index for f in result.failures}) == (mode == "qemu-11.1")


def test_the_pin_makes_the_held_case_pass(sim, where):
    """A QEMU with the host-model properties applies virt-10.2's
    SYSREG_ID_AA64MMFR3_EL1_SCTLRX=0: the source sends SCTLRX = 0."""
    src, dst = read_reglist(where / L617), read_reglist(where / L616)
    rules = sim.rule_set("compat-props", "virt-10.2")
    assert rules.id_pins == {}          # no QEMU release has the properties
    pinned = dataclasses.replace(rules, id_pins={"ID_AA64MMFR3_EL1.SCTLRX": 0})
    assert sim.simulate(src, dst, pinned).verdict == "pass"
    assert sim.passes(sim.cpreg(src), sim.cpreg(dst), pinned, src, dst)
    assert not sim.passes(sim.cpreg(src), sim.cpreg(dst), rules, src, dst)


@pytest.mark.parametrize("name, pinned, broken", [
    ("virt-11.1", ["ID_AA64ISAR2_EL1.ATS1A"], []),
    ("virt-11.0", ["ID_AA64ISAR2_EL1.ATS1A", "ID_AA64MMFR3_EL1.SCTLRX"], []),
    ("virt-10.2", ["ID_AA64FPFR0_EL1.F8MM4", "ID_AA64FPFR0_EL1.F8MM8", "ID_AA64ISAR2_EL1.ATS1A",
                   "ID_AA64ISAR3_EL1.FAMINMAX", "ID_AA64ISAR3_EL1.FPRCVT",
                   "ID_AA64MMFR3_EL1.SCTLRX"], ["ID_AA64MMFR2_EL1.NV"]),
])
def test_each_machine_type_pins_what_its_promise_spans(sim, name, pinned, broken):
    """A field changed after min-kernel is pinned (lowered to what older
    kernels advertise) where the newer kernel lets userspace write it; NV,
    which 6.15 stops advertising and 6.12 cannot take, breaks the promise."""
    from compat.qemu.id_rules import id_rules_for
    pins, breaks = id_rules_for(sim.registry, sim.registry.find_machine(name))
    assert sorted(p.field.name for p in pins) == pinned
    assert [b.field.name for b in breaks] == broken
    assert all(p.value == 0 for p in pins)
    sctlrx = [p for p in pins if p.field.field == "SCTLRX"]
    # the registers that come with SCTLRX: SCTLR2_EL1, and SCTLR2_EL2 of nested vCPUs
    assert all(sorted(r.name for r in p.hides) == ["SCTLR2_EL1", "SCTLR2_EL2"] for p in sctlrx)


def test_forward_lowering_hides_the_gated_register_after_start(sim, where):
    """6.16 -> 6.17: QEMU writes ID_AA64MMFR3_EL1 (SCTLRX 1 -> 0, writable on
    6.17) before SCTLR2_EL1, which KVM then hides: ENOENT."""
    src, dst = read_reglist(where / L616), read_reglist(where / L617)
    result = sim.simulate(src, dst, sim.rule_set("qemu-11.1"))
    assert [(f.index, f.kind) for f in result.failures] == [(SCTLR2, "id-visibility")]
    assert result.failures[0].qemu_error.startswith(
        "Could not set register op0:3 op1:0 crn:1 crm:0 op2:3: unknown to KVM")
    # compat's tables hide SCTLR2_EL1 on both sides: nothing is written after
    hidden = sim.simulate(src, dst, sim.rule_set("compat-props", "virt-10.2"))
    assert hidden.verdict == "pass", hidden.to_text()


def test_same_kernel_and_featureless_host_are_untouched(sim):
    for host in ("qemu7.2-max", "qemu11.1-max"):
        a = read_reglist(REAL / f"{host}-linux-6.17.13+deb13.reglist")
        assert sim.simulate(a, a, sim.rule_set("qemu-11.1")).verdict == "pass"
    a = read_reglist(REAL / "qemu7.2-max-linux-6.17.13+deb13.reglist")
    b = read_reglist(REAL / "qemu7.2-max-linux-6.16.12+deb13.reglist")
    assert not _id_failures(sim.simulate(a, b, sim.rule_set("qemu-11.1")))


def test_unknown_lower_field_without_masks_is_unknown_not_pass(sim, tmp_path):
    HELD = REAL
    """A lower value in a field compat has no fact for, with no writable
    mask to say whether the destination takes it: the verdict depends."""
    for name in (L617, L616):
        (tmp_path / name).write_bytes((REAL / name).read_bytes())
    for name, value in ((L616, 0x1), (L617, 0x2)):
        text = (HELD / name.replace(".reglist", ".idregs")).read_text()
        text = text.replace("# writable-masks: yes", "# writable-masks: no (test)")
        lines = [l if l.startswith("#") else " ".join(l.split()[:2]) + " -"
                 for l in text.splitlines()]
        lines = [f"0x603000000013c000 0x{value:016x} -"
                 if l.startswith("0x603000000013c000 ") else l for l in lines]
        (tmp_path / name.replace(".reglist", ".idregs")).write_text("\n".join(lines) + "\n")
    src, dst = read_reglist(tmp_path / L616), read_reglist(tmp_path / L617)
    assert dst.id_masks is None
    result = sim.simulate(src, dst, sim.rule_set("compat-props", "virt-10.2"))
    assert result.verdict == "unknown", result.to_text()
    assert any("writable masks" in d for d in result.depends_on)
    back = sim.simulate(dst, src, sim.rule_set("compat-props", "virt-10.2"))
    assert {f.index for f in _id_failures(back)} == {0x603000000013c000, MMFR3}


def test_check_cli_reads_the_sibling_and_says_so():
    proc = subprocess.run([sys.executable, "-m", "compat", "check", str(REAL / L617),
                           str(REAL / L616), "--rules", "qemu-11.1", "--json"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    got = json.loads(proc.stdout)
    kinds = {(f["index"], f["kind"]) for f in got["failures"]}
    assert ("0x603000000013c03b", "id-value") in kinds


def test_an_idregs_file_is_no_register_list():
    proc = subprocess.run([sys.executable, "-m", "compat", "check",
                           str(REAL / L617.replace(".reglist", ".idregs")), str(REAL / L616)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    assert ".idregs:1: error: this is an ID register file" in proc.stderr
    assert "Traceback" not in proc.stderr


# -- registry facts --------------------------------------------------------------

BASE = (ROOT / "registry.toml").read_text()


def _load_error(text: str) -> str:
    with pytest.raises(CompatError) as info:
        load_registry_text(text)
    return info.value.format()


def test_hiding_a_featured_register_without_its_id_field_is_an_error():
    text = BASE.replace('id-field = "ID_AA64MMFR3_EL1.SCTLRX"\n', "")
    message = _load_error(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1)
                if l.startswith('compat = "hide"') and i > text.splitlines().index(
                    "[registers.SCTLR2_EL1]"))
    assert f"registry.toml:{line}:" in message
    assert "hiding SCTLR2_EL1 does not hide FEAT_SCTLR2" in message
    assert "id-field" in message


def test_unknown_id_field_is_located():
    message = _load_error(BASE.replace('"ID_AA64MMFR3_EL1.SCTLRX"', '"ID_AA64MMFR3_EL1.SCTLR"'))
    assert "unknown ID field 'ID_AA64MMFR3_EL1.SCTLR'" in message
    assert "did you mean 'ID_AA64MMFR3_EL1.SCTLRX'" in message


FACT = 'shift = 4, width = 4, kernel = "6.17", value = 1'


@pytest.mark.parametrize("bad, words", [
    ('shift = 62, width = 4, kernel = "6.17", value = 1', "do not fit a 64-bit register"),
    ('shift = 4, width = 4, kernel = "6.17", value = 16', "does not fit the field's 4 bits"),
    ('shift = 4, width = 4, kernel = "six", value = 1', "kernel"),
])
def test_bad_id_field_facts_are_located(bad, words):
    assert FACT in BASE
    text = BASE.replace(FACT, bad)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if bad in l)
    message = _load_error(text)
    assert f"registry.toml:{line}:" in message and words in message, message


def test_id_fields_only_on_id_registers():
    text = BASE.replace('[registers.PMMIR_EL1]\n', '[registers.PMMIR_EL1]\nid-fields = [ { '
                        'field = "X", shift = 0, width = 4, kernel = "7.3", value = 1, '
                        'commit = "453f6ff04b8d", source = "test" } ]\n')
    assert "PMMIR_EL1 is not in the feature ID range" in _load_error(text)


def test_writable_masks_from_6_7():
    """Source check (kvmarm-6.7 pull, 20231102172917.142863-1-pbonzini@redhat.com):
    writable ID registers and KVM_ARM_GET_REG_WRITABLE_MASKS arrived together."""
    from compat.analysis.idvalues import WRITABLE_SINCE
    assert WRITABLE_SINCE == Version.parse("6.7")


def test_a_field_no_kernel_lets_userspace_lower_breaks_the_promise(tmp_path):
    """Without writable-from no pin is possible: validate warns, located at
    the fact, and the compat table carries no SYSREG row."""
    text = BASE.replace(' writable-from = "6.17",', "")
    path = tmp_path / "registry.toml"
    path.write_text(text.replace("#:schema ./schemas/registry.schema.json", ""))
    proc = subprocess.run([sys.executable, "-m", "compat", "validate", "-r", str(path)],
                          cwd=ROOT, capture_output=True, text=True)
    line = next(i for i, l in enumerate(path.read_text().splitlines(), 1)
                if 'field = "SCTLRX"' in l)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"registry.toml:{line}:" in out and "the promise cannot be kept" in out, out
    assert "virt-10.0 promises migration from Linux 6.6 on" in out


def test_compat_table_pins_the_field_on_the_machine_types_that_span_it(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "compat", "build", "-o", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "arm-virt-kernel-compat.c.inc").read_text()
    row = '{ TYPE_ARM_CPU, "SYSREG_ID_AA64MMFR3_EL1_SCTLRX", "0", .optional = true },'
    tables = text.split("static GlobalProperty ")[1:]
    with_row = sorted(t.split("[]")[0] for t in tables if row in t)
    assert with_row == ["arm_virt_kernel_compat_10_0", "arm_virt_kernel_compat_10_1",
                        "arm_virt_kernel_compat_10_2", "arm_virt_kernel_compat_11_0"]


# -- facts against measured values (.idregs files) ---------------------------------

#: hosts whose CPU has each feature (tests/test_registry_reality.py's table)
from test_registry_reality import HOST_FEATURES  # noqa: E402

#: the ID-field features of each host's CPU model beyond HOST_FEATURES (QEMU 11.1's
#: max implements these; QEMU 7.2's and 10.0's none: their kernels never showed them)
ID_HOST_FEATURES = {host: set(features) for host, features in HOST_FEATURES.items()}
ID_HOST_FEATURES["qemu11.1-max"] |= {"FEAT_FAMINMAX", "FEAT_FPRCVT", "FEAT_F8MM8", "FEAT_F8MM4",
                                     "FEAT_ATS1A", "FEAT_NV2"}


def _measured():
    """Every .idregs list, by host, oldest kernel first: the lab's files in
    tests/data/real and the held case's fixture."""
    by_host: dict[str, list] = {}
    for where in (REAL,):
        for path in sorted(where.glob("*.reglist")):
            reg = read_reglist(path)
            if reg.id_values is not None:
                by_host.setdefault((where.name, reg.host), []).append(reg)
    return {k: sorted(v, key=lambda r: r.kernel) for k, v in by_host.items()}


def test_id_field_facts_match_measured_values(sim):
    """Each registry ID field: 0 before its kernel; from it, its value exactly
    on hosts with its CPU feature; in the writable mask from writable-from."""
    measured = _measured()
    assert measured, "no .idregs files (tests/data/idregs-held at least)"
    problems, checked = [], 0
    for f in sim.registry.id_fields():
        index = sim.registry.registers[f.register].index
        for (_, host), lists in measured.items():
            for reg in lists:
                value = reg.id_values.get(index)
                if value is None:
                    continue
                has = f.cpu_feature is None or f.cpu_feature in ID_HOST_FEATURES[host]
                want = (0 if not has else f.value if reg.kernel >= f.kernel
                        else f.older_value)
                if f.get(value) != want:
                    problems.append(f"{reg.id_path}: {f.name} = {f.get(value)}, the registry "
                                    f"says {want}")
                if reg.id_masks is not None and index in reg.id_masks:
                    writable = reg.id_masks[index] & f.mask == f.mask
                    if writable != f.writable_at(reg.kernel) and has:
                        problems.append(f"{reg.id_path}: {f.name} writable={writable}, the "
                                        f"registry says writable from {f.writable_from}")
                checked += 1
    assert not problems, problems
    assert checked >= 2


def test_every_measured_field_change_has_a_registry_fact(sim):
    """Between consecutive kernels of one host within some machine type's
    promise, every ID field that changes is a registry fact
    (docs/id-registers.md lists them)."""
    missing = []
    oldest = min(m.min_kernel for m in sim.registry.machine_versions())
    for (_, host), lists in _measured().items():
        for old, new in zip(lists, lists[1:]):
            if old.kernel < oldest:
                continue        # outside every promise (6.1 -> 6.12: virt-10.0 starts at 6.6)
            for index in sorted(set(old.id_values) & set(new.id_values)):
                a, b = old.id_values[index], new.id_values[index]
                for shift in range(0, 64, 4):
                    if (b >> shift & 0xf) != (a >> shift & 0xf):
                        facts = [f for f in sim.registry.id_fields()
                                 if sim.registry.registers[f.register].index == index
                                 and f.mask >> shift & 0xf and old.kernel < f.kernel <= new.kernel]
                        if not facts:
                            missing.append(f"{host} {old.kernel} -> {new.kernel}: "
                                           f"{index:#x} bits {shift + 3}:{shift}")
    assert not missing, missing


def test_docs_table_lists_every_id_field_fact(sim):
    doc = (ROOT / "docs" / "id-registers.md").read_text()
    rows = {tuple(c.strip() for c in line.strip("|").split("|")[:6])
            for line in doc.splitlines() if line.startswith("| ID_")}
    want = {(f.register, f.field, f"{f.shift + f.width - 1}:{f.shift}", str(f.kernel),
             str(f.value), f.cpu_feature or "") for f in sim.registry.id_fields()}
    assert rows == want


# -- the measured table in docs/id-registers.md ---------------------------------------

BEGIN, END = "<!-- measured-table: begin -->", "<!-- measured-table: end -->"


def measured_table(registry) -> str:
    """The docs' table of ID fields that differ between consecutive Debian
    kernels on each host with .idregs files (tests/idregs_table.py's rows),
    with the registry fact's commit for each."""
    import idregs_table
    oldest = min(m.min_kernel for m in registry.machine_versions())
    out = []
    hosts = sorted({p.name.split("-linux-")[0] for p in REAL.glob("*.idregs")})
    for host in hosts:
        out += [f"**{host}**", "",
                "| kernels | register | bits | field | old | new | commit | writable (old) "
                "| writable (new) |", "|---|---|---|---|---|---|---|---|---|"]
        for r in idregs_table.field_changes(host, REAL):
            old_k = Version.parse(idregs_table._kernel(r["from"]))
            new_k = Version.parse(idregs_table._kernel(r["to"]))
            facts = [f for f in registry.id_fields() if f.register == r["register"]
                     and r["bits"].startswith("[") and old_k < f.kernel <= new_k
                     and f.mask >> int(r["bits"].strip("[]").split(":")[1]) & 0xf]
            if facts:
                commit = ", ".join(sorted({f.commit or "not found" for f in facts}))
            elif old_k < oldest:
                commit = "(outside every promise)"
            else:
                commit = "(no fact)"
            out.append(f"| {old_k} -> {new_k} | {r['register']} | {r['bits']} | {r['field']} "
                       f"| {r['old']} | {r['new']} | {commit} | {r['w_old']} | {r['w_new']} |")
        out.append("")
    return "\n".join(out)


def test_docs_measured_table_is_generated_from_the_idregs(sim):
    doc = (ROOT / "docs" / "id-registers.md").read_text()
    table = doc.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")
    assert table == measured_table(sim.registry).strip("\n"), (
        "regenerate: python -c 'import sys; sys.path[:0] = [\"tests\"]; from test_idregs "
        "import print_measured_table; print_measured_table()'")
    assert "(no fact)" not in table


def print_measured_table() -> None:
    """Print the table for docs/id-registers.md (between its markers)."""
    loaded = load(*default_registry())
    print(measured_table(loaded.registry))


def test_explain_tells_the_id_story():
    def explain(name):
        proc = subprocess.run([sys.executable, "-m", "compat", "explain", name], cwd=ROOT,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    text = explain("ID_AA64MMFR3_EL1")
    assert "ID field SCTLRX (7:4): Linux 6.17 (075c2dc7367e) advertises 1" in text
    assert "virt-10.2: pin -cpu host,SYSREG_ID_AA64MMFR3_EL1_SCTLRX=0 (.optional)" in text
    assert "virt-11.1: pin" not in text
    assert "virt-10.0: promise not kept" in explain("ID_AA64MMFR2_EL1")
    assert "comes with ID field ID_AA64MMFR3_EL1.SCTLRX" in explain("SCTLR2_EL1")
