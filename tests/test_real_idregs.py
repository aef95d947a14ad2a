"""The checked-in ``.idregs`` files (tests/data/real/, made by ``compat lab
collect``): each one holds exactly the feature ID registers of the list
beside it, with its provenance, and the measured facts the issue names."""

from __future__ import annotations

from pathlib import Path

import pytest

from compat import collector
from compat.analysis.reglist import read_reglist

from idregs_table import field_changes, read_idregs

REAL = Path(__file__).resolve().parent / "data" / "real"
IDREGS = sorted(REAL.glob("*.idregs"))
MMFR3 = 0x603000000013C03B


def test_there_are_idregs_files():
    assert {p.name.split("-linux-")[0] for p in IDREGS} >= {"qemu11.1-max"}


@pytest.mark.parametrize("path", IDREGS, ids=[p.name for p in IDREGS])
def test_idregs_file_matches_its_list(path):
    head, rows = read_idregs(path)
    reglist = path.with_suffix(".reglist")
    listed = read_reglist(reglist)
    assert set(rows) == {i for i in listed.indices if collector.is_feature_id(i)}
    text = reglist.read_text()
    for key in ("kernel", "cpu", "vcpu-features", "debian-package"):
        assert f"# {key}: {head[key]}\n" in text, key
    has_masks = head["writable-masks"].startswith("yes")
    assert all((m is not None) == has_masks for _, m in rows.values())
    # writable masks since Linux 6.8 (KVM_ARM_GET_REG_WRITABLE_MASKS): 6.1 has none, 6.12 on all
    assert has_masks == (not head["kernel"].startswith("6.1."))


def test_sctlrx_appears_in_6_17_on_the_qemu_11_1_host_and_becomes_writable():
    """The issue's failing migration: 6.17 advertises FEAT_SCTLR2 (SCTLRX 1),
    6.16 does not and cannot be told to (its mask has no SCTLRX bit)."""
    (row,) = [r for r in field_changes("qemu11.1-max")
              if r["register"] == "ID_AA64MMFR3_EL1" and r["field"] == "SCTLRX"]
    assert (row["old"], row["new"], row["w_old"], row["w_new"]) == (0, 1, "no", "yes")
    assert "6.16.12" in row["from"] and "6.17.13" in row["to"]
    _, v616 = read_idregs(REAL / "qemu11.1-max-linux-6.16.12+deb13.idregs")
    _, v617 = read_idregs(REAL / "qemu11.1-max-linux-6.17.13+deb13.idregs")
    assert (v616[MMFR3][0], v617[MMFR3][0]) == (0x101, 0x111)
