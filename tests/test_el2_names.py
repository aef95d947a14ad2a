"""Names of the EL2 registers a nested vCPU lists (issue 21): every one in
compat/core/sysreg_names.txt, checked against the encodings as the Arm
Architecture Reference Manual gives them in each register's "Accessing"
section (``op0=0b11, op1=0b100, CRn=0b1100, CRm=0b110:n[3], op2=n[2:0]``),
written here in that binary form, independently of the names file; and no
EL2 index of a real nested list prints as a bare index."""

from __future__ import annotations

import pytest

from compat.analysis.reglist import read_reglist
from compat.core import codec
from conftest import ROOT

REAL = ROOT / "tests" / "data" / "real"
NESTED = sorted(REAL.glob("*-el2-linux-*.reglist"))


def _arm(op0: str, op1: str, crn: str, crm: str, op2: str) -> tuple[int, ...]:
    return tuple(int(field, 2) for field in (op0, op1, crn, crm, op2))


#: name -> (op0, op1, CRn, CRm, op2) as the Arm ARM's encoding diagrams give them
ARM_ARM: dict[str, tuple[int, ...]] = {
    "VPIDR_EL2": _arm("11", "100", "0000", "0000", "000"),
    "VMPIDR_EL2": _arm("11", "100", "0000", "0000", "101"),
    "SCTLR_EL2": _arm("11", "100", "0001", "0000", "000"),
    "ACTLR_EL2": _arm("11", "100", "0001", "0000", "001"),
    "SCTLR2_EL2": _arm("11", "100", "0001", "0000", "011"),
    "HCR_EL2": _arm("11", "100", "0001", "0001", "000"),
    "MDCR_EL2": _arm("11", "100", "0001", "0001", "001"),
    "CPTR_EL2": _arm("11", "100", "0001", "0001", "010"),
    "HSTR_EL2": _arm("11", "100", "0001", "0001", "011"),
    "HFGRTR_EL2": _arm("11", "100", "0001", "0001", "100"),
    "HFGWTR_EL2": _arm("11", "100", "0001", "0001", "101"),
    "HFGITR_EL2": _arm("11", "100", "0001", "0001", "110"),
    "HACR_EL2": _arm("11", "100", "0001", "0001", "111"),
    "ZCR_EL2": _arm("11", "100", "0001", "0010", "000"),
    "HCRX_EL2": _arm("11", "100", "0001", "0010", "010"),
    "SDER32_EL2": _arm("11", "100", "0001", "0011", "001"),
    "TTBR0_EL2": _arm("11", "100", "0010", "0000", "000"),
    "TTBR1_EL2": _arm("11", "100", "0010", "0000", "001"),
    "TCR_EL2": _arm("11", "100", "0010", "0000", "010"),
    "TCR2_EL2": _arm("11", "100", "0010", "0000", "011"),
    "VTTBR_EL2": _arm("11", "100", "0010", "0001", "000"),
    "VTCR_EL2": _arm("11", "100", "0010", "0001", "010"),
    "VNCR_EL2": _arm("11", "100", "0010", "0010", "000"),
    "DACR32_EL2": _arm("11", "100", "0011", "0000", "000"),
    "HDFGRTR2_EL2": _arm("11", "100", "0011", "0001", "000"),
    "HDFGWTR2_EL2": _arm("11", "100", "0011", "0001", "001"),
    "HFGRTR2_EL2": _arm("11", "100", "0011", "0001", "010"),
    "HFGWTR2_EL2": _arm("11", "100", "0011", "0001", "011"),
    "HDFGRTR_EL2": _arm("11", "100", "0011", "0001", "100"),
    "HDFGWTR_EL2": _arm("11", "100", "0011", "0001", "101"),
    "HAFGRTR_EL2": _arm("11", "100", "0011", "0001", "110"),
    "HFGITR2_EL2": _arm("11", "100", "0011", "0001", "111"),
    "SPSR_EL2": _arm("11", "100", "0100", "0000", "000"),
    "ELR_EL2": _arm("11", "100", "0100", "0000", "001"),
    "IFSR32_EL2": _arm("11", "100", "0101", "0000", "001"),
    "AFSR0_EL2": _arm("11", "100", "0101", "0001", "000"),
    "AFSR1_EL2": _arm("11", "100", "0101", "0001", "001"),
    "ESR_EL2": _arm("11", "100", "0101", "0010", "000"),
    "VSESR_EL2": _arm("11", "100", "0101", "0010", "011"),
    "FPEXC32_EL2": _arm("11", "100", "0101", "0011", "000"),
    "FAR_EL2": _arm("11", "100", "0110", "0000", "000"),
    "HPFAR_EL2": _arm("11", "100", "0110", "0000", "100"),
    "MAIR_EL2": _arm("11", "100", "1010", "0010", "000"),
    "PIRE0_EL2": _arm("11", "100", "1010", "0010", "010"),
    "PIR_EL2": _arm("11", "100", "1010", "0010", "011"),
    "POR_EL2": _arm("11", "100", "1010", "0010", "100"),
    "AMAIR_EL2": _arm("11", "100", "1010", "0011", "000"),
    "VBAR_EL2": _arm("11", "100", "1100", "0000", "000"),
    "RVBAR_EL2": _arm("11", "100", "1100", "0000", "001"),
    "VDISR_EL2": _arm("11", "100", "1100", "0001", "001"),
    "ICH_HCR_EL2": _arm("11", "100", "1100", "1011", "000"),
    "ICH_VTR_EL2": _arm("11", "100", "1100", "1011", "001"),
    "ICH_MISR_EL2": _arm("11", "100", "1100", "1011", "010"),
    "ICH_EISR_EL2": _arm("11", "100", "1100", "1011", "011"),
    "ICH_ELRSR_EL2": _arm("11", "100", "1100", "1011", "101"),
    "ICH_VMCR_EL2": _arm("11", "100", "1100", "1011", "111"),
    "CONTEXTIDR_EL2": _arm("11", "100", "1101", "0000", "001"),
    "TPIDR_EL2": _arm("11", "100", "1101", "0000", "010"),
    "CNTVOFF_EL2": _arm("11", "100", "1110", "0000", "011"),
    "CNTHCTL_EL2": _arm("11", "100", "1110", "0001", "000"),
    "CNTHP_TVAL_EL2": _arm("11", "100", "1110", "0010", "000"),
    "CNTHP_CTL_EL2": _arm("11", "100", "1110", "0010", "001"),
    "CNTHP_CVAL_EL2": _arm("11", "100", "1110", "0010", "010"),
    "CNTHV_TVAL_EL2": _arm("11", "100", "1110", "0011", "000"),
    "CNTHV_CTL_EL2": _arm("11", "100", "1110", "0011", "001"),
    "CNTHV_CVAL_EL2": _arm("11", "100", "1110", "0011", "010"),
    "SP_EL2": _arm("11", "110", "0100", "0001", "000"),
    # the AArch32 debug state kept at EL2 (op0 = 0b10, the debug space)
    "DBGVCR32_EL2": _arm("10", "100", "0000", "0111", "000"),
}
# ICH_AP0R<n>_EL2, ICH_AP1R<n>_EL2: CRm = 0b1000 / 0b1001, op2 = n (n = 0..3)
for _n in range(4):
    ARM_ARM[f"ICH_AP0R{_n}_EL2"] = _arm("11", "100", "1100", "1000", f"{_n:03b}")
    ARM_ARM[f"ICH_AP1R{_n}_EL2"] = _arm("11", "100", "1100", "1001", f"{_n:03b}")
# ICH_LR<n>_EL2: CRm = 0b110:n[3], op2 = n[2:0] (n = 0..15)
for _n in range(16):
    ARM_ARM[f"ICH_LR{_n}_EL2"] = _arm("11", "100", "1100", f"110{_n >> 3}", f"{_n & 7:03b}")


@pytest.mark.parametrize("name", sorted(ARM_ARM))
def test_el2_name_has_the_arm_arm_encoding(name):
    index = codec.sysreg(*ARM_ARM[name])
    assert codec.parse_expr(name) == index, f"{name} encodes elsewhere"
    assert codec.decode(index).name == name


def test_the_real_nested_lists_exist():
    assert len(NESTED) >= 2, "no nested list in tests/data/real"


def _el2(index: int) -> bool:
    """An EL2 register: op1 4 (EL2) or 6 (SP_EL2), and the *32_EL2 ones."""
    d = codec.decode(index)
    return d.group == "sysreg" and d.fields["op1"] in (4, 6)


def test_no_el2_register_of_a_nested_list_prints_as_a_bare_index():
    seen = {i for path in NESTED for i in read_reglist(path).indices if _el2(i)}
    assert len(seen) >= 70     # 6.16 lists 72 of them
    unnamed = sorted(codec.format_index(i) for i in seen if codec.decode(i).name is None)
    assert not unnamed
    # and each such name is one the Arm ARM table above vouches for
    names = {codec.decode(i).name for i in seen}
    assert names <= set(ARM_ARM), sorted(names - set(ARM_ARM))
