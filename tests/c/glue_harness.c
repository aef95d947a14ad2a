/*
 * Include the generated glue at all three hook points, as QEMU does in
 * three files, and report what acts under the COMPAT_RULES of the
 * environment:
 *   glue VERSION MACHINE REGIDX VALUE
 * prints the compat rows virt-VERSION adds ("row PROPERTY VALUE"), each
 * tolerance registered ("tolerance REGIDX KIND"), "stock" when QEMU's own
 * list is asked for, and the guards' answers on MACHINE: dropping REGIDX =
 * VALUE ("drop allowed" or "drop refused: MESSAGE"), a new vCPU whose ID
 * register REGIDX reads VALUE ("host allowed" or "host refused: MESSAGE")
 * and a vCPU with EL2 ("el2 allowed" or "el2 refused: MESSAGE").
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

static void answer(const char *what, bool allowed, Error **err)
{
    if (allowed) {
        printf("%s allowed\n", what);
    } else {
        printf("%s refused: %s\n", what, (*err)->msg);
        free(*err);
        *err = NULL;
    }
}

int main(int argc, char **argv)
{
    CompatProps props = { { 0 }, 0 };
    MachineClass mc = { &props };
    ARMCPU cpu = { 0 };
    Error *err = NULL;
    uint64_t regidx, value;
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
    regidx = strtoull(argv[3], NULL, 0);
    value = strtoull(argv[4], NULL, 0);
    answer("drop", arm_compat_glue_check_drop(argv[2], regidx, value, &err), &err);
    answer("host", arm_compat_glue_check_id_reg(argv[2], regidx, value, &err), &err);
    answer("el2", arm_compat_glue_check_feature(argv[2], "virtualization", &err), &err);
    return 0;
}
