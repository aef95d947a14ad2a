/*
 * Call the generated body of kvm_arm_set_cpreg_mig_tolerances() with a
 * recording arm_register_cpreg_mig_tolerance() and print each registration.
 */
#include "qemu_stubs.h"
#include <inttypes.h>

/* target/arm/cpu.h and kvm_arm.h stand-ins */
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

static void arm_register_cpreg_mig_tolerance(ARMCPU *cpu, uint64_t regidx,
                                             uint64_t mask, uint64_t value,
                                             ARMCPRegTolerance type)
{
    cpu->registered++;
    printf("0x%016" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64 " %s\n", regidx, mask,
           value, type == ToleranceNotOnBothEnds ? "ToleranceNotOnBothEnds"
                                                 : "ToleranceOnlySrcTestValue");
}

static void kvm_arm_set_cpreg_mig_tolerances(ARMCPU *cpu)
{
#include "arm-cpreg-mig-tolerances.c.inc"
}

int main(void)
{
    ARMCPU cpu = { 0 };

    kvm_arm_set_cpreg_mig_tolerances(&cpu);
    return cpu.registered > 0 ? 0 : 1;
}
