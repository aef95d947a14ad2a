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
    return names


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
