"""The command line: help, command names, decode, encode, explain."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

COMMANDS = ["validate", "build", "decode", "encode", "explain", "plugins"]


def _no_traceback(result):
    assert "Traceback" not in result.err and "Traceback" not in result.out, result.err
    assert "internal error" not in result.err, result.err


def test_help_lists_commands(compat_cli):
    result = compat_cli("--help")
    assert result.rc == 0
    for command in COMMANDS:
        assert command in result.out
    _no_traceback(result)


def test_no_command_shows_usage(compat_cli, tmp_path):
    result = compat_cli(cwd=tmp_path)
    assert result.rc == 2                 # a usage error: no command given
    assert "usage" in (result.out + result.err).lower()
    _no_traceback(result)


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(compat_cli, command):
    result = compat_cli(command, "--help")
    assert result.rc == 0, result.err
    assert f"compat {command}" in result.out


def test_unknown_command_did_you_mean(compat_cli):
    result = compat_cli("decodee", "0x1")
    assert result.rc == 2
    assert "unknown command 'decodee'" in result.err
    assert "did you mean 'decode'" in result.err
    _no_traceback(result)


def test_version(compat_cli):
    result = compat_cli("--version")
    assert result.rc == 0
    assert "0." in result.out + result.err


def test_decode_worked_examples(compat_cli):
    result = compat_cli("decode", "0x6030000000160003", "0x603000000013c103", "0x40200000200e0298")
    assert result.rc == 0, result.err
    for text in ("fw feat reg 3", "KVM_REG_ARM_VENDOR_HYP_BMAP_2", "op0:3 op1:0 crn:2 crm:0 op2:3",
                 "TCR2_EL1", "cp14", "0x6030000000160003", "0x603000000013c103",
                 "0x40200000200e0298"):
        assert text in result.out, text
    # in argument order
    out = result.out
    assert out.index("0x6030000000160003") < out.index("0x603000000013c103") \
        < out.index("0x40200000200e0298")


def test_decode_json(compat_cli):
    result = compat_cli("decode", "--json", "0x6030000000160003", "0x603000000013c103")
    assert result.rc == 0, result.err
    data = json.loads(result.out)
    assert isinstance(data, list) and len(data) == 2
    assert data[0]["qemu_name"] == "fw feat reg 3"
    assert data[0]["group"] == "fw-feat-bmap"
    assert data[1]["fields"] == {"op0": 3, "op1": 0, "crn": 2, "crm": 0, "op2": 3}


def test_decode_unknown_group_is_an_error(compat_cli):
    # no KVM group 0x17: not a register index (issue 18 item 9)
    result = compat_cli("decode", "0x6030000000170001")
    assert result.rc == 1, result.err
    assert "not a KVM register index: group 0x17" in result.err
    _no_traceback(result)


@pytest.mark.parametrize("bad", ["zz", "0x1ffffffffffffffff", "-5"])
def test_decode_bad_index(compat_cli, bad):
    result = compat_cli("decode", "--", bad) if bad.startswith("-") else compat_cli("decode", bad)
    assert result.rc == 1, (result.rc, result.err)
    assert "error" in result.err
    _no_traceback(result)


def test_encode_prints_exactly_the_index(compat_cli):
    result = compat_cli("encode", "ARM64_SYS_REG(3,0,10,2,3)")
    assert result.rc == 0, result.err
    assert result.out == "0x603000000013c513\n"


@pytest.mark.parametrize("expr, index", [
    ("KVM_REG_ARM_FW_REG(1)", "0x6030000000140001"),
    ("KVM_REG_ARM_FW_FEAT_BMAP_REG(3)", "0x6030000000160003"),
    ("KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc)",
     "0x6030000000100040"),
    ("TCR2_EL1", "0x603000000013c103"),
])
def test_encode_expressions(compat_cli, expr, index):
    result = compat_cli("encode", expr)
    assert result.rc == 0, result.err
    assert result.out.strip() == index


def test_encode_json(compat_cli):
    result = compat_cli("encode", "--json", "TCR2_EL1")
    assert result.rc == 0, result.err
    data = json.loads(result.out)
    assert "0x603000000013c103" in json.dumps(data)


@pytest.mark.parametrize("expr, text", [
    ("TCR2_EL2X", "did you mean"),
    ("ARM64_SYS_REG(3,0,2,0)", "argument"),
    ("ARM64_SYS_REG(4,0,2,0,3)", "out of range"),
    ("$$", "unexpected"),
])
def test_encode_bad_expression(compat_cli, expr, text):
    result = compat_cli("encode", expr)
    assert result.rc == 1, (result.rc, result.err)
    assert text in result.err
    _no_traceback(result)


def test_encode_registry_names(compat_cli):
    """With the bundled registry, registry names such as DBGDTRTX encode."""
    result = compat_cli("encode", "KVM_REG_ARM_VENDOR_HYP_BMAP_2")
    assert result.rc == 0, result.err
    assert result.out.strip() == "0x6030000000160003"


def test_explain_shows_per_machine_rules(compat_cli, tmp_path):
    result = compat_cli("explain", "TCR2_EL1", cwd=tmp_path)
    assert result.rc == 0, result.err
    out = result.out
    assert "0x603000000013c103" in out
    assert "FEAT_TCRX" in out
    for machine in ("virt-11.1", "virt-11.0", "virt-10.2", "virt-10.1", "virt-10.0"):
        assert machine in out, machine
    lines = {m: next(line for line in out.splitlines() if m + " " in line)
             for m in ("virt-11.1", "virt-10.2", "virt-10.0")}
    assert "tolerate" in lines["virt-10.2"] and "tolerate" in lines["virt-10.0"]
    assert "tolerate" not in lines["virt-11.1"]


@pytest.mark.parametrize("query", ["0x603000000013c103", "ARM64_SYS_REG(3, 0, 2, 0, 3)"])
def test_explain_by_index(compat_cli, query, tmp_path):
    by_index = compat_cli("explain", query, cwd=tmp_path)
    by_name = compat_cli("explain", "TCR2_EL1", cwd=tmp_path)
    assert by_index.rc == 0, by_index.err
    assert by_index.out == by_name.out


def test_explain_hidden_register(compat_cli, tmp_path):
    result = compat_cli("explain", "KVM_REG_ARM_VENDOR_HYP_BMAP_2", cwd=tmp_path)
    assert result.rc == 0, result.err
    assert "impl-cpu" in result.out
    assert "hid" in result.out


def test_explain_json(compat_cli, tmp_path):
    result = compat_cli("explain", "--json", "TCR2_EL1", cwd=tmp_path)
    assert result.rc == 0, result.err
    data = json.loads(result.out)
    assert data["name"] == "TCR2_EL1"
    assert data["index"] == "0x603000000013c103"


@pytest.mark.parametrize("query", ["NOPE_EL1", "0x6030000000179999"])
def test_explain_unknown(compat_cli, query, tmp_path):
    result = compat_cli("explain", query, cwd=tmp_path)
    assert result.rc == 1, (result.rc, result.out, result.err)
    assert "error" in result.err
    _no_traceback(result)


@pytest.mark.process("the real entry point, python -m compat")
def test_python_dash_m(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "compat", "encode", "TCR2_EL1"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0x603000000013c103\n"


@pytest.mark.process("the console script pip installs")
def test_console_script(tmp_path):
    """The installed ``compat`` script runs the same CLI."""
    import shutil
    from pathlib import Path
    beside = Path(sys.executable).with_name("compat")   # the venv's, when not activated
    exe = str(beside) if beside.is_file() else shutil.which("compat")
    if exe is None:
        pytest.skip("compat console script not on PATH")
    proc = subprocess.run([exe, "encode", "TCR2_EL1"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0x603000000013c103\n"


def test_explain_shows_the_tolerance_the_c_output_registers(compat_cli):
    """explain reads the one tolerance decision (compat.qemu.tolerance)."""
    import json

    from compat.load.pipeline import load_text
    from compat.qemu.tolerance import tolerances
    from conftest import BUNDLED

    registry = load_text(BUNDLED.read_text()).registry
    expected = {t.register.name: t.kind for t in tolerances(registry)}
    for name in registry.registers:
        res = compat_cli("explain", name, "--json")
        assert res.rc == 0, res.err
        got = json.loads(res.out)["tolerance"]
        assert (got and got["kind"]) == expected.get(name), name
    assert expected["KVM_REG_ARM_VENDOR_HYP_BMAP_2"] == "ToleranceOnlySrcTestValue"
    assert "DBGDTRTX" not in expected      # QEMU-side TCG change: no KVM tolerance


def test_quick_top_help_is_what_argparse_prints():
    """'compat --help' is written without argparse (it must start as fast as
    the interpreter); it must say exactly what the parser would."""
    from compat import cli
    assert cli._top_help() + "\n" == cli._top_parser().format_help()


@pytest.mark.process("what a fresh interpreter imports for compat --help")
def test_top_help_imports_no_argparse():
    import subprocess
    import sys
    code = ("import sys; from compat.cli import main; main(['--help']); "
            "print('argparse' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr.strip() == "False", proc.stderr
    assert proc.stdout.startswith("usage: compat")
