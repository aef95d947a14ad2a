/*
 * Run the generated guards.
 *
 *   guards_harness rule MACHINE INDEX
 *   guards_harness feature MACHINE FEATURE
 *   guards_harness drop MACHINE INDEX VALUE
 *   guards_harness pin MACHINE INDEX
 *   guards_harness idreg MACHINE INDEX VALUE
 *   guards_harness batch        (one such command a line on stdin, words
 *                                separated by tabs)
 *
 * Prints the answer or the error message; exits 0 when the guard allows
 * the action, 1 when it refuses, 2 on a usage error.  In batch mode each
 * command's answer is "STATUS LENGTH\n" and then LENGTH bytes of what it
 * would have printed, so one process answers many commands.
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

static int answer(int argc, char **argv, FILE *out)
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

        fprintf(out, "%s %s\n", rule_name(arm_compat_reg_rule(machine, index)),
               arm_compat_reg_is_hidden(machine, index) ? "hidden" : "visible");
        return 0;
    }
    if (strcmp(argv[1], "pin") == 0) {
        uint64_t value = 0;
        const char *property = NULL;

        if (arm_compat_reg_pinned(machine, strtoull(argv[3], NULL, 0), &value,
                                  &property)) {
            fprintf(out, "pinned 0x%" PRIx64 " %s\n", value, property);
        } else {
            fprintf(out, "not-pinned\n");
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
        fprintf(out, "%s\n", err->msg);
        free(err);
        return 1;
    }
    fprintf(out, "ok %s\n", arm_compat_machine_name(machine));
    return 0;
}

/* "batch": answer every line of stdin as one command line. */
static int batch(void)
{
    char line[4096];

    while (fgets(line, sizeof(line), stdin)) {
        char *words[8] = { "guards_harness" };
        int count = 1;
        char *buffer = NULL;
        size_t length = 0;
        FILE *out = open_memstream(&buffer, &length);
        int status;

        line[strcspn(line, "\n")] = '\0';
        for (char *word = strtok(line, "\t"); word && count < 8; word = strtok(NULL, "\t")) {
            words[count++] = word;
        }
        status = answer(count, words, out);
        fclose(out);
        printf("%d %zu\n", status, length);
        fwrite(buffer, 1, length, stdout);
        free(buffer);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "batch") == 0) {
        return batch();
    }
    return answer(argc, argv, stdout);
}
