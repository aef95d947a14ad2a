"""The registry's kernel facts against real register lists (tests/data/real/,
collected by `compat lab collect` from Debian's arm64 kernels), and names for
every index in them."""

from __future__ import annotations

import functools
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from clirun import run_compat

from compat.core import codec
from compat.analysis.reglist import read_reglist
from compat.core.versions import Version

ROOT = Path(__file__).resolve().parents[1]
REAL = sorted((ROOT / "tests" / "data" / "real").glob("*.reglist"))

#: The CPU features of each real host's CPU model that Linux gates a register
#: on.  A `gated` register must stay in every list of a host whose CPU has
#: its feature, and be absent from the gating kernel on where it lacks it.
#: Read from QEMU's CPU models (the cpregs each build defines): QEMU 7.2's
#: and 10.0's -cpu max and neoverse-n1 have none of these; QEMU 11.1's max has
#: FEAT_TCRX (TCR2_EL1), FEAT_S1PIE (PIRE0_EL1, PIR_EL1), FEAT_SCTLR2
#: (SCTLR2_EL1) and FEAT_FPMR (FPMR), but not FEAT_S1POE.
KNOWN_FEATURES = {"FEAT_TCRX", "FEAT_S1PIE", "FEAT_S1POE", "FEAT_SCTLR2", "FEAT_FPMR"}
HOST_FEATURES = {
    "qemu7.2-max": set(),
    "qemu7.2-max-nopmu": set(),   # vCPU without PMU v3 (--features psci-0.2)
    "qemu7.2-neoverse-n1": set(),
    "qemu10.0-max": set(),
    "qemu11.1-max": {"FEAT_TCRX", "FEAT_S1PIE", "FEAT_SCTLR2", "FEAT_FPMR"},
    # nested vCPUs (--features psci-0.2,pmu-v3,el2, kvm-arm.mode=nested)
    "qemu10.0-max-el2": set(),
    "qemu11.1-max-el2": {"FEAT_TCRX", "FEAT_S1PIE", "FEAT_SCTLR2", "FEAT_FPMR"},
}

#: the vCPU features of each host's lists (their ``# vcpu-features:`` header);
#: every other host's lists were collected with PSCI 0.2 and PMU v3
VCPU_FEATURES = {"qemu7.2-max-nopmu": {"psci-0.2"},
                 "qemu10.0-max-el2": {"psci-0.2", "pmu-v3", "el2"},
                 "qemu11.1-max-el2": {"psci-0.2", "pmu-v3", "el2"}}
DEFAULT_VCPU_FEATURES = {"psci-0.2", "pmu-v3"}
#: registers KVM lists only for a vCPU with a vCPU feature (measured: absent
#: from every qemu7.2-max-nopmu list, present from 7.3 on with PMU v3)
NEEDS_VCPU_FEATURE = {"PMMIR_EL1": "pmu-v3"}


@functools.cache
def _read(path: Path):
    """A real list, read once per process (the tests here only look at it)."""
    return read_reglist(path)


def _hosts():
    by_host = defaultdict(list)
    for path in REAL:
        reg = _read(path)
        by_host[reg.host].append(reg)
    return {h: sorted(v, key=lambda r: r.kernel) for h, v in by_host.items()}


def _facts():
    data = tomllib.loads((ROOT / "registry.toml").read_text())
    for name, reg in data.get("registers", {}).items():
        index = int(reg["index"], 16) if "index" in reg else codec.encode_fields(
            reg["encoding"]["group"], **{k: v for k, v in reg["encoding"].items() if k != "group"})
        for change in reg.get("changes", []):
            if "kernel" in change:
                yield name, index, change


FACTS = list(_facts())


def test_real_lists_exist():
    assert len(REAL) >= 10
    assert FACTS


def test_every_real_host_says_its_cpu_features():
    unknown = sorted(set(_hosts()) - set(HOST_FEATURES))
    assert not unknown, f"hosts without a HOST_FEATURES row: {unknown}"


def test_hosts_differ_where_the_features_say():
    """QEMU 11.1's max keeps TCR2_EL1/PIRE0_EL1/PIR_EL1 from 6.13 on, QEMU 7.2's loses them."""
    tcr2 = 0x603000000013c103
    hosts = _hosts()
    for host, lists in hosts.items():
        late = [r for r in lists if r.kernel >= Version.parse("6.13")]
        assert late
        want = "FEAT_TCRX" in HOST_FEATURES[host]
        assert all((tcr2 in r.indices) == want for r in late), host


@pytest.mark.parametrize("name, index, change", FACTS,
                         ids=[f"{n}-{c['change']}-{c['kernel']}" for n, _, c in FACTS])
def test_kernel_fact_matches_real_lists(name, index, change):
    at = Version.parse(change["kernel"])
    problems = []
    for host, lists in _hosts().items():
        older = [r for r in lists if r.kernel < at]
        for reg in lists:
            present = index in reg.indices
            before = reg.kernel < at
            kind = change["change"]
            feature = change.get("cpu-feature")
            if kind in ("added", "removed") and feature:
                # only on CPUs with the feature: hidden everywhere on the side of
                # the change where it is not exposed, and where it is exposed,
                # exactly on hosts whose CPU has the feature
                exposed = not before if kind == "added" else before
                if not exposed:
                    want = False
                elif feature not in KNOWN_FEATURES:
                    continue  # a feature the table does not know: nothing to check
                else:
                    want = feature in HOST_FEATURES[host]
            elif kind == "added":
                want = not before
            elif kind == "removed":
                want = before
            elif kind in ("gated", "ungated"):
                if before:
                    # exposed on every host just before the gating (the register
                    # itself may be younger than the oldest list)
                    if reg is not older[-1]:
                        continue
                    want = kind == "gated"
                elif change.get("cpu-feature") not in KNOWN_FEATURES:
                    continue  # a feature the table does not know: nothing to check
                elif change["cpu-feature"] in HOST_FEATURES[host]:
                    want = True  # the CPU has it: the register stays exposed
                else:
                    want = kind == "ungated"
            else:
                continue
            needs = NEEDS_VCPU_FEATURE.get(name)
            if needs and needs not in VCPU_FEATURES.get(host, DEFAULT_VCPU_FEATURES):
                want = False
            # a fact scoped to a vCPU feature (vcpu-feature = "el2": nested
            # vCPUs) holds in the lists of vCPUs with it; the others never
            # list the register, before or after
            scope = change.get("vcpu-feature")
            if scope and scope not in (reg.vcpu_features or DEFAULT_VCPU_FEATURES):
                want = False
            if present != want:
                feats = ", ".join(sorted(HOST_FEATURES[host])) or "none of " + ", ".join(
                    sorted(KNOWN_FEATURES))
                problems.append(f"{Path(reg.path).name} (CPU features: {feats}): "
                                f"{'has' if present else 'lacks'} it")
    assert not problems, (f"registry fact '{name}: {change['change']} in {change['kernel']}' "
                          f"({codec.format_index(index)}) disagrees with real lists: "
                          + "; ".join(problems))


VCPU_SCOPED = sorted({(c["vcpu-feature"], c["kernel"]) for _, _, c in FACTS
                      if "vcpu-feature" in c})


@pytest.mark.parametrize("feature, kernel", VCPU_SCOPED, ids=[f"{f}-{k}" for f, k in VCPU_SCOPED])
def test_vcpu_scoped_facts_meet_lists_of_such_vcpus(feature, kernel):
    """A fact scoped to a vCPU feature is checked against real lists of
    vCPUs with it, on both sides of the change (otherwise the fact test
    above would only see lists that never have the register)."""
    at = Version.parse(kernel)
    kernels = [r.kernel for lists in _hosts().values() for r in lists
               if feature in (r.vcpu_features or ())]
    if not kernels:
        pytest.skip(f"no real list of a vCPU with {feature} yet (compat lab collect "
                    f"--features psci-0.2,pmu-v3,{feature})")
    assert any(k < at for k in kernels) and any(k >= at for k in kernels), kernels


def test_every_real_index_has_a_name():
    unnamed = sorted({codec.format_index(i) for path in REAL for i in _read(path).indices
                      if codec.decode(i).name is None})
    assert not unnamed


def test_decode_names_every_real_index():
    indices = sorted({codec.format_index(i) for path in REAL for i in _read(path).indices})
    proc = run_compat("decode", "--json", *indices, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    import json
    rows = json.loads(proc.stdout)
    rows = rows if isinstance(rows, list) else rows.get("registers", rows.get("indices", []))
    assert len(rows) == len(indices)
    assert all(r.get("name") for r in rows), [r for r in rows if not r.get("name")][:5]


def test_audit_of_real_lists_passes_but_for_the_id_fields_no_released_qemu_lowers():
    """Nested (-el2-) and non-nested lists together: audit keeps the vCPU
    classes apart, and every promise holds under compat's tables except where
    an ID field rose (or fell) within it (issue 24, docs/id-registers.md): on
    QEMU 11.1's host, whose lists have measured .idregs, a source on the newer
    kernel sends a field the older one refuses.  The tables' SYSREG_* rows
    need QEMU's proposed host-model properties, which no release has; NV no
    rule fixes: there compat's start-up guard refuses the machine type on the
    host that shows NV = 2 (Linux 6.12), in both directions.  Everything else
    passes."""
    assert any("-el2-" in p.name for p in REAL) and any("-el2-" not in p.name for p in REAL)
    proc = run_compat("audit", "--json", *[str(p) for p in REAL], cwd=ROOT)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    import json
    report = json.loads(proc.stdout)
    classes = {(m["host"], m["vcpu_features"]) for m in report["matrices"]}
    assert ("qemu10.0-max-el2", "el2,pmu-v3,psci-0.2") in classes
    assert ("qemu10.0-max", "pmu-v3,psci-0.2") in classes
    failing = report["failures"]
    assert failing
    # ID_AA64FPFR0_EL1 and ID_AA64ISAR3_EL1 (6.14) would fail only towards 6.12, where
    # the NV guard already refuses the destination's machine type
    assert {g["name"] for f in failing for g in f["failures"]} == {
        "ID_AA64ISAR2_EL1", "ID_AA64MMFR2_EL1", "ID_AA64MMFR3_EL1"}, \
        failing[:3]
    for f in failing:
        kinds = {g["kind"] for g in f["failures"]}
        if kinds == {"guard"}:
            assert {g["name"] for g in f["failures"]} == {"ID_AA64MMFR2_EL1"}, f
            assert "6.12" in (f["source"]["kernel"], f["destination"]["kernel"]), f
        else:
            assert kinds == {"id-value"} and f["direction"] == "backward", f
        assert "qemu11.1-max-linux-" in f["source"]["path"] + f["destination"]["path"], f


def test_expected_counts():
    for host in ("qemu7.2-max", "qemu7.2-neoverse-n1", "qemu10.0-max"):
        counts = {str(_read(p).kernel): len(_read(p).indices)
                  for p in REAL if _read(p).host == host}
        assert counts["6.1"] == 316 and counts["6.12"] == 333 and counts["7.3"] == 332, host
        assert all(counts[k] == 331 for k in ("6.16", "6.17", "6.18", "6.19", "7.0", "7.1", "7.2"))


def test_expected_counts_qemu11_1():
    """QEMU 11.1's max: FPMR from 6.12, TCR2_EL1/PIRE0_EL1/PIR_EL1 kept past 6.13,
    SCTLR2_EL1 from 6.17, one more CCSIDR demux entry on 6.1."""
    counts = {str(_read(p).kernel): len(_read(p).indices)
              for p in REAL if _read(p).host == "qemu11.1-max"}
    assert counts["6.1"] == 317 and counts["6.12"] == 334 and counts["6.16"] == 335, counts
    assert counts["7.3"] == 337, counts
    assert all(counts[k] == 336 for k in ("6.17", "6.18", "6.19", "7.0", "7.1", "7.2")), counts


def test_vcpu_features_table_matches_the_headers():
    """VCPU_FEATURES says what each list's own header says."""
    for path in REAL:
        header = next(line for line in Path(path).read_text().splitlines()
                      if line.startswith("# vcpu-features:"))
        features = set(header.split(":", 1)[1].strip().split(","))
        host = _read(path).host
        assert features == VCPU_FEATURES.get(host, DEFAULT_VCPU_FEATURES), path
