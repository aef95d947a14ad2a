"""Output ``qemu-glue``: the one file a QEMU tree includes to use compat's C.

``arm-compat-glue.c.inc`` includes the other generated C files (the compat
tables, the tolerances, the guards) and wraps each in one small function
for one hook point in QEMU, so a QEMU patch set adds a line per hook and
never edits QEMU for a registry change.  Each hook point defines one
``ARM_COMPAT_GLUE_*`` macro before the ``#include``:

``ARM_COMPAT_GLUE_MACHINE`` (``hw/arm/virt.c``)
    ``arm_compat_glue_virt_machine(mc, "X.Y")`` after the machine type's
    options chain: adds the machine type's compat table.
``ARM_COMPAT_GLUE_TOLERANCES`` (where ``kvm_arm_set_cpreg_mig_tolerances()`` is)
    ``arm_compat_glue_cpreg_mig_tolerances(cpu)``: registers compat's
    tolerances; returns whether the QEMU should register its own shipped list
    instead.
``ARM_COMPAT_GLUE_GUARDS`` (the one file that checks what migration drops)
    ``arm_compat_glue_check_drop()``, ``arm_compat_glue_check_feature()`` and
    ``arm_compat_glue_check_id_reg()``.

The switch (``COMPAT_RULES`` in QEMU's environment, read once) picks what
acts, so a control run and a treatment run use the same binary.  The file
is the same for every registry: what changes with the registry is in the
files it includes.
"""

from __future__ import annotations

from compat.plugin import output_hooks, OutputSpec, RenderContext
from compat.plugins.c.cgen import file_start
from compat.plugins.c.compat_props import FILENAME as TABLES
from compat.plugins.c.guards import BODY as GUARDS_BODY, HEADER as GUARDS_HEADER
from compat.plugins.c.mig_tolerances import FILENAME as TOLERANCES

FILENAME = "arm-compat-glue.c.inc"
OUTPUT = OutputSpec(
    name="qemu-glue",
    files=(FILENAME,),
    description="the one file QEMU includes at its hook points: includes the compat "
    "tables, tolerances and guards, with the COMPAT_RULES switch",
)

#: COMPAT_RULES values: (value, enumerator, what acts), in the order the file lists them
SWITCH = (
    ("on", "ARM_COMPAT_RULES_ON",
     "compat's tables, compat's tolerances and the guards (the default)"),
    ("off", "ARM_COMPAT_RULES_OFF",
     "nothing of compat's: no tables, no tolerances, no guards"),
    ("tables", "ARM_COMPAT_RULES_TABLES",
     "compat's machine type tables and the guards only"),
    ("tolerances", "ARM_COMPAT_RULES_TOLERANCES",
     "compat's tolerances only"),
    ("stock", "ARM_COMPAT_RULES_STOCK",
     "the tolerances the QEMU tree ships itself instead of compat's (QEMU 11.1's "
     "list), nothing else"),
)


def _intro() -> list[str]:
    values = [f"{value}: {what}." for value, _enum, what in SWITCH]
    return [
        f"The one file a QEMU tree includes to use compat's C: it includes {TABLES}, "
        f"{TOLERANCES}, {GUARDS_HEADER} and {GUARDS_BODY} (keep them beside it) and wraps "
        "each in a function for one hook point. Before each #include, define the macro "
        "of that hook point:",
        "ARM_COMPAT_GLUE_MACHINE in hw/arm/virt.c: call "
        "arm_compat_glue_virt_machine(mc, \"X.Y\") in each machine type's class_init, "
        "after virt_machine_X_Y_options(mc).",
        "ARM_COMPAT_GLUE_TOLERANCES where kvm_arm_set_cpreg_mig_tolerances() is defined "
        "(a file with ARMCPU and the KVM register macros in scope): call "
        "arm_compat_glue_cpreg_mig_tolerances(cpu) first; when it returns true, "
        "register the QEMU's own shipped tolerances.",
        "ARM_COMPAT_GLUE_GUARDS in exactly one file with Error and error_setg() in scope "
        "(target/arm/machine.c): call arm_compat_glue_check_drop() for each register a "
        "migration leaves out, with its value; arm_compat_glue_check_feature() for "
        "each user feature the guards know (\"virtualization\" when a KVM vCPU has EL2); "
        "and arm_compat_glue_check_id_reg() for each ID register of a new KVM vCPU, "
        "with the value KVM gives it.",
        "The environment variable COMPAT_RULES, read once, picks what acts (the binary is "
        "otherwise the same, so a control and a treatment differ in nothing else); "
        "unset or empty means on; another value stops QEMU with an error.",
        *values,
    ]


def _switch() -> list[str]:
    enum = [f"    {name}," for _value, name, _what in SWITCH]
    names = " ".join(f"\"{value}\"" for value, _enum, _what in SWITCH)
    checks = []
    for value, name, _what in SWITCH[1:]:
        checks += [f"    }} else if (strcmp(env, \"{value}\") == 0) {{",
                   f"        rules = {name};"]
    return [
        "#ifndef ARM_COMPAT_GLUE_SWITCH",
        "#define ARM_COMPAT_GLUE_SWITCH",
        "",
        "#include <stdio.h>",
        "#include <stdlib.h>",
        "#include <string.h>",
        "",
        "typedef enum ArmCompatRules {",
        *enum,
        "} ArmCompatRules;",
        "",
        "/* What COMPAT_RULES asks for; read once per file that includes this one. */",
        "static inline ArmCompatRules arm_compat_glue_rules(void)",
        "{",
        "    static int rules = -1;",
        "    const char *env;",
        "",
        "    if (rules >= 0) {",
        "        return (ArmCompatRules)rules;",
        "    }",
        "    env = getenv(\"COMPAT_RULES\");",
        "    if (env == NULL || env[0] == '\\0' || strcmp(env, \"on\") == 0) {",
        f"        rules = {SWITCH[0][1]};",
        *checks,
        "    } else {",
        "        fprintf(stderr, \"COMPAT_RULES=%s: unknown value (use one of \"",
        f"                \"{names.replace(chr(34), chr(92) + chr(34))})\\n\", env);",
        "        exit(1);",
        "    }",
        "    return (ArmCompatRules)rules;",
        "}",
        "",
        "#endif /* ARM_COMPAT_GLUE_SWITCH */",
    ]


def _machine() -> list[str]:
    return [
        "#ifdef ARM_COMPAT_GLUE_MACHINE",
        "#ifndef ARM_COMPAT_GLUE_MACHINE_DONE",
        "#define ARM_COMPAT_GLUE_MACHINE_DONE",
        f"#include \"{TABLES}\"",
        "",
        "/*",
        " * Add the compat table of virt machine type @version (\"10.2\") to @mc,",
        " * unless COMPAT_RULES leaves the tables out.",
        " */",
        "static inline void arm_compat_glue_virt_machine(MachineClass *mc,",
        "                                                const char *version)",
        "{",
        "    ArmCompatRules rules = arm_compat_glue_rules();",
        "",
        "    if (rules == ARM_COMPAT_RULES_ON || rules == ARM_COMPAT_RULES_TABLES) {",
        "        arm_virt_kernel_compat_add(mc, version);",
        "    }",
        "}",
        "#endif",
        "#endif",
    ]


def _tolerances() -> list[str]:
    return [
        "#ifdef ARM_COMPAT_GLUE_TOLERANCES",
        "#ifndef ARM_COMPAT_GLUE_TOLERANCES_DONE",
        "#define ARM_COMPAT_GLUE_TOLERANCES_DONE",
        "/*",
        " * Register compat's cpreg migration tolerances for @cpu, unless",
        " * COMPAT_RULES leaves them out. Returns true when the caller should",
        " * register the QEMU's own shipped tolerances instead (COMPAT_RULES=stock).",
        " */",
        "static inline bool arm_compat_glue_cpreg_mig_tolerances(ARMCPU *cpu)",
        "{",
        "    switch (arm_compat_glue_rules()) {",
        "    case ARM_COMPAT_RULES_ON:",
        "    case ARM_COMPAT_RULES_TOLERANCES:",
        f"#include \"{TOLERANCES}\"",
        "        return false;",
        "    case ARM_COMPAT_RULES_STOCK:",
        "        return true;",
        "    default:",
        "        return false;",
        "    }",
        "}",
        "#endif",
        "#endif",
    ]


def _guard_body(check: str, args: str) -> list[str]:
    """A wrapper's body: ``check`` on the machine type, unless the guards are
    off or the machine type is not compat's."""
    return [
        "{",
        "    int m = arm_compat_machine_from_name(machine);",
        "",
        "    if (!arm_compat_glue_guards_on() || m < 0) {",
        "        return true;",
        "    }",
        f"    return {check}((ArmCompatMachine)m, {args}, errp);",
        "}",
    ]


def _guards() -> list[str]:
    return [
        "#ifdef ARM_COMPAT_GLUE_GUARDS",
        "#ifndef ARM_COMPAT_GLUE_GUARDS_DONE",
        "#define ARM_COMPAT_GLUE_GUARDS_DONE",
        f"#include \"{GUARDS_BODY}\"",
        "",
        "static inline bool arm_compat_glue_guards_on(void)",
        "{",
        "    ArmCompatRules rules = arm_compat_glue_rules();",
        "",
        "    return rules == ARM_COMPAT_RULES_ON || rules == ARM_COMPAT_RULES_TABLES;",
        "}",
        "",
        "/*",
        " * Check that register @regidx, which a migration under machine type",
        " * @machine (\"virt-10.2\") leaves out, holds a @value that makes this safe.",
        " * Returns true if it does (or the guards are off, or compat does not know",
        " * the machine type), else sets @errp.",
        " */",
        "static inline bool arm_compat_glue_check_drop(const char *machine,",
        "                                              uint64_t regidx, uint64_t value,",
        "                                              Error **errp)",
        *_guard_body("arm_compat_check_drop", "regidx, value"),
        "",
        "/*",
        " * Refuse user feature @feature (\"impl-cpu\", or \"virtualization\" for a KVM",
        " * vCPU with EL2) on machine type @machine when the machine type's promise",
        " * cannot keep it. Returns true if it may be used, else sets @errp.",
        " */",
        "static inline bool arm_compat_glue_check_feature(const char *machine,",
        "                                                const char *feature,",
        "                                                Error **errp)",
        *_guard_body("arm_compat_check_feature", "feature"),
        "",
        "/*",
        " * Refuse machine type @machine on this host when ID register @regidx of a",
        " * new KVM vCPU reads @value and one of its fields breaks the machine type's",
        " * promise with no pin to lower it. Returns true if the machine type may",
        " * run here, else sets @errp.",
        " */",
        "static inline bool arm_compat_glue_check_id_reg(const char *machine,",
        "                                                uint64_t regidx, uint64_t value,",
        "                                                Error **errp)",
        *_guard_body("arm_compat_check_id_reg", "regidx, value"),
        "#endif",
        "#endif",
    ]


def render(context: RenderContext) -> str:
    """The text of ``arm-compat-glue.c.inc``."""
    head = file_start("arm64 KVM register compat: glue for QEMU's hook points",
                      context.source_name, _intro())
    body = [_switch(), _machine(), _tolerances(), _guards()]
    return head + "\n" + "\n\n".join("\n".join(part) for part in body) + "\n"


def render_files(context: RenderContext) -> dict[str, str]:
    return {FILENAME: render(context)}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)
