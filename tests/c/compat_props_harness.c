/*
 * Apply the generated compat tables to one machine type the way QEMU does
 * and print the CPU's array properties.
 *
 *   compat_props_harness LAYOUT VERSION [NEWER...]
 *
 * LAYOUT "chained": the tables of every NEWER version are added, in the
 * order given (newest first, as QEMU's options chain reaches them), before
 * VERSION's own, as virt_machine_X_Y_options() chains do.
 * LAYOUT "per-version": only VERSION's table is added.  Like QEMU, a second
 * setting of an array property aborts (exit 1).  Values are parsed as QEMU
 * parses uint64 array elements: base 0, separated by ",", no ranges.
 * Scalar properties (value rules: kvm-psci-version) may be set more than
 * once, the last setting wins; they are printed as "PROPERTY VALUE".
 */
#include "qemu_stubs.h"
#include "arm-virt-kernel-compat.c.inc"

static int print_array(const char *value)
{
    const char *p = value;

    while (*p) {
        char *end;
        unsigned long long v;

        while (*p == ' ') {
            p++;
        }
        v = strtoull(p, &end, 0);
        if (end == p || (*end != ',' && *end != '\0')) {
            fprintf(stderr, "bad array element at '%s'\n", p);
            return 1;
        }
        printf(" 0x%016llx", v);
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

int main(int argc, char **argv)
{
    CompatProps props = { .len = 0 };
    MachineClass mc = { .compat_props = &props };
    const char *seen[256];
    size_t nseen = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s LAYOUT VERSION [NEWER...]\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "chained") == 0) {
        for (int i = 3; i < argc; i++) {
            arm_virt_kernel_compat_add(&mc, argv[i]);
        }
    }
    arm_virt_kernel_compat_add(&mc, argv[2]);

    for (size_t i = 0; i < props.len; i++) {
        GlobalProperty *row = props.rows[i];

        if (strcmp(row->driver, TYPE_ARM_CPU) != 0) {
            fprintf(stderr, "unexpected driver %s\n", row->driver);
            return 1;
        }
        if (strncmp(row->property, "x-mig-", 6) != 0) {
            if (!row->optional) {
                fprintf(stderr, "%s must be optional: it exists only under KVM\n",
                        row->property);
                return 1;
            }
            printf("%s %s\n", row->property, row->value);
            continue;
        }
        for (size_t j = 0; j < nseen; j++) {
            if (strcmp(seen[j], row->property) == 0) {
                fprintf(stderr, "array size property %s may not be set more "
                        "than once\n", row->property);
                return 1;
            }
        }
        seen[nseen++] = row->property;
        if (strchr(row->value, '-')) {
            fprintf(stderr, "ranges are not allowed: %s\n", row->value);
            return 1;
        }
        printf("%s", row->property);
        if (print_array(row->value)) {
            return 1;
        }
        printf("\n");
    }
    return 0;
}
