/*
 * Call the generated body of kvm_arm_set_cpreg_mig_tolerances() with a
 * recording arm_register_cpreg_mig_tolerance() and print each registration.
 */
#include "qemu_stubs.h"
#include <inttypes.h>

#include "kvm_stubs.h"

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
