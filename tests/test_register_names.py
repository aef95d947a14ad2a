"""A registry register with an architectural name (one the built-in name
table knows) must have that name's encoding: the C comments, guard names and
docs label the index with it."""

from __future__ import annotations

import pytest

from compat.testing import registry_text
from hostile_util import run_inproc


def _register(name: str, encoding: str, index: str) -> str:
    return f"""
[registers.{name}]
description = "A register."
encoding = {encoding}
index = "{index}"
reset = "0x0"
changes = [{{ kernel = "6.15", change = "added", commit = "c0000e58c74e" }}]
compat = "hide"
safe-when = {{ mask = "0xffffffffffffffff", value = "0x0" }}
"""


@pytest.mark.parametrize("name,encoding,index,known", [
    ("SCTLR_EL1", "{ group = \"sysreg\", op0 = 3, op1 = 0, crn = 15, crm = 9, op2 = 1 }",
     "0x603000000013c7c9", "0x603000000013c080"),
    ("CNTVCT_EL0", "{ group = \"sysreg\", op0 = 3, op1 = 3, crn = 14, crm = 0, op2 = 1 }",
     "0x603000000013df01", "0x603000000013df1a"),
    ("KVM_REG_ARM_STD_BMAP", "{ group = \"fw-feat-bmap\", number = 1 }",
     "0x6030000000160001", "0x6030000000160000"),
])
def test_a_known_name_with_another_encoding_is_a_located_error(tmp_path, name, encoding,
                                                                index, known):
    text = registry_text(extra=_register(name, encoding, index))
    reg = tmp_path / "registry.toml"
    reg.write_text(text)
    res = run_inproc("validate", "-r", str(reg))
    assert res.rc == 1, res
    line = text.splitlines().index(f"[registers.{name}]") + 1
    assert f"registry.toml:{line}:" in res.err
    assert f"error: '{name}' is the name of {known}" in res.err
    assert f"not of {index}" in res.err


def test_a_known_name_with_its_own_encoding_and_an_unknown_name_are_valid(tmp_path):
    text = registry_text(extra=_register(
        "SCTLR_EL1", "{ group = \"sysreg\", op0 = 3, op1 = 0, crn = 1, crm = 0, op2 = 0 }",
        "0x603000000013c080") + _register(
        "MY_IMPDEF_EL1", "{ group = \"sysreg\", op0 = 3, op1 = 0, crn = 15, crm = 9, op2 = 1 }",
        "0x603000000013c7c9"))
    reg = tmp_path / "registry.toml"
    reg.write_text(text)
    res = run_inproc("validate", "-r", str(reg))
    assert res.rc == 0, res
