"""One story per register: ``compat explain`` (text and --json), the docs
(rST, parsed), the compat-props C and the guards C (compiled and run) and
``registry.json`` say the same rule for every register on every machine type:
hidden, tolerated, pinned to a value, or written by a refused feature.

They all read compat/qemu/resolved.py; these tests read what each output
actually says, so a renderer that formats a rule on its own shows up here.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import docutils.core
import pytest
from docutils import nodes

from cbuild import compile_harness, run, run_many
from compat.analysis.explain import explain_register
from compat.load import pipeline as build
from compat.qemu.resolved import machine_ranges
from conftest import BUNDLED, run_compat

PSCI = "KVM_REG_ARM_PSCI_VERSION"
PINNED = ["virt-10.2", "virt-10.1", "virt-10.0"]     # min-kernel < 6.13


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, build.Loaded]:
    out = tmp_path_factory.mktemp("story")
    result = run_compat("build", "-r", str(BUNDLED), "-o", str(out / "gen"))
    assert result.rc == 0, result.err
    return out / "gen", build.load(BUNDLED, "registry.toml")


@pytest.fixture(scope="module")
def harnesses(built, tmp_path_factory) -> dict[str, Path]:
    gen, _ = built
    tmp = tmp_path_factory.mktemp("harness")
    return {name: compile_harness(name, gen, tmp) for name in ("guards", "compat_props")}


@pytest.fixture(scope="module")
def doctree(built) -> nodes.document:
    gen, _ = built
    return docutils.core.publish_doctree(
        (gen / "kvm-register-compat.rst").read_text(),
        settings_overrides={"halt_level": 2, "report_level": 2,
                            "warning_stream": io.StringIO()})


def _section(doctree: nodes.document, title: str) -> nodes.section:
    (found,) = [s for s in doctree.findall(nodes.section) if s[0].astext() == title]
    return found


def _rules_cells(doctree: nodes.document) -> dict[str, list[str]]:
    """Register name -> the items of its Rules cell in the register table."""
    table = next(doctree.findall(nodes.table))
    header = [e.astext() for e in next(table.findall(nodes.thead)).findall(nodes.entry)]
    column = header.index("Rules")
    out = {}
    for row in next(table.findall(nodes.tbody)).children:
        entries = list(row.findall(nodes.entry))
        cell = entries[column]
        items = [i.astext() for i in cell.findall(nodes.list_item)] or [cell.astext()]
        out[entries[0].astext()] = [] if items == ["none"] else items
    return out


def _pinned_in_docs(doctree: nodes.document, machine: str) -> list[str]:
    """The ``property=value`` of each pin the machine type's section lists."""
    text = _section(doctree, f"Machine type {machine}").astext()
    return [line.split()[0].lstrip("-").strip() for line in text.splitlines()
            if " sets " in line and "=" in line.split()[0]]


def test_psci_version_pin_reads_the_same_everywhere(built, harnesses, doctree):
    gen, loaded = built
    machines = [m.name for m in loaded.registry.machine_versions()]
    want = {m: ("kvm-psci-version=1.1" if m in PINNED else None) for m in machines}

    result = run_compat("explain", PSCI, "--json")
    assert result.rc == 0, result.err
    explained = json.loads(result.out)
    # the facts behind the pin, in the shape registry.json has them
    assert [a["kernel"] for a in explained["accepts"]] == ["5.18", "6.13"]
    assert explained["cpu-property"]["name"] == "kvm-psci-version"
    from_explain = {m["machine"]: None if m["pin"] is None
                    else f"{m['pin']['property']}={m['pin']['value']}"
                    for m in explained["machines"]}
    text = run_compat("explain", PSCI).out
    from_text = {m: "kvm-psci-version=1.1" if f"{m} (min-kernel" in text and
                 any(line.strip().startswith(m) and "pinned: kvm-psci-version=1.1" in line
                     for line in text.splitlines()) else None for m in machines}

    from_docs = {}
    for m in machines:
        pins = [p for p in _pinned_in_docs(doctree, m) if p.startswith("kvm-psci-version=")]
        from_docs[m] = pins[0] if pins else None

    from_guards, from_props = {}, {}
    for i, m in enumerate(machines):
        line = run(harnesses["guards"], "pin", m, "0x6030000000140000").stdout.split()
        from_guards[m] = line[2] if line[0] == "pinned" else None
        assert line[0] != "pinned" or line[1] == "0x10001"
        version = m.removeprefix("virt-")
        newer = [n.removeprefix("virt-") for n in machines[:i]]
        proc = run(harnesses["compat_props"], "per-version", version, *newer)
        assert proc.returncode == 0, proc.stderr
        props = dict(ln.split(None, 1) for ln in proc.stdout.splitlines() if " " in ln)
        from_props[m] = (f"kvm-psci-version={props['kvm-psci-version']}"
                         if "kvm-psci-version" in props else None)

    registry_json = json.loads((gen / "registry.json").read_text())
    from_json = {m["name"]: next((f"{p['property']}={p['value']}" for p in m["pins"]
                                  if p["name"] == PSCI), None)
                 for m in registry_json["machine-versions"]}

    assert from_explain == want
    assert from_text == want
    assert from_docs == want
    assert from_guards == want
    assert from_props == want
    assert from_json == want
    # the one-line rule: explain --json, registry.json and the docs' table
    line = ["pin kvm-psci-version=1.1 on virt-10.0..virt-10.2"]
    assert explained["rules"] == line
    assert {r["name"]: r for r in registry_json["registers"]}[PSCI]["rules"] == line
    assert _rules_cells(doctree)[PSCI] == line
    assert "Rules: pin kvm-psci-version=1.1 on virt-10.0..virt-10.2" in \
        _section(doctree, f"Register {PSCI}").astext()
    # the pin names the kernel that forced it, everywhere it is explained
    assert "Linux 6.13 (8be82d536a9f)" in text
    assert "Linux 6.13 (8be82d536a9f) raised it" in _section(
        doctree, "Machine type virt-10.0").astext()
    for c_file in ("arm-compat-guards.c.inc", "arm-virt-kernel-compat.c.inc"):
        words = " ".join((gen / c_file).read_text().replace("*", " ").split())
        assert "Linux 6.13 (8be82d536a9f)" in words, c_file


def test_every_register_has_one_rule_per_machine_type(built, harnesses, doctree):
    """For every register and machine type: explain's decision is the
    guards' rule and pin, and its one-line rules are the docs' table cell and
    registry.json's ``rules``."""
    gen, loaded = built
    registry_json = {r["name"]: r for r in json.loads(
        (gen / "registry.json").read_text())["registers"]}
    cells = _rules_cells(doctree)
    guard_rule = {"hide": "hidden", "tolerate-missing": "safe-missing", None: "migrated"}
    checked = 0
    explained = {name: explain_register(loaded.registry, loaded.derivation, reg).to_json()
                 for name, reg in sorted(loaded.registry.registers.items())}
    calls = [[what, m["machine"], e["index"]] for e in explained.values()
             for m in e["machines"] for what in ("rule", "pin")]
    answers = iter(run_many(harnesses["guards"], calls))  # one process, in the calls' order
    for name, e in explained.items():
        assert cells[name] == e["rules"] == registry_json[name]["rules"], name
        for m in e["machines"]:
            rule = next(answers)
            assert rule.stdout.split()[0] == guard_rule[m["rule"]], (name, m["machine"])
            pin = next(answers).stdout.split()
            assert (pin[2] if pin[0] == "pinned" else None) == (
                None if m["pin"] is None else f"{m['pin']['property']}={m['pin']['value']}")
            checked += 1
    assert checked == len(loaded.registry.registers) * len(loaded.registry.machine_versions())


def test_the_docs_still_parse_without_warnings(doctree):
    assert [m.astext() for m in doctree.findall(nodes.system_message)] == []


def test_machine_ranges_group_adjacent_types_of_one_family(built):
    _, loaded = built
    order = loaded.registry.machine_versions()
    by = {m.name: m for m in order}
    assert machine_ranges([by["virt-10.2"], by["virt-10.1"], by["virt-10.0"]], order) == \
        "virt-10.0..virt-10.2"
    assert machine_ranges([by["virt-11.1"], by["virt-10.0"]], order) == "virt-11.1, virt-10.0"
    assert machine_ranges([by["virt-11.0"]], order) == "virt-11.0"


def test_a_pin_forced_by_a_bit_mask_limit_renders_everywhere():
    """A newer kernel whose limit is a bit mask (no ``max``) but whose new
    vCPUs get a larger value still forces the pin; every output names that
    kernel and what it changed (compat-props used to crash formatting the
    missing ``max``)."""
    old = '{ kernel = "6.13", max = "0x10003", default = "0x10003"'
    text = BUNDLED.read_text()
    assert old in text
    loaded = build.load_text(text.replace(old, '{ kernel = "6.13", mask = "0x3ffff", '
                                               'default = "0x20000"'))
    files = build.render(loaded, build.select_outputs(loaded))
    reg = loaded.registry.registers[PSCI]
    explained = explain_register(loaded.registry, loaded.derivation, reg).to_text()
    assert "Linux 6.13 (8be82d536a9f) gives new vCPUs 0x20000" in explained
    words = " ".join(files["arm-virt-kernel-compat.c.inc"].replace("*", " ").split())
    assert "Linux 6.13 (8be82d536a9f) gives new vCPUs 0x20000, Linux 6.12 at most 0x10001" \
        in words
    assert "pin kvm-psci-version=1.1 on virt-10.0..virt-10.2" in \
        files["kvm-register-compat.md"].replace("\\", "")
    (pin,) = [p for m in json.loads(files["registry.json"])["machine-versions"]
              if m["name"] == "virt-10.0" for p in m["pins"]]
    assert (pin["forced-by-kernel"], pin["register-value"]) == ("6.13", "0x10001")
