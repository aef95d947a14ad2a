"""Architectural names of well-known arm64 system registers and pseudo-registers.

Used only to label decoded indices; an encoding missing here is still valid
(``compat decode`` then prints QEMU's ``op0:.. op1:..`` form alone).  The
encodings are those of the Arm ARM and Linux ``arch/arm64/include/asm/sysreg.h``.
"""

from __future__ import annotations

Encoding = tuple[int, int, int, int, int]


def _table() -> dict[Encoding, str]:
    names: dict[Encoding, str] = {}

    def add(op0: int, op1: int, crn: int, crm: int, op2: int, name: str) -> None:
        names[(op0, op1, crn, crm, op2)] = name

    # Debug (op0 = 2)
    add(2, 0, 0, 2, 0, "MDCCINT_EL1")
    add(2, 0, 0, 2, 2, "MDSCR_EL1")
    add(2, 0, 1, 0, 0, "MDRAR_EL1")
    add(2, 0, 1, 0, 4, "OSLAR_EL1")
    add(2, 0, 1, 1, 4, "OSLSR_EL1")
    add(2, 0, 1, 3, 4, "OSDLR_EL1")
    add(2, 0, 1, 4, 4, "DBGPRCR_EL1")
    add(2, 0, 7, 8, 6, "DBGCLAIMSET_EL1")
    add(2, 0, 7, 9, 6, "DBGCLAIMCLR_EL1")
    add(2, 0, 7, 14, 6, "DBGAUTHSTATUS_EL1")
    add(2, 3, 0, 1, 0, "MDCCSR_EL0")
    add(2, 3, 0, 4, 0, "DBGDTR_EL0")
    add(2, 3, 0, 5, 0, "DBGDTRRX_EL0")
    add(2, 4, 0, 7, 0, "DBGVCR32_EL2")
    for n in range(16):
        add(2, 0, 0, n, 4, f"DBGBVR{n}_EL1")
        add(2, 0, 0, n, 5, f"DBGBCR{n}_EL1")
        add(2, 0, 0, n, 6, f"DBGWVR{n}_EL1")
        add(2, 0, 0, n, 7, f"DBGWCR{n}_EL1")

    # Identification
    add(3, 0, 0, 0, 0, "MIDR_EL1")
    add(3, 0, 0, 0, 5, "MPIDR_EL1")
    add(3, 0, 0, 0, 6, "REVIDR_EL1")
    aarch32_ids = {
        (1, 0): "ID_PFR0_EL1", (1, 1): "ID_PFR1_EL1", (1, 2): "ID_DFR0_EL1",
        (1, 3): "ID_AFR0_EL1", (1, 4): "ID_MMFR0_EL1", (1, 5): "ID_MMFR1_EL1",
        (1, 6): "ID_MMFR2_EL1", (1, 7): "ID_MMFR3_EL1", (2, 0): "ID_ISAR0_EL1",
        (2, 1): "ID_ISAR1_EL1", (2, 2): "ID_ISAR2_EL1", (2, 3): "ID_ISAR3_EL1",
        (2, 4): "ID_ISAR4_EL1", (2, 5): "ID_ISAR5_EL1", (2, 6): "ID_MMFR4_EL1",
        (2, 7): "ID_ISAR6_EL1", (3, 0): "MVFR0_EL1", (3, 1): "MVFR1_EL1",
        (3, 2): "MVFR2_EL1", (3, 4): "ID_PFR2_EL1", (3, 5): "ID_DFR1_EL1",
        (3, 6): "ID_MMFR5_EL1",
    }
    for (crm, op2), name in aarch32_ids.items():
        add(3, 0, 0, crm, op2, name)
    aarch64_ids = {
        (4, 0): "ID_AA64PFR0_EL1", (4, 1): "ID_AA64PFR1_EL1", (4, 2): "ID_AA64PFR2_EL1",
        (4, 4): "ID_AA64ZFR0_EL1", (4, 5): "ID_AA64SMFR0_EL1", (4, 7): "ID_AA64FPFR0_EL1",
        (5, 0): "ID_AA64DFR0_EL1", (5, 1): "ID_AA64DFR1_EL1", (5, 4): "ID_AA64AFR0_EL1",
        (5, 5): "ID_AA64AFR1_EL1", (6, 0): "ID_AA64ISAR0_EL1", (6, 1): "ID_AA64ISAR1_EL1",
        (6, 2): "ID_AA64ISAR2_EL1", (6, 3): "ID_AA64ISAR3_EL1", (7, 0): "ID_AA64MMFR0_EL1",
        (7, 1): "ID_AA64MMFR1_EL1", (7, 2): "ID_AA64MMFR2_EL1", (7, 3): "ID_AA64MMFR3_EL1",
        (7, 4): "ID_AA64MMFR4_EL1",
    }
    for (crm, op2), name in aarch64_ids.items():
        add(3, 0, 0, crm, op2, name)
    add(3, 1, 0, 0, 0, "CCSIDR_EL1")
    add(3, 1, 0, 0, 1, "CLIDR_EL1")
    add(3, 1, 0, 0, 7, "AIDR_EL1")
    add(3, 2, 0, 0, 0, "CSSELR_EL1")
    add(3, 3, 0, 0, 1, "CTR_EL0")
    add(3, 3, 0, 0, 7, "DCZID_EL0")

    # System control, translation, pointer authentication
    add(3, 0, 1, 0, 0, "SCTLR_EL1")
    add(3, 0, 1, 0, 1, "ACTLR_EL1")
    add(3, 0, 1, 0, 2, "CPACR_EL1")
    add(3, 0, 1, 0, 3, "SCTLR2_EL1")
    add(3, 0, 1, 0, 5, "RGSR_EL1")
    add(3, 0, 1, 0, 6, "GCR_EL1")
    add(3, 0, 1, 2, 0, "ZCR_EL1")
    add(3, 0, 1, 2, 4, "SMPRI_EL1")
    add(3, 0, 1, 2, 6, "SMCR_EL1")
    add(3, 0, 2, 0, 0, "TTBR0_EL1")
    add(3, 0, 2, 0, 1, "TTBR1_EL1")
    add(3, 0, 2, 0, 2, "TCR_EL1")
    add(3, 0, 2, 0, 3, "TCR2_EL1")
    for crm, key in ((1, "APIA"), (1, "APIB"), (2, "APDA"), (2, "APDB"), (3, "APGA")):
        base = 2 if key in ("APIB", "APDB") else 0
        add(3, 0, 2, crm, base, f"{key}KEYLO_EL1")
        add(3, 0, 2, crm, base + 1, f"{key}KEYHI_EL1")
    add(3, 0, 5, 1, 0, "AFSR0_EL1")
    add(3, 0, 5, 1, 1, "AFSR1_EL1")
    add(3, 0, 5, 2, 0, "ESR_EL1")
    add(3, 0, 5, 6, 0, "TFSR_EL1")
    add(3, 0, 5, 6, 1, "TFSRE0_EL1")
    add(3, 0, 6, 0, 0, "FAR_EL1")
    add(3, 0, 7, 4, 0, "PAR_EL1")
    add(3, 0, 10, 2, 0, "MAIR_EL1")
    add(3, 0, 10, 2, 1, "MAIR2_EL1")
    add(3, 0, 10, 2, 2, "PIRE0_EL1")
    add(3, 0, 10, 2, 3, "PIR_EL1")
    add(3, 0, 10, 2, 4, "POR_EL1")
    add(3, 0, 10, 3, 0, "AMAIR_EL1")
    add(3, 0, 10, 3, 1, "AMAIR2_EL1")
    add(3, 0, 10, 4, 0, "LORSA_EL1")
    add(3, 0, 10, 4, 1, "LOREA_EL1")
    add(3, 0, 10, 4, 2, "LORN_EL1")
    add(3, 0, 10, 4, 3, "LORC_EL1")
    add(3, 0, 10, 4, 7, "LORID_EL1")
    add(3, 0, 12, 0, 0, "VBAR_EL1")
    add(3, 0, 12, 1, 1, "DISR_EL1")
    add(3, 0, 13, 0, 1, "CONTEXTIDR_EL1")
    add(3, 0, 13, 0, 4, "TPIDR_EL1")
    add(3, 0, 13, 0, 5, "ACCDATA_EL1")
    add(3, 0, 13, 0, 7, "SCXTNUM_EL1")
    add(3, 0, 14, 1, 0, "CNTKCTL_EL1")
    add(3, 3, 4, 2, 2, "SVCR")
    add(3, 3, 4, 4, 2, "FPMR")
    add(3, 3, 10, 2, 4, "POR_EL0")
    add(3, 3, 13, 0, 2, "TPIDR_EL0")
    add(3, 3, 13, 0, 3, "TPIDRRO_EL0")
    add(3, 3, 13, 0, 5, "TPIDR2_EL0")
    add(3, 3, 13, 0, 7, "SCXTNUM_EL0")

    # PMU
    add(3, 0, 9, 14, 1, "PMINTENSET_EL1")
    add(3, 0, 9, 14, 2, "PMINTENCLR_EL1")
    add(3, 0, 9, 14, 6, "PMMIR_EL1")
    pmu0 = ["PMCR_EL0", "PMCNTENSET_EL0", "PMCNTENCLR_EL0", "PMOVSCLR_EL0",
            "PMSWINC_EL0", "PMSELR_EL0", "PMCEID0_EL0", "PMCEID1_EL0"]
    for op2, name in enumerate(pmu0):
        add(3, 3, 9, 12, op2, name)
    add(3, 3, 9, 13, 0, "PMCCNTR_EL0")
    add(3, 3, 9, 13, 1, "PMXEVTYPER_EL0")
    add(3, 3, 9, 13, 2, "PMXEVCNTR_EL0")
    add(3, 3, 9, 14, 0, "PMUSERENR_EL0")
    add(3, 3, 9, 14, 3, "PMOVSSET_EL0")
    for n in range(31):
        add(3, 3, 14, 8 + (n >> 3), n & 7, f"PMEVCNTR{n}_EL0")
        add(3, 3, 14, 12 + (n >> 3), n & 7, f"PMEVTYPER{n}_EL0")
    add(3, 3, 14, 15, 7, "PMCCFILTR_EL0")

    # Generic timer
    add(3, 3, 14, 0, 1, "CNTPCT_EL0")
    # KVM's uapi swaps these two encodings on purpose (arch/arm64/include/
    # uapi/asm/kvm.h): the index of CNTV_CVAL_EL0 carries the virtual counter
    # (KVM_REG_ARM_TIMER_CNT) and the index of CNTVCT_EL0 the compare value.
    add(3, 3, 14, 0, 2, "KVM_REG_ARM_TIMER_CVAL")
    add(3, 3, 14, 2, 0, "CNTP_TVAL_EL0")
    add(3, 3, 14, 2, 1, "CNTP_CTL_EL0")
    add(3, 3, 14, 2, 2, "CNTP_CVAL_EL0")
    add(3, 3, 14, 3, 0, "CNTV_TVAL_EL0")
    add(3, 3, 14, 3, 1, "CNTV_CTL_EL0")
    add(3, 3, 14, 3, 2, "KVM_REG_ARM_TIMER_CNT")
    _add_el2_and_reserved(names)
    return names


def _add_el2_and_reserved(names: dict[Encoding, str]) -> None:
    """EL2 registers (what a vCPU with nested virtualization exposes), the
    AArch32-state registers kept at EL2, and the unallocated ID register slots
    KVM lists.  Encodings from the Arm Architecture Reference Manual's register
    index and Linux ``arch/arm64/tools/sysreg``; the table is written here, not
    copied.  Entries already named above win."""
    el2 = {
        (0, 0, 0): "VPIDR_EL2", (0, 0, 5): "VMPIDR_EL2",
        (1, 0, 0): "SCTLR_EL2", (1, 0, 1): "ACTLR_EL2", (1, 0, 3): "SCTLR2_EL2",
        (1, 1, 0): "HCR_EL2", (1, 1, 1): "MDCR_EL2", (1, 1, 2): "CPTR_EL2",
        (1, 1, 3): "HSTR_EL2", (1, 1, 4): "HFGRTR_EL2", (1, 1, 5): "HFGWTR_EL2",
        (1, 1, 6): "HFGITR_EL2", (1, 1, 7): "HACR_EL2",
        (1, 2, 0): "ZCR_EL2", (1, 2, 1): "TRFCR_EL2", (1, 2, 2): "HCRX_EL2",
        (1, 2, 5): "SMPRIMAP_EL2", (1, 2, 6): "SMCR_EL2", (1, 3, 1): "SDER32_EL2",
        (2, 0, 0): "TTBR0_EL2", (2, 0, 1): "TTBR1_EL2", (2, 0, 2): "TCR_EL2",
        (2, 0, 3): "TCR2_EL2", (2, 1, 0): "VTTBR_EL2", (2, 1, 2): "VTCR_EL2",
        (2, 2, 0): "VNCR_EL2", (2, 6, 0): "VSTTBR_EL2", (2, 6, 2): "VSTCR_EL2",
        (3, 0, 0): "DACR32_EL2",
        (3, 1, 0): "HDFGRTR2_EL2", (3, 1, 1): "HDFGWTR2_EL2", (3, 1, 2): "HFGRTR2_EL2",
        (3, 1, 3): "HFGWTR2_EL2", (3, 1, 4): "HDFGRTR_EL2", (3, 1, 5): "HDFGWTR_EL2",
        (3, 1, 6): "HAFGRTR_EL2", (3, 1, 7): "HFGITR2_EL2",
        (4, 0, 0): "SPSR_EL2", (4, 0, 1): "ELR_EL2", (4, 1, 0): "SP_EL1",
        (4, 3, 0): "SPSR_irq", (4, 3, 1): "SPSR_abt", (4, 3, 2): "SPSR_und",
        (4, 3, 3): "SPSR_fiq",
        (5, 0, 1): "IFSR32_EL2", (5, 1, 0): "AFSR0_EL2", (5, 1, 1): "AFSR1_EL2",
        (5, 2, 0): "ESR_EL2", (5, 2, 3): "VSESR_EL2", (5, 3, 0): "FPEXC32_EL2",
        (5, 6, 0): "TFSR_EL2",
        (6, 0, 0): "FAR_EL2", (6, 0, 4): "HPFAR_EL2",
        (9, 9, 0): "PMSCR_EL2",
        (10, 2, 0): "MAIR_EL2", (10, 2, 2): "PIRE0_EL2", (10, 2, 3): "PIR_EL2",
        (10, 2, 4): "POR_EL2", (10, 3, 0): "AMAIR_EL2", (10, 4, 0): "MPAMHCR_EL2",
        (10, 4, 1): "MPAMVPMV_EL2", (10, 5, 0): "MPAM2_EL2",
        (12, 0, 0): "VBAR_EL2", (12, 0, 1): "RVBAR_EL2", (12, 0, 2): "RMR_EL2",
        (12, 1, 1): "VDISR_EL2", (12, 9, 5): "ICC_SRE_EL2",
        (12, 11, 0): "ICH_HCR_EL2", (12, 11, 1): "ICH_VTR_EL2", (12, 11, 2): "ICH_MISR_EL2",
        (12, 11, 3): "ICH_EISR_EL2", (12, 11, 5): "ICH_ELRSR_EL2", (12, 11, 7): "ICH_VMCR_EL2",
        (13, 0, 1): "CONTEXTIDR_EL2", (13, 0, 2): "TPIDR_EL2", (13, 0, 7): "SCXTNUM_EL2",
        (14, 0, 3): "CNTVOFF_EL2", (14, 0, 6): "CNTPOFF_EL2", (14, 1, 0): "CNTHCTL_EL2",
        (14, 2, 0): "CNTHP_TVAL_EL2", (14, 2, 1): "CNTHP_CTL_EL2", (14, 2, 2): "CNTHP_CVAL_EL2",
        (14, 3, 0): "CNTHV_TVAL_EL2", (14, 3, 1): "CNTHV_CTL_EL2", (14, 3, 2): "CNTHV_CVAL_EL2",
    }
    for n in range(4):
        el2[(12, 8, n)] = f"ICH_AP0R{n}_EL2"
        el2[(12, 9, n)] = f"ICH_AP1R{n}_EL2"
    for n in range(16):
        el2[(12, 12 + n // 8, n % 8)] = f"ICH_LR{n}_EL2"
    for (crn, crm, op2), name in el2.items():
        names.setdefault((3, 4, crn, crm, op2), name)
    names.setdefault((3, 6, 4, 1, 0), "SP_EL2")
    # ID space slots (op0 3, op1 0, CRn 0, CRm 1..7) with no register yet: KVM
    # lists them (reading as zero), Linux sys_regs.c calls them ID_UNALLOCATED
    for crm in range(1, 8):
        for op2 in range(8):
            names.setdefault((3, 0, 0, crm, op2), f"ID_UNALLOCATED_{crm}_{op2}")


#: CCSIDR values KVM exposes as demux registers (group 0x11, id 0): the low
#: byte is the CSSELR_EL1 value selecting the cache, Level in bits 3:1
#: (level - 1) and InD in bit 0 (1 instruction, 0 data or unified).
def demux_name(ident: int, value: int) -> str | None:
    if ident != 0 or value > 0x0F:
        return None
    kind = "instruction" if value & 1 else "data"
    return f"CCSIDR[L{(value >> 1) + 1} {kind}]"


SYSREG_NAMES: dict[Encoding, str] = _table()

#: Firmware pseudo-registers (KVM_REG_ARM_FW_REG(n)), Linux
#: Documentation/virt/kvm/arm/fw-pseudo-registers.rst.
FW_NAMES: dict[int, str] = {
    0: "KVM_REG_ARM_PSCI_VERSION",
    1: "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1",
    2: "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2",
    3: "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_3",
}

#: Firmware feature bitmaps (KVM_REG_ARM_FW_FEAT_BMAP_REG(n)).
FW_FEAT_BMAP_NAMES: dict[int, str] = {
    0: "KVM_REG_ARM_STD_BMAP",
    1: "KVM_REG_ARM_STD_HYP_BMAP",
    2: "KVM_REG_ARM_VENDOR_HYP_BMAP",
    3: "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
}

SYSREG_BY_NAME: dict[str, Encoding] = {name: enc for enc, name in SYSREG_NAMES.items()}
# the architectural names of the swapped timer registers, as KVM means them
SYSREG_BY_NAME.update({"CNTVCT_EL0": (3, 3, 14, 3, 2), "CNTV_CVAL_EL0": (3, 3, 14, 0, 2),
                       "KVM_REG_ARM_TIMER_CTL": (3, 3, 14, 3, 1)})
