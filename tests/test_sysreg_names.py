"""The register name table is data (compat/core/sysreg_names.txt): every line
agrees with the codec, malformed lines are located errors, and it is read
only when a name is needed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from compat.core import codec, sysreg_names
from compat.core.diagnostics import CompatError
from conftest import ROOT

TABLE = sysreg_names.names()
DATA = ROOT / "compat" / "core" / sysreg_names.DATA_FILE


def _entries(kind: str) -> list[tuple[str, list[int]]]:
    """(name, numbers) of every ``kind`` line, read straight from the file."""
    found = []
    for line in DATA.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] == kind:
            found.append((words[1], [int(w) for w in words[2:]]))
    return found


def test_the_file_has_every_kind_of_entry():
    for kind in ("sysreg", "alias", "fw", "fw-feat-bmap"):
        assert _entries(kind), kind


@pytest.mark.parametrize("name,fields", _entries("sysreg"), ids=lambda v: str(v))
def test_every_sysreg_name_encodes_to_its_index_and_decodes_to_its_name(name, fields):
    index = codec.encode_fields("sysreg", **dict(zip(("op0", "op1", "crn", "crm", "op2"), fields)))
    assert codec.parse_expr(name) == index
    assert codec.parse_expr("ARM64_SYS_REG({}, {}, {}, {}, {})".format(*fields)) == index
    decoded = codec.decode(index)
    assert decoded.group == "sysreg" and decoded.name == name


@pytest.mark.parametrize("name,fields", _entries("alias"), ids=lambda v: str(v))
def test_an_alias_encodes_but_decodes_to_the_sysreg_name(name, fields):
    index = codec.sysreg(*fields)
    assert codec.parse_expr(name) == index
    assert codec.decode(index).name != name


@pytest.mark.parametrize("kind,encoder", [("fw", codec.fw_reg),
                                          ("fw-feat-bmap", codec.fw_feat_bmap_reg)])
def test_every_firmware_name_encodes_to_its_index(kind, encoder):
    for name, (number,) in _entries(kind):
        index = encoder(number)
        assert codec.parse_expr(name) == index == codec.encode_fields(kind, number=number)
        assert codec.decode(index).name == name
        assert codec.parse_expr(name.removeprefix("KVM_REG_ARM_")) == index


def test_known_indices_from_the_kernel():
    # values a real KVM host lists (tests/data/real/*.reglist)
    assert codec.parse_expr("SCTLR_EL1") == 0x603000000013C080
    assert codec.parse_expr("TCR2_EL1") == 0x603000000013C103
    assert codec.parse_expr("KVM_REG_ARM_PSCI_VERSION") == 0x6030000000140000


def test_adding_a_name_is_one_line():
    text = DATA.read_text() + "sysreg  MY_NEW_REG_EL1  3 0 15 15 7\n"
    table = sysreg_names.parse(text)
    assert table.sysreg[(3, 0, 15, 15, 7)] == "MY_NEW_REG_EL1"
    assert len(table.sysreg) == len(TABLE.sysreg) + 1


@pytest.mark.parametrize("line,message", [
    ("register X_EL1 3 0 1 0 0", "unknown entry kind 'register'"),
    ("sysreg X_EL1 3 0 1 0", "'sysreg' takes 6 fields"),
    ("fw X 1 2", "'fw' takes 2 fields"),
    ("sysreg 1X 3 0 1 0 0", "not a register name"),
    ("sysreg X_EL1 4 0 1 0 0", "op0 must be a decimal number from 0 to 3, not '4'"),
    ("sysreg X_EL1 3 0 1 16 0", "crm must be a decimal number from 0 to 15"),
    ("sysreg X_EL1 3 0 1 0 0x1", "op2 must be a decimal number"),
    ("sysreg X_EL1 3 0 1 0 -1", "op2 must be a decimal number"),
    ("fw X 65536", "n must be a decimal number from 0 to 65535"),
    ("sysreg SCTLR_EL1 3 0 15 9 1", "'SCTLR_EL1' is named twice (first on line 2)"),
    ("sysreg OTHER_EL1 3 0 1 0 0", "OTHER_EL1 and SCTLR_EL1 share the encoding 3:0:1:0:0"),
    ("fw OTHER 0", "OTHER and KVM_REG_ARM_PSCI_VERSION share fw number 0"),
])
def test_a_malformed_line_is_a_located_error(line, message):
    text = "# names\nsysreg SCTLR_EL1 3 0 1 0 0  # comment\nfw KVM_REG_ARM_PSCI_VERSION 0\n"
    with pytest.raises(CompatError) as info:
        sysreg_names.parse(text + line + "\n", "names.txt")
    (diagnostic,) = info.value.diagnostics
    assert (diagnostic.location.file, diagnostic.location.line) == ("names.txt", 4)
    assert message in diagnostic.message


def test_the_table_is_read_lazily():
    code = ("import sys\nfrom compat import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "import compat.core.codec, compat.core.sysreg_names as s\n"
            "print(s.names.cache_info().currsize, file=sys.stderr)\n"
            "compat.core.codec.parse_expr('SCTLR_EL1')\n"
            "print(s.names.cache_info().currsize, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.split() == ["0", "1"]
