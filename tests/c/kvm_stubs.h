/*
 * Stand-ins for target/arm/cpu.h and the KVM register macros of
 * linux-headers/asm-arm64/kvm.h that the generated tolerances use.
 */
#ifndef KVM_STUBS_H
#define KVM_STUBS_H

#include <stdint.h>

typedef enum { ToleranceNotOnBothEnds, ToleranceOnlySrcTestValue } ARMCPRegTolerance;
typedef struct ARMCPU { int registered; } ARMCPU;
#define KVM_REG_ARM64 0x6000000000000000ULL
#define KVM_REG_SIZE_U64 0x0030000000000000ULL
#define KVM_REG_ARM64_SYSREG (0x0013ULL << 16)
#define ARM64_SYS_REG(op0, op1, crn, crm, op2) \
    (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM64_SYSREG | \
     ((uint64_t)(op0) << 14) | ((uint64_t)(op1) << 11) | \
     ((uint64_t)(crn) << 7) | ((uint64_t)(crm) << 3) | (uint64_t)(op2))
#define KVM_REG_ARM_FW_REG(r) \
    (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | (0x0014ULL << 16) | ((r) & 0xffff))
#define KVM_REG_ARM_FW_FEAT_BMAP_REG(r) \
    (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | (0x0016ULL << 16) | ((r) & 0xffff))

#endif
