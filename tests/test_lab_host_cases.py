"""``compat lab migrate`` on another host QEMU: a case's name and case.json
record the lab's host (``_host-qemu11.1``), the first oracle's cases (QEMU
7.2 host) keep their names, and ``--matrix consecutive`` is the 16 cases of
consecutive Debian kernels 6.12 .. 7.3."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from compat.lab import cases, migrate
from compat.lab.kernels import release_of

from test_lab_shard import FakeRunner

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "real-migrations"


def test_host_label():
    assert cases.host_label("7.2") == ""
    assert cases.host_label("11.1") == "qemu11.1"
    assert cases.host_label("10.0") == "qemu10.0"


def test_a_case_name_records_a_host_other_than_qemu_7_2():
    c = cases.parse_case("6.17.13+deb13:6.16.12+deb13")
    assert c.host == "" and c.name == "6.17-to-6.16_qemu11.1_virt-11.0"
    h = dataclasses.replace(c, host="qemu11.1")
    assert h.name == "6.17-to-6.16_qemu11.1_virt-11.0_host-qemu11.1"
    p = dataclasses.replace(cases.parse_case("6.16.12+deb13:6.12.117+deb13:-:-:host,kvm-psci-version=1.1"),
                            host="qemu11.1")
    assert p.name == "6.16-to-6.12_qemu11.1_virt-11.0_src-kvm_psci_version=1.1_host-qemu11.1"


def test_the_first_oracles_names_are_unchanged():
    """Every checked-in case without a host in its name ran on QEMU 7.2, and
    --matrix oracle on that host names its cases exactly as they are."""
    legacy = sorted(p.name for p in DATA.iterdir() if p.is_dir() and "_host-" not in p.name
                    and "-compat-" not in p.name)   # a built QEMU's cases: not Debian's
    assert legacy == sorted(c.name for c in cases.matrix("oracle"))
    for name in legacy:
        info = json.loads((DATA / name / "case.json").read_text())
        assert info.get("lab", {"host_qemu": "7.2"})["host_qemu"].startswith("7.2")


def test_every_case_with_a_host_ran_on_that_host():
    for d in sorted(p for p in DATA.iterdir() if p.is_dir() and "_host-" in p.name):
        info = json.loads((d / "case.json").read_text())
        host = d.name.rsplit("_host-", 1)[1]
        assert info["case"] == d.name
        assert host == "qemu" + ".".join(info["lab"]["host_qemu"].split(".")[:2]), d.name


def test_consecutive_matrix():
    m = cases.matrix("consecutive")
    assert len(m) == 16 == len({c.name for c in m})
    assert (m[0].source, m[0].destination) == ("6.17.13+deb13", "6.16.12+deb13")
    assert all((c.qemu, c.machine, c.source_cpu, c.destination_cpu, c.host)
               == ("11.1", "virt-11.0", "host", "host", "") for c in m)
    order = [release_of(k) for k in cases.CONSECUTIVE]
    assert order == sorted(order) and order[0] == (6, 12) and order[-1] == (7, 3)
    pairs = {(c.source, c.destination) for c in m}
    for a, b in zip(cases.CONSECUTIVE, cases.CONSECUTIVE[1:]):
        assert (a, b) in pairs and (b, a) in pairs


class HostRunner(FakeRunner):
    host_label = "qemu11.1"


@pytest.mark.parametrize("runner_class, suffix", [(HostRunner, "_host-qemu11.1"), (FakeRunner, "")])
def test_migrate_names_the_cases_after_the_runners_host(tmp_path, runner_class, suffix):
    runner = runner_class(tmp_path)
    results = migrate.migrate(cases.matrix("consecutive")[:2], tmp_path, runner=runner, jobs=1,
                              report=lambda *a: None)
    names = sorted(o.case.name for o in results)
    assert names == sorted(c.name + suffix for c in cases.matrix("consecutive")[:2])
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == names
