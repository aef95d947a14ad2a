"""Real QEMU is the oracle: for every migration recorded by ``compat lab migrate``
in tests/data/real-migrations/, ``compat check`` with the rules of that QEMU
(``qemu-10.0`` for QEMU 10.0, ``qemu-11.1`` for 11.1) predicts the real
verdict and names the register QEMU names, twice: from the cases' cpreg
lists with values (``*.cpregs``), and from the index-only register lists of
the same lab host and kernels in tests/data/real/ (no values: the source
kernel's defaults stand in).  One real migration runs as a slow lab test.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from clirun import run_compat, run_compat_process

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "real-migrations"
CASES = sorted(p.parent for p in DATA.glob("*/case.json"))
#: the rules each real QEMU applies: 10.0 has none; 11.1 ships the tolerances of
#: compat.qemu.tolerance.SHIPPED (compat's own list, --rules tolerances, adds PMMIR_EL1)
RULES = {"10.0": "qemu-10.0", "11.1": "qemu-11.1"}
REAL = ROOT / "tests" / "data" / "real"
#: cases compat check mispredicts (none since the simulator checks ID register
#: values, issue 24: 6.16 -> 6.17 fails on SCTLR2_EL1 once ID_AA64MMFR3_EL1's
#: lower SCTLRX hid it, 7.2 -> 7.1 on ID_AA64ISAR2_EL1.ATS1A); strict both ways
ID_VALUE_PENDING: dict[str, str] = {}
#: cases the lists alone mispredict (their streams predict them): none since a
#: source ``-cpu host,SYSREG_<REG>_<FIELD>=V`` is read as a --cpu-option; strict
LISTS_ALONE_PENDING: dict[str, str] = {}


def not_predicted_yet(info: dict) -> bool:
    """A nested case (vCPUs with EL2) that QEMU 11.1 blocks or QEMU 10.0
    refuses to start: no stream, so test_compat_check_predicts_the_nested_refusal
    predicts it from the nested lists (compat/qemu/nested.py), not the walk."""
    return "nested" in info and info["verdict"] in ("blocked", "source-error")


#: a QEMU built by ``compat lab qemu build`` (case.json ``qemu.compat_rules``: the
#: COMPAT_RULES its glue ran with) applies the rules of that setting
BUILD_RULES = {"off": "qemu-10.2-patched", "tables": "qemu-10.2-compat",
               "tolerances": "tolerances", "stock": "qemu-11.1", "on": "qemu-10.2-compat"}


def rules_of(info: dict) -> str:
    """The ``--rules`` mode of the QEMU that ran the case."""
    qemu = info["qemu"]
    if "compat_rules" in qemu:
        return BUILD_RULES[qemu["compat_rules"]]
    return RULES[qemu["version"]]


#: real verdicts compat check does not predict yet, each with the reason; the
#: test checks that they still disagree (remove one once compat predicts it)
KNOWN_DISAGREEMENTS: dict[str, str] = {}   # none since the simulator checks ID values


def machine_of(info: dict) -> str | None:
    """The case's machine type where its rules mode needs one (compat-props)."""
    from compat.qemu.modes import resolve
    machine = info["qemu"].get("machine")
    return machine.split(",")[0] if machine and resolve(rules_of(info)).needs_machine else None


def _compat(*args, timeout=600):
    return run_compat(*args, cwd=ROOT, timeout=timeout)


def qemu_named_registers(messages: list[str]) -> set[int]:
    """The register indexes QEMU's error messages name: a 64-bit index written
    out, ``fw reg N`` (KVM_REG_ARM_FW_REG(N), as kvm_arm_put_registers says),
    ``fw feat reg N`` (KVM_REG_ARM_FW_FEAT_BMAP_REG(N)) or ``system register
    op0:A op1:B crn:C crm:D op2:E`` (ARM64_SYS_REG, as QEMU 11.1's
    cpu_post_load says).  Trace lines of tolerated registers and registers the
    destination merely skips are not errors."""
    out = set()
    for m in messages:
        if m.startswith("tolerate_cpreg_") or "skip it" in m:
            continue
        out |= {int(x, 16) for x in re.findall(r"0x(60[0-9a-f]{14})\b", m)}
        out |= {0x6030000000140000 | int(n) for n in re.findall(r"\bfw reg (\d+)\b", m)}
        out |= {0x6030000000160000 | int(n) for n in re.findall(r"\bfw feat reg (\d+)\b", m)}
        for op0, op1, crn, crm, op2 in re.findall(
                r"op0:(\d+) op1:(\d+) crn:(\d+) crm:(\d+) op2:(\d+)", m):
            out.add(0x6030000000130000 | int(op0) << 14 | int(op1) << 11 | int(crn) << 7
                    | int(crm) << 3 | int(op2))
    return out


def predict(case_dir: Path, info: dict, *, streams: bool = False) -> dict:
    """``compat check SOURCE DESTINATION --rules R --json`` on the case's cpreg
    lists with values (``*.cpregs``, checked in) or its gzipped streams."""
    if streams:
        src, dst = case_dir / info["source"]["stream"], case_dir / info["destination"]["stream"]
    else:
        src, dst = value_lists(case_dir, info)
    machine = machine_of(info)
    proc = _compat("check", str(src), str(dst), "--rules", rules_of(info), "--json",
                   *(["--machine", machine] if machine else []))
    got = json.loads(proc.stdout)
    assert proc.returncode == (0 if got["ok"] else 1), proc.stderr   # the one right status
    return got


def value_lists(case_dir: Path, info: dict) -> tuple[Path, Path]:
    """The case's cpreg lists with values; where the destination QEMU refused
    to start (a start-up guard) it has none of its own, and its kernel's list
    from the same lab host (with its ``.idregs``) stands in."""
    src, dst = case_dir / "source.cpregs", case_dir / "destination.cpregs"
    if src.exists() and not dst.exists():
        lists = index_only_lists(info)
        assert lists is not None, f"{case_dir.name}: no destination list"
        dst = lists[1]
    return src, dst


def _info(case_dir: Path) -> dict:
    return json.loads((case_dir / "case.json").read_text())


def cpu_options(info: dict, names) -> list[str]:
    """The source's ``-cpu host,NAME=VALUE`` options that set a register
    (``names``: the registry's cpu-property names), as --cpu-option values."""
    opts = info["source"]["cpu"].split(",")[1:]
    return [o for o in opts if o.partition("=")[0] in names]


def index_only_lists(info: dict) -> tuple[Path, Path] | None:
    """The register lists (indices only) that ``compat lab collect`` took on
    the case's lab host (QEMU X.Y TCG, -cpu CPU) under its two kernels;
    None when tests/data/real has none with the case's vCPU features
    (``pmu=off`` on both sides reads the ``-nopmu`` lists, collected with
    ``--features psci-0.2``)."""
    pmu_off = {"pmu=off" in info[side]["cpu"] for side in ("source", "destination")}
    if len(pmu_off) != 1:
        return None
    suffix = "-nopmu" if pmu_off == {True} else ""
    if "nested" in info:    # vCPUs with EL2: the lists of --features psci-0.2,pmu-v3,el2
        suffix = "-el2"
    lab = info.get("lab")
    if lab is None:     # a source-error case records no lab; every other case ran on one
        # (the first oracle's, on the QEMU 7.2 host, of the same QEMU inside:
        # cases run since record theirs)
        (lab,) = {json.dumps(i["lab"], sort_keys=True) for i in map(_info, CASES)
                  if "lab" in i and "_host-" not in i["case"] and "nested" not in i
                  and i["qemu"].get("version") == info["qemu"].get("version")}
        lab = json.loads(lab)
    qemu = ".".join(lab["host_qemu"].split()[0].split(".")[:2])
    host = f"qemu{qemu}-{lab['host_cpu'].split(',')[0]}{suffix}"
    paths = tuple(REAL / f"{host}-linux-{info[side]['kernel']}.reglist"
                  for side in ("source", "destination"))
    return paths if all(p.exists() for p in paths) else None


def disagreement(info: dict, got: dict) -> str | None:
    """Why ``compat check``'s JSON ``got`` disagrees with the real case, or None."""
    said = " ".join(info["qemu_messages"])
    if info["verdict"] == "source-error":
        # the source QEMU did not start: a -cpu option it refused, or a guard
        starts = [f for f in got["failures"] if f["kind"] in ("cpu-option", "guard")]
        if got["verdict"] == "fail" and starts and all(f["qemu_error"] in said for f in starts):
            return None
        return f"QEMU refused to start the source ({said}); compat check: {got['failures']}"
    want = "pass" if info["verdict"] == "pass" else "fail"
    if got["verdict"] != want:
        return (f"compat check says {got['verdict']}, real QEMU {info['verdict']}: "
                f"{info['qemu_messages']}\n{json.dumps(got['failures'], indent=1)}"
                f"\n{got['depends_on']}")
    if want == "pass":
        return None
    guards = [f for f in got["failures"] if f["kind"] == "guard"]
    if guards:
        # a start-up guard of compat's C refused the destination's machine
        # type: QEMU printed the guard's message, word for word
        if any(f["qemu_error"] in said for f in guards):
            return None
        return f"QEMU says {said!r}, compat check's guard {[f['qemu_error'] for f in guards]}"
    named = qemu_named_registers(info["qemu_messages"])
    predicted = {int(f["index"], 16) for f in got["failures"]}
    kinds = {f["kind"] for f in got["failures"]}
    if named:
        if not named & predicted:
            return (f"QEMU names {sorted(hex(i) for i in named)}, "
                    f"compat check {sorted(hex(i) for i in predicted)}")
    elif "cpreg_vmstate_array_len" in said:
        # QEMU 10.0: the incoming list is longer than the local one; the vmstate
        # length check (VMSTATE_INT32_POSITIVE_LE) fails before any register is read
        if "length" not in kinds:
            return f"QEMU fails on the length, compat check on {kinds}"
    elif not (info["qemu"]["version"] == "10.0" and "device 'cpu'" in said
              and "unknown-register" in kinds):
        # QEMU 10.0's cpu_post_load() returns -1 at a register the destination
        # lacks without naming it ("error while loading state ... device 'cpu'")
        return f"QEMU says {said!r}, compat check {kinds}"
    return None


def walk(values: bool) -> tuple[list[str], list[str]]:
    """Every case with a verdict through the simulator (in process: the CLI
    runs per case below): the cases walked and the disagreements found."""
    from compat.analysis.reglist import read_reglist
    from compat.analysis.simulate import Simulator
    from compat.core.resources import default_registry
    from compat.load.pipeline import load
    loaded = load(*default_registry())
    sim = Simulator(loaded.registry, loaded.derivation)
    names = {r.cpu_property.name for r in loaded.registry.registers.values() if r.cpu_property}
    names |= {f.qemu_property for f in loaded.registry.id_fields()}   # SYSREG_<REG>_<FIELD>
    walked, wrong = [], []
    for case_dir in CASES:
        info = json.loads((case_dir / "case.json").read_text())
        if (info["verdict"] == "error" or not_predicted_yet(info)
                or case_dir.name in KNOWN_DISAGREEMENTS):
            continue
        if values:
            paths = value_lists(case_dir, info)
            if not paths[0].exists():
                continue            # a source-error case has no stream
        else:
            paths = index_only_lists(info)
            if paths is None:
                continue
        src, dst = (read_reglist(p) for p in paths)
        rules = sim.rule_set(rules_of(info), machine_of(info), (),
                             [] if values else cpu_options(info, names),
                             vcpu_features=src.vcpu_features)
        why = disagreement(info, sim.simulate(src, dst, rules).to_json())
        walked.append(case_dir.name)
        if why:
            wrong.append(f"{case_dir.name}: {why}")
    return walked, wrong


def test_index_only_lists_predict_every_real_verdict():
    """The measured target: register lists alone (no values) with the rules
    of the QEMU that ran the case give the real verdict for every case that
    has lists of its lab host, kernels and vCPU features: all of them, the
    four ``pmu=off`` ones from the ``-nopmu`` lists and the source-error one
    included (QEMU 10.0 has no kvm-psci-version)."""
    walked, wrong = walk(values=False)
    assert sorted(w.split(":")[0] for w in wrong) == sorted(
        {**ID_VALUE_PENDING, **LISTS_ALONE_PENDING}), wrong
    with_verdict = [c.name for c in CASES if _info(c)["verdict"] != "error"
                    and not not_predicted_yet(_info(c)) and c.name not in KNOWN_DISAGREEMENTS]
    assert walked == with_verdict
    assert len(walked) >= 27, walked


def test_values_predict_every_real_verdict():
    """The same walk from the cases' cpreg lists with values."""
    walked, wrong = walk(values=True)
    assert sorted(w.split(":")[0] for w in wrong) == sorted(ID_VALUE_PENDING), wrong
    assert len(walked) == sum(1 for c in CASES if (c / "source.cpregs").exists()
                              and c.name not in KNOWN_DISAGREEMENTS) >= 26


def test_the_oracle_data_is_there():
    assert CASES, "tests/data/real-migrations has no case (see its README)"


@pytest.mark.parametrize("case_dir", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=ID_VALUE_PENDING[c.name]))
    if c.name in ID_VALUE_PENDING else c for c in CASES], ids=[c.name for c in CASES])
def test_compat_check_predicts_the_real_verdict(case_dir, tmp_path):
    info = json.loads((case_dir / "case.json").read_text())
    if info["verdict"] == "source-error":
        pytest.skip("the source QEMU refused its options: no migration to predict")
    if info["verdict"] == "error":
        pytest.skip(f"the lab recorded no verdict: {info['qemu_messages']}")
    if not_predicted_yet(info):
        pytest.skip("see test_compat_check_predicts_the_nested_refusal")
    got = predict(case_dir, info)
    real_ok = info["verdict"] == "pass"
    if case_dir.name in KNOWN_DISAGREEMENTS:
        assert got["ok"] != real_ok, "compat check predicts it now: remove it from KNOWN_DISAGREEMENTS"
        pytest.xfail(KNOWN_DISAGREEMENTS[case_dir.name])
    why = disagreement(info, got)
    assert why is None, why


# -- one real migration (slow: two boots of Debian kernels under TCG) --------------------------

@pytest.mark.slow
@pytest.mark.lab
def test_one_real_migration_agrees_with_compat_check(tmp_path):
    missing = [t for t in ("qemu-system-aarch64", "cpio", "apt-get", "dpkg", "readelf")
               if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (.ci/run installs them)")
    case = "6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0"
    proc = run_compat_process("lab", "migrate", case, "-o", str(tmp_path), cwd=ROOT, timeout=1500)
    assert proc.returncode == 0, proc.stderr
    (case_dir,) = [p.parent for p in tmp_path.glob("*/case.json")]
    info = json.loads((case_dir / "case.json").read_text())
    assert info["verdict"] == "fail"
    assert 0x6030000000140000 in qemu_named_registers(info["qemu_messages"])
    got = predict(case_dir, info, streams=True)
    assert not got["ok"]
    assert "0x6030000000140000" in {f["index"] for f in got["failures"]}


def test_stock_11_1_does_not_tolerate_pmmir_but_compats_list_does():
    """7.3 -> 7.2 (PMMIR_EL1 only on 7.3): compat's proposed tolerances pass it,
    the tolerances QEMU 11.1 ships do not (the streams are real; the lab has
    not recorded 11.1's verdict yet, see the README)."""
    case = DATA / "7.3-to-7.2_qemu11.1_virt-11.0"
    if not (case / "destination.cpregs").exists():
        pytest.skip("no 7.3 -> 7.2 lists checked in")
    src, dst = case / "source.cpregs", case / "destination.cpregs"
    stock = json.loads(_compat("check", str(src), str(dst), "--rules", "qemu-11.1", "--json").stdout)
    ours = json.loads(_compat("check", str(src), str(dst), "--rules", "tolerances", "--json").stdout)
    assert not stock["ok"] and {f["index"] for f in stock["failures"]} == {"0x603000000013c4f6"}
    assert ours["ok"]


# -- nested vCPUs (EL2): stock QEMU 11.1 refuses to migrate them ----------------------------

NESTED_REFUSED = [c for c in CASES if not_predicted_yet(_info(c))]
BLOCKER = "Live migration disabled because KVM nested virt is enabled"
NO_EL2 = "mach-virt: KVM does not support providing Virtualization extensions to the guest CPU"
NESTED_GUARD = ("-machine virtualization=on (a nested vCPU: KVM_ARM_VCPU_HAS_EL2) cannot be used "
                "with machine type virt-10.2 under KVM")


def test_the_nested_cases_are_blocked_by_qemu():
    """What real QEMU 11.1 did with a vCPU with EL2 (-M virt-11.0,virtualization=on
    -accel kvm, both kernels in kvm-arm.mode=nested): its ``migrate`` refused
    at once, naming the blocker, for 6.16 -> 6.17, 6.17 -> 6.16 and the
    same-kernel 6.17 control alike."""
    nested = [c for c in CASES if "nested" in _info(c)]
    assert {c.name for c in nested} >= {"6.16-to-6.17_qemu11.1_virt-11.0_el2_host-qemu11.1",
                                         "6.17-to-6.16_qemu11.1_virt-11.0_el2_host-qemu11.1",
                                         "6.17-to-6.17_qemu11.1_virt-11.0_el2_host-qemu11.1",
                                         "6.17-to-6.17_qemu10.0_virt-10.0_el2_host-qemu11.1"}
    for c in nested:
        info = _info(c)
        if info["qemu"].get("compat_rules") == "on":
            # the lab's QEMU 10.2.2 carrying compat's C: the start-up guard
            # refuses the vCPU with EL2 on virt-10.2 (its promise spans 6.17)
            assert info["verdict"] == "source-error", c.name
            assert any(NESTED_GUARD in m for m in info["qemu_messages"]), info["qemu_messages"]
            continue
        if info["qemu"]["version"] == "10.0":
            # QEMU 10.0 does not start a KVM vCPU with EL2 at all
            assert info["verdict"] == "source-error", c.name
            assert any(NO_EL2 in m for m in info["qemu_messages"]), info["qemu_messages"]
            continue
        assert info["verdict"] == "blocked", c.name
        assert any(BLOCKER in m for m in info["qemu_messages"]), info["qemu_messages"]
        assert info["nested"]["kernel_command_line"].endswith("kvm-arm.mode=nested")
        assert info["nested"]["source_kvm_mode"] == "VHE+NV2 mode initialized successfully"
        assert info["qemu"]["machine"] in ("virt-11.0,virtualization=on",
                                           "virt-10.2,virtualization=on")


@pytest.mark.parametrize("case_dir", NESTED_REFUSED, ids=[c.name for c in NESTED_REFUSED])
def test_compat_check_predicts_the_nested_refusal(case_dir):
    """The prediction a nested case needs: from the index-only nested lists
    of its kernels, ``compat check`` with the rules of the QEMU that ran it
    fails, even for the same kernel on both sides, and quotes QEMU's reason
    (11.1 and the lab's 10.2.2 with compat's rules off: the migration
    blocker; 10.0: no EL2 for a KVM vCPU; 10.2.2 carrying compat's C: the
    start-up guard's refusal, word for word)."""
    info = _info(case_dir)
    paths = index_only_lists(info)
    assert paths is not None, "no qemu11.1-max-el2 lists in tests/data/real"
    machine = machine_of(info)
    proc = _compat("check", *map(str, paths), "--rules", rules_of(info), "--json",
                   *(["--machine", machine.split(",")[0]] if machine else []))
    got = json.loads(proc.stdout)
    assert not got["ok"]
    said = " ".join(info["qemu_messages"])
    quoted = [f["qemu_error"] for f in got["failures"] if f["kind"] == "guard"]
    if info["qemu"].get("compat_rules") == "on":
        assert quoted and all(q in said for q in quoted), (quoted, said)
    else:
        assert (NO_EL2 if info["verdict"] == "source-error" else BLOCKER) in json.dumps(got)
