"""Issue 22 item 5: one name per job, one implementation per question."""

from __future__ import annotations

import os

from compat.core.codec import sysreg
from conftest import ROOT
from hostile_util import run_inproc


def test_chain_replay_and_migration_simulation_have_distinct_names():
    from compat.qemu import chain
    assert callable(chain.replay_chain) and not hasattr(chain, "simulate")


def test_schema_and_registry_fragment_checks_have_distinct_names():
    from compat.load import fragments, schema_ext
    assert callable(schema_ext.check_schema_fragment)
    assert not hasattr(schema_ext, "check_fragment")
    assert callable(fragments.check_fragment)


def test_one_same_file_question():
    assert "_same_file" not in (ROOT / "compat" / "commands" / "common.py").read_text()


def test_kernel_option_may_name_a_hard_link_of_a_list(tmp_path):
    reglist = tmp_path / "a.reglist"
    reglist.write_text(f"{sysreg(3, 0, 1, 0, 0):#018x}\n")
    other = tmp_path / "b.reglist"
    other.write_text(reglist.read_text())
    os.link(reglist, tmp_path / "hard.reglist")
    res = run_inproc("diff", str(reglist), str(other), "--kernel",
                     f"{tmp_path / 'hard.reglist'}=6.12", "--kernel", f"{other}=6.13")
    assert "not one of the register lists" not in res.err, res
    assert res.rc == 0, res


def test_every_module_is_under_600_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for base in ("compat", "plugins") for p in (ROOT / base).rglob("*.py")}
    big = {p: n for p, n in sizes.items() if n >= 600}
    assert not big, big
