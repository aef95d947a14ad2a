"""``compat new-register``: scaffolds that parse, name their placeholders,
and append safely."""

from __future__ import annotations

import tomllib

import pytest

from compat.load import pipeline as build
from compat.core import codec
from compat.analysis.scaffold import register_name as default_name, scaffold
from compat.core.model import fixing_rule as suggested_compat
from compat.testing import MINIMAL_REGISTRY
from conftest import BUNDLED

POR = "ARM64_SYS_REG(3,0,10,2,4)"


def fill(entry: str) -> str:
    return entry.replace('commit = "FIXME"', 'commit = "abcdef1"').replace(
        'cpu-feature = "FIXME"', 'cpu-feature = "FEAT_S1POE"')


@pytest.mark.parametrize("change, compat", [("added", "hide"), ("ungated", "hide"),
                                            ("removed", "tolerate-missing"),
                                            ("gated", "tolerate-missing")])
def test_scaffold_validates_once_placeholders_are_filled(change, compat):
    decoded = codec.decode(codec.parse_expr(POR))
    entry = scaffold(decoded, "POR_EL1", "6.14", change)
    data = tomllib.loads(entry)["registers"]["POR_EL1"]
    assert data["compat"] == compat == suggested_compat(change)
    assert data["encoding"] == {"group": "sysreg", "op0": 3, "op1": 0, "crn": 10, "crm": 2, "op2": 4}
    assert data["index"] == "0x603000000013c514"
    assert data["changes"] == [{**data["changes"][0], "kernel": "6.14", "change": change,
                                "commit": "FIXME"}]
    assert ("safe-when" in data) == (compat == "hide")
    assert ("safe-because" in data) == (compat != "hide")
    # with the placeholders left in, validation fails; filled in, it passes
    with pytest.raises(Exception):
        build.load_text(MINIMAL_REGISTRY + "\n" + entry)
    loaded = build.load_text(MINIMAL_REGISTRY + "\n" + fill(entry))
    assert loaded.registry.registers["POR_EL1"].index == 0x603000000013c514


def test_default_names():
    assert default_name(codec.decode(codec.parse_expr("ARM64_SYS_REG(3,0,2,0,3)"))) == "TCR2_EL1"
    assert default_name(codec.decode(codec.parse_expr("ARM64_SYS_REG(3,7,15,15,7)"))) \
        == "S3_7_C15_C15_7"
    assert default_name(codec.decode(codec.parse_expr("KVM_REG_ARM_FW_FEAT_BMAP_REG(3)"))) \
        == "KVM_REG_ARM_VENDOR_HYP_BMAP_2"


def test_print(compat_cli, tmp_path):
    res = compat_cli("new-register", POR, "--kernel", "6.14.0-5.el10.aarch64", cwd=tmp_path)
    assert res.rc == 0, res.err
    assert res.out.splitlines()[2] == "[registers.POR_EL1]"
    data = tomllib.loads(res.out)["registers"]["POR_EL1"]
    assert data["changes"][0]["kernel"] == "6.14"
    assert "FIXME" in res.err


def test_write_appends_and_keeps_the_file(compat_cli, tmp_path, bundled_text):
    reg = tmp_path / "registry.toml"
    reg.write_text(bundled_text)
    res = compat_cli("new-register", POR, "--kernel", "6.14", "--write", cwd=tmp_path)
    assert res.rc == 0, res.err
    text = reg.read_text()
    assert text.startswith(bundled_text)            # comments and layout untouched
    header = text.splitlines().index("[registers.POR_EL1]") + 1
    assert f"registry.toml:{header}: added register 'POR_EL1'" in res.err
    # validate names the placeholder and says what to do
    res = compat_cli("validate", cwd=tmp_path)
    assert res.rc == 1
    assert "'commit' \"FIXME\" is malformed" in res.err
    assert "placeholder of a suggested entry" in res.err
    reg.write_text(fill(text))
    res = compat_cli("validate", cwd=tmp_path)
    assert res.rc == 0, res.err
    bundled = build.load_text(BUNDLED.read_text()).registry
    assert f"{len(bundled.registers) + 1} registers" in res.out


def test_write_refuses_existing_name_and_index(compat_cli, tmp_path, bundled_text):
    reg = tmp_path / "reg.toml"
    reg.write_text(bundled_text)
    res = compat_cli("new-register", "TCR2_EL1", "--kernel", "6.13", "--write", "-r", str(reg),
                     cwd=tmp_path)
    assert res.rc == 1
    line = bundled_text.splitlines().index("[registers.TCR2_EL1]") + 1
    assert f"{reg}:{line}:1: error: register 'TCR2_EL1' is already in the registry" in res.err
    res = compat_cli("new-register", "0x603000000013c103", "--name", "OTHER", "--kernel", "6.13",
                     "--write", "-r", str(reg), cwd=tmp_path)
    assert res.rc == 1
    assert "already in the registry as 'TCR2_EL1'" in res.err
    assert reg.read_text() == bundled_text


def test_write_refuses_when_append_breaks_file(compat_cli, tmp_path):
    reg = tmp_path / "registry.toml"
    # a registry whose 'registers' is an inline table cannot take a [registers.X] header
    reg.write_text("schema-version = 1\nregisters = {}\n"
                   "[machines.virt]\ncpu-driver = \"TYPE_ARM_CPU\"\n"
                   "versions = [{ version = \"10.1\", min-kernel = \"6.12\" }]\n")
    before = reg.read_text()
    res = compat_cli("new-register", POR, "--kernel", "6.14", "--write", cwd=tmp_path)
    assert res.rc == 1
    assert "would break the file" in res.err
    assert reg.read_text() == before


def test_write_needs_a_registry(compat_cli, tmp_path):
    res = compat_cli("new-register", POR, "--kernel", "6.14", "--write", cwd=tmp_path)
    assert res.rc == 2  # a <command line> error: a usage error
    assert "--write needs a registry file" in res.err


@pytest.mark.parametrize("args, message", [
    (["0x6030000000100040", "--kernel", "6.14"], "not migrated in QEMU's cpreg list"),
    (["ARM64_SYS_REG(9,0,0,0,0)", "--kernel", "6.14"], "cannot read"),
    ([POR, "--kernel", "six"], "--kernel"),
    ([POR, "--kernel", "6.14", "--name", "1bad"], "is not a C identifier"),
])
def test_errors(compat_cli, tmp_path, args, message):
    res = compat_cli("new-register", *args, cwd=tmp_path)
    assert res.rc == 2  # a <command line> error: a usage error
    assert "<command line>: error:" in res.err
    assert message in res.err
    assert "Traceback" not in res.err


def test_usage_error(compat_cli, tmp_path):
    res = compat_cli("new-register", POR, cwd=tmp_path)
    assert res.rc == 2
    assert "--kernel" in res.err


@pytest.mark.process("six processes racing for the registry's lock")
def test_parallel_writes_keep_every_entry(tmp_path, bundled_text):
    """Six runs appending to one registry at once: the read-modify-write is
    locked, so no run overwrites another's entry (issue 13, item 18)."""
    import os
    import subprocess
    import sys
    import tomllib

    reg = tmp_path / "registry.toml"
    reg.write_text(bundled_text)
    env = dict(os.environ, PYTHONHASHSEED="0")
    procs = [subprocess.Popen([sys.executable, "-m", "compat", "new-register",
                               f"ARM64_SYS_REG(3,7,15,0,{n})", "--kernel", "6.14", "--write",
                               "-r", str(reg)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(6)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert all(rc == 0 for rc, _ in results), results
    registers = tomllib.loads(reg.read_text())["registers"]
    assert {f"S3_7_C15_C0_{n}" for n in range(6)} <= set(registers)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_architectural_name_with_another_encoding_is_refused(compat_cli, tmp_path):
    reg = tmp_path / "registry.toml"
    reg.write_text(MINIMAL_REGISTRY)
    res = compat_cli("new-register", "--name", "SCTLR_EL1", "ARM64_SYS_REG(3,0,15,9,1)",
                     "--kernel", "6.12", "--write", cwd=tmp_path)
    assert res.rc == 2, res.err
    assert "<command line>: error: --name SCTLR_EL1: 'SCTLR_EL1' is the name of " \
        "0x603000000013c080 (ARM64_SYS_REG(3, 0, 1, 0, 0)), not of 0x603000000013c7c9" in res.err
    assert reg.read_text() == MINIMAL_REGISTRY
    # its own encoding is fine, and so is a name of its own for the other one
    for args in (["--name", "SCTLR_EL1", "ARM64_SYS_REG(3,0,1,0,0)"],
                 ["--name", "MY_IMPDEF_EL1", "ARM64_SYS_REG(3,0,15,9,1)"]):
        res = compat_cli("new-register", *args, "--kernel", "6.12", cwd=tmp_path)
        assert res.rc == 0, res.err
