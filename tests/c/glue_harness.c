/*
 * Include the generated glue at all three hook points, as QEMU does in
 * three files, and report what acts under the COMPAT_RULES of the
 * environment:
 *   glue VERSION MACHINE REGIDX VALUE
 * prints the compat rows virt-VERSION adds ("row PROPERTY VALUE"), each
 * tolerance registered ("tolerance REGIDX KIND"), "stock" when QEMU's own
 * list is asked for, and the guard's answer for dropping REGIDX = VALUE on
 * MACHINE ("drop allowed" or "drop refused: MESSAGE").
 */
#include "qemu_stubs.h"
#include <inttypes.h>

#include "kvm_stubs.h"

static void arm_register_cpreg_mig_tolerance(ARMCPU *cpu, uint64_t regidx,
                                             uint64_t mask, uint64_t value,
                                             ARMCPRegTolerance type)
{
    (void)mask;
    (void)value;
    cpu->registered++;
    printf("tolerance 0x%016" PRIx64 " %s\n", regidx,
           type == ToleranceNotOnBothEnds ? "ToleranceNotOnBothEnds"
                                          : "ToleranceOnlySrcTestValue");
}

#define ARM_COMPAT_GLUE_MACHINE
#define ARM_COMPAT_GLUE_TOLERANCES
#define ARM_COMPAT_GLUE_GUARDS
#include "arm-compat-glue.c.inc"
/* a second inclusion (another hook point in the same file) adds nothing */
#include "arm-compat-glue.c.inc"

int main(int argc, char **argv)
{
    CompatProps props = { { 0 }, 0 };
    MachineClass mc = { &props };
    ARMCPU cpu = { 0 };
    Error *err = NULL;
    size_t i;

    if (argc != 5) {
        fprintf(stderr, "usage: %s VERSION MACHINE REGIDX VALUE\n", argv[0]);
        return 2;
    }
    arm_compat_glue_virt_machine(&mc, argv[1]);
    for (i = 0; i < props.len; i++) {
        printf("row %s %s\n", props.rows[i]->property, props.rows[i]->value);
    }
    if (arm_compat_glue_cpreg_mig_tolerances(&cpu)) {
        printf("stock\n");
    }
    if (arm_compat_glue_check_drop(argv[2], strtoull(argv[3], NULL, 0),
                                   strtoull(argv[4], NULL, 0), &err)) {
        printf("drop allowed\n");
    } else {
        printf("drop refused: %s\n", err->msg);
        free(err);
    }
    return 0;
}
