/*
 * Run the generated guards.
 *
 *   guards_harness rule MACHINE INDEX
 *   guards_harness feature MACHINE FEATURE
 *   guards_harness drop MACHINE INDEX VALUE
 *   guards_harness pin MACHINE INDEX
 *   guards_harness idreg MACHINE INDEX VALUE
 *
 * Prints the answer or the error message; exits 0 when the guard allows
 * the action, 1 when it refuses, 2 on a usage error.
 */
#include "qemu_stubs.h"
#include "arm-compat-guards.h"
#include "arm-compat-guards.c.inc"

static const char *rule_name(ArmCompatRegRule rule)
{
    switch (rule) {
    case ARM_COMPAT_REG_HIDDEN:
        return "hidden";
    case ARM_COMPAT_REG_SAFE_MISSING:
        return "safe-missing";
    default:
        return "migrated";
    }
}

int main(int argc, char **argv)
{
    Error *err = NULL;
    int machine;
    bool ok;

    if (argc < 4) {
        fprintf(stderr, "usage: %s rule|feature|drop MACHINE ...\n", argv[0]);
        return 2;
    }
    machine = arm_compat_machine_from_name(argv[2]);
    if (machine < 0) {
        fprintf(stderr, "unknown machine type %s\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "rule") == 0) {
        uint64_t index = strtoull(argv[3], NULL, 0);

        printf("%s %s\n", rule_name(arm_compat_reg_rule(machine, index)),
               arm_compat_reg_is_hidden(machine, index) ? "hidden" : "visible");
        return 0;
    }
    if (strcmp(argv[1], "pin") == 0) {
        uint64_t value = 0;
        const char *property = NULL;

        if (arm_compat_reg_pinned(machine, strtoull(argv[3], NULL, 0), &value,
                                  &property)) {
            printf("pinned 0x%" PRIx64 " %s\n", value, property);
        } else {
            printf("not-pinned\n");
        }
        return 0;
    }
    if (strcmp(argv[1], "feature") == 0) {
        ok = arm_compat_check_feature(machine, argv[3], &err);
    } else if (strcmp(argv[1], "drop") == 0 && argc == 5) {
        ok = arm_compat_check_drop(machine, strtoull(argv[3], NULL, 0),
                                   strtoull(argv[4], NULL, 0), &err);
    } else if (strcmp(argv[1], "idreg") == 0 && argc == 5) {
        ok = arm_compat_check_id_reg(machine, strtoull(argv[3], NULL, 0),
                                     strtoull(argv[4], NULL, 0), &err);
    } else {
        return 2;
    }
    if (!ok) {
        printf("%s\n", err->msg);
        free(err);
        return 1;
    }
    printf("ok %s\n", arm_compat_machine_name(machine));
    return 0;
}
