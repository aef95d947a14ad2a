"""The ``registry-json`` output: the resolved model as deterministic JSON."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from compat.load.pipeline import load_text, render, select_outputs
from compat.plugin.host import BUILTIN_PLUGINS, PluginHost
from compat.plugins import registry_json
from conftest import BUNDLED, ROOT

FILE = "registry.json"


def host() -> PluginHost:
    return PluginHost.create()


def build_json(text: str) -> str:
    loaded = load_text(text, host=host())
    return render(loaded, select_outputs(loaded, ["registry-json"]))[FILE]


@pytest.fixture(scope="module")
def text() -> str:
    return build_json(BUNDLED.read_text())


@pytest.fixture(scope="module")
def data(text) -> dict:
    return json.loads(text)


def test_round_trip_and_format(text, data):
    assert text.endswith("}\n")
    assert registry_json.dumps(data) == text
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    # one register a line, sorted by name
    register_lines = [ln for ln in lines if ln.startswith('    {"accepts"')]
    assert len(register_lines) == len(data["registers"])
    assert data["generated-by"] == "compat"
    assert data["source"] == "registry.toml"
    assert data["schema-version"] == 3


def test_registers_match_registry(data):
    registry = load_text(BUNDLED.read_text(), host=host()).registry
    regs = {r["name"]: r for r in data["registers"]}
    assert [r["name"] for r in data["registers"]] == sorted(registry.registers)
    bmap2 = regs["KVM_REG_ARM_VENDOR_HYP_BMAP_2"]
    assert bmap2["index"] == "0x6030000000160003"
    assert bmap2["decoded"]["group"] == "fw-feat-bmap"
    assert bmap2["decoded"]["fields"] == {"number": 3}
    assert bmap2["decoded"]["macro"] == "KVM_REG_ARM_FW_FEAT_BMAP_REG(3)"
    assert bmap2["decoded"]["size"] == 64
    assert bmap2["compat"] == "hide"
    assert bmap2["safe-when"] == {"mask": "0xffffffffffffffff", "value": "0x0"}
    assert bmap2["used-by"] == ["impl-cpu"]
    assert bmap2["reset"] == "0x0"
    change = bmap2["changes"][0]
    assert (change["kernel"], change["qemu"], change["commit"], change["change"]) == \
        ("6.15", None, "c0000e58c74e", "added")
    line = registry.registers["KVM_REG_ARM_VENDOR_HYP_BMAP_2"].location.line
    assert bmap2["source"] == f"registry.toml:{line}"
    assert BUNDLED.read_text().splitlines()[line - 1].startswith(
        "[registers.KVM_REG_ARM_VENDOR_HYP_BMAP_2]")
    tcr2 = regs["TCR2_EL1"]
    assert tcr2["safe-when"] is None and tcr2["safe-because"].startswith("A guest without")
    assert tcr2["changes"][0]["cpu-feature"] == "FEAT_TCRX"
    dbg = regs["DBGDTRTX"]
    assert dbg["changes"][0]["qemu"] == "11.1" and dbg["changes"][0]["kernel"] is None
    assert regs["KVM_REG_ARM_PSCI_VERSION"]["compat"] is None
    assert regs["KVM_REG_ARM_PSCI_VERSION"]["reset"] is None


def test_machine_versions_and_derived_lists(data):
    machines = {m["name"]: m for m in data["machine-versions"]}
    assert [m["name"] for m in data["machine-versions"]] == \
        ["virt-11.1", "virt-11.0", "virt-10.2", "virt-10.1", "virt-10.0"]
    v101 = machines["virt-10.1"]
    assert v101["min-kernel"] == "6.12"
    derivation = load_text(BUNDLED.read_text()).derivation
    want = derivation.for_machine("virt-10.1")
    assert [h["name"] for h in v101["hidden"]] == [r.register.name for r in want.hidden]
    assert v101["hidden-indices"] == [f"0x{i:016x}" for i in want.hidden_indices]
    assert {"SCTLR2_EL1", "PMMIR_EL1", "KVM_REG_ARM_VENDOR_HYP_BMAP_2"} <= \
        {h["name"] for h in v101["hidden"]}
    assert v101["hidden-indices"] == sorted(v101["hidden-indices"])
    tolerated = [t["name"] for t in v101["tolerated"]]
    assert {"TCR2_EL1", "PIRE0_EL1", "PIR_EL1"} <= set(tolerated)
    assert v101["tolerated-indices"] == sorted(v101["tolerated-indices"])
    assert v101["refusals"] == [{
        "feature": "impl-cpu", "register": "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
        "index": "0x6030000000160003", "value": "0x3", "oldest-allowing": "virt-11.0"}]
    v111 = machines["virt-11.1"]
    assert v111["min-kernel"] == "6.18"
    want = derivation.for_machine("virt-11.1")
    assert [h["name"] for h in v111["hidden"]] == [r.register.name for r in want.hidden]
    assert "PMMIR_EL1" in [h["name"] for h in v111["hidden"]]       # Linux 7.3
    assert "SCTLR2_EL1" not in [h["name"] for h in v111["hidden"]]  # 6.17 < min-kernel 6.18
    assert v111["tolerated"] == [] and v111["refusals"] == []


def test_machine_rules_refer_to_registers(data):
    """A machine version's rules point at the register (name and index) and
    at its changes by position: the reasons are the register's own change
    objects, never copies, and nothing else of the register is repeated."""
    loaded = load_text(BUNDLED.read_text(), host=host())
    regs = {r["name"]: r for r in data["registers"]}
    seen = 0
    for machine in data["machine-versions"]:
        rules = loaded.derivation.for_machine(machine["name"])
        for entries, derived in ((machine["hidden"], rules.hidden),
                                 (machine["tolerated"], rules.tolerated)):
            assert [e["name"] for e in entries] == [r.register.name for r in derived]
            for entry, rule in zip(entries, derived):
                assert set(entry) == {"name", "index", "kind", "override", "reasons"}
                reg = regs[entry["name"]]
                assert entry["index"] == reg["index"]
                assert entry["kind"] == rule.kind and entry["override"] == rule.override
                assert [reg["changes"][i]["describe"] for i in entry["reasons"]] == \
                    [c.describe() for c in rule.reasons]
                seen += 1
    assert seen > 10
    v101 = {m["name"]: m for m in data["machine-versions"]}["virt-10.1"]
    (bmap2,) = [h for h in v101["hidden"] if h["name"] == "KVM_REG_ARM_VENDOR_HYP_BMAP_2"]
    assert regs["KVM_REG_ARM_VENDOR_HYP_BMAP_2"]["changes"][bmap2["reasons"][0]]["commit"] \
        == "c0000e58c74e"


def test_value_rules(data):
    """Schema 3: a register's value limits and CPU property, and each machine
    version's pins with the limit and the kernel that forced them, by
    position in the register's ``accepts`` (as reasons point at changes)."""
    loaded = load_text(BUNDLED.read_text(), host=host())
    psci = {r["name"]: r for r in data["registers"]}["KVM_REG_ARM_PSCI_VERSION"]
    reg = loaded.registry.registers["KVM_REG_ARM_PSCI_VERSION"]
    assert [(a["kernel"], a["max"], a["default"], a["commit"]) for a in psci["accepts"]] == \
        [("5.18", "0x10001", "0x10001", "512865d83fd9"),
         ("6.13", "0x10003", "0x10003", "8be82d536a9f")]
    assert psci["accepts"][0]["mask"] is None
    assert psci["accepts"][1]["where"] == f"registry.toml:{reg.accepts[1].location.line}"
    assert psci["cpu-property"] == {
        "name": "kvm-psci-version", "format": "major.minor", "qemu": "11.0", "accel": "kvm",
        "commit": None, "source": reg.cpu_property.source}
    assert psci["rules"] == ["pin kvm-psci-version=1.1 on virt-10.0..virt-10.2"]
    pins = {m["name"]: m["pins"] for m in data["machine-versions"]}
    assert pins["virt-11.1"] == pins["virt-11.0"] == []
    for name in ("virt-10.2", "virt-10.1", "virt-10.0"):
        (pin,) = pins[name]
        assert pin == {"name": "KVM_REG_ARM_PSCI_VERSION", "index": "0x6030000000140000",
                       "property": "kvm-psci-version", "value": "1.1",
                       "register-value": "0x10001", "limit": 0, "forced-by": 1,
                       "forced-by-kernel": "6.13"}
        assert psci["accepts"][pin["forced-by"]]["kernel"] == pin["forced-by-kernel"]
    # the same pins the compat-props C sets (compat.qemu.value_rules decides both)
    from compat.qemu.value_rules import pins_for
    for machine in loaded.registry.machine_versions():
        assert [(p["name"], p["register-value"]) for p in pins[machine.name]] == \
            [(p.register.name, hex(p.value)) for p in pins_for(loaded.registry, machine)]
    regs = {r["name"]: r for r in data["registers"]}
    assert regs["TCR2_EL1"]["accepts"] == [] and regs["TCR2_EL1"]["cpu-property"] is None
    assert regs["KVM_REG_ARM_VENDOR_HYP_BMAP_2"]["rules"] == [
        "hide on virt-10.0..virt-10.2", "refuse feature impl-cpu on virt-10.0..virt-10.2"]
    assert regs["KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1"]["rules"] == []


def test_features(data):
    (feature,) = data["features"]
    assert feature["name"] == "impl-cpu"
    assert feature["writes"][0]["register"] == "KVM_REG_ARM_VENDOR_HYP_BMAP_2"
    assert feature["writes"][0]["value"] == "0x3"
    assert feature["writes"][0]["index"] == "0x6030000000160003"
    assert feature["refused-by"] == ["virt-10.2", "virt-10.1", "virt-10.0"]


def test_hostile_text_survives_round_trip():
    bundled = BUNDLED.read_text()
    old = 'description = "Extended Translation Control Register (FEAT_TCRX)."'
    hostile = "*/ \"q\" \\ <script> \u2028 |a|"
    toml_value = json.dumps(hostile)        # a valid TOML basic string too
    out = json.loads(build_json(bundled.replace(old, f"description = {toml_value}")))
    regs = {r["name"]: r for r in out["registers"]}
    assert regs["TCR2_EL1"]["description"] == hostile


def test_render_twice_identical(text):
    assert build_json(BUNDLED.read_text()) == text


_SCRIPT = """
import sys
from compat.load.pipeline import load_text, render, select_outputs
from compat.plugin.host import PluginHost
loaded = load_text(open(sys.argv[1]).read(), host=PluginHost.create())
sys.stdout.write(render(loaded, select_outputs(loaded, ["registry-json"]))["registry.json"])
"""


@pytest.mark.process("a hash seed is chosen when an interpreter starts")
def test_identical_across_hash_seeds():
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(BUNDLED)], env=env,
                              capture_output=True, check=True, cwd=ROOT)
        outs.append(proc.stdout)
    assert outs[0] == outs[1]
    assert json.loads(outs[0])["source"] == "registry.toml"


def _all_builtins_present() -> bool:
    return all(importlib.util.find_spec(module) is not None for _, module in BUILTIN_PLUGINS)


@pytest.mark.skipif(not _all_builtins_present(), reason="not every built-in plugin exists yet")
@pytest.mark.process("a hash seed is chosen when an interpreter starts")
def test_cli_build_identical_across_hash_seeds(tmp_path, compat_process):
    results = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        res = compat_process("build", "-r", str(BUNDLED), "--only", "registry-json",
                             "-o", str(out), env={"PYTHONHASHSEED": seed})
        assert res.rc == 0, res.err
        results.append((out / FILE).read_bytes())
    assert results[0] == results[1]
    assert json.loads(results[0])["generated-by"] == "compat"
    assert str(tmp_path) not in results[0].decode()
