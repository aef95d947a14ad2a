"""Output ``guards``: C that enforces the registry's safety conditions at run time.

Hiding or tolerating a register is only correct while nothing relies on its
value.  The generated code lets QEMU turn a silent guest-visible change into
a clear error:

- ``arm_compat_check_feature()`` refuses a user feature that writes a
  register the machine type hides (``impl-cpu`` on ``virt-10.1``), and a
  vCPU feature whose registers the machine type's promise cannot keep
  (``virtualization``: QEMU's virt board asks for it when
  ``virtualization=on`` runs under KVM, a nested vCPU; refused on the
  machine types whose promise spans Linux 6.17's removal of the vGIC's
  EL2 registers from KVM_GET_REG_LIST);
- ``arm_compat_check_drop()`` checks a register's value against its
  ``safe-when`` condition before it is dropped from a migration;
- ``arm_compat_reg_rule()`` answers whether a register is hidden or
  tolerated for a machine type, by binary search over a sorted table;
- ``arm_compat_reg_pinned()`` answers which value a machine type pins a
  register to through a CPU property (value rules: ``kvm-psci-version``).

Every rule comes from the resolved view (:meth:`RenderContext.resolved`),
the one that ``compat explain``, the docs and ``registry.json`` read.

The code is self-contained C11 (stdint, stdbool); errors go through one hook,
``ARM_COMPAT_ERROR(errp, fmt, ...)``, which defaults to QEMU's
``error_setg()``.
"""

from __future__ import annotations

from compat.plugin import (c_comment, c_string, c_string_lines, format_index, HIDE,
                           MachineVersion, MachineView, output_hooks, OutputSpec, PluginError,
                           RenderContext, Rule)
from compat.plugins.c.cgen import QEMU_GUARDS, file_start, include_guard

HEADER = "arm-compat-guards.h"
BODY = "arm-compat-guards.c.inc"
OUTPUT = OutputSpec(
    name="guards",
    files=(HEADER, BODY),
    description="runtime guards: refuse features whose registers a machine type "
    "hides, check values before dropping registers, look up rules",
)

RULE_NAMES = {None: "ARM_COMPAT_REG_MIGRATED", HIDE: "ARM_COMPAT_REG_HIDDEN",
              "tolerate-missing": "ARM_COMPAT_REG_SAFE_MISSING"}


def machine_enum(machine: MachineVersion) -> str:
    """``ARM_COMPAT_MACHINE_VIRT_10_1``."""
    return "ARM_COMPAT_MACHINE_" + machine.ident.upper()


def _check_identifiers(machines: list[MachineVersion]) -> None:
    seen: dict[str, MachineVersion] = {}
    for machine in machines:
        ident = machine_enum(machine)
        if ident in seen:
            raise PluginError(f"machine types '{seen[ident].name}' and '{machine.name}' both "
                              f"become the C identifier {ident}; rename one", machine.location)
        seen[ident] = machine


def drop_hint(view: MachineView, rule: Rule) -> str:
    """What to do when a register's value makes dropping it unsafe."""
    users = [r for r in view.refusals if r.refusal.register.name == rule.register.name]
    if users:
        fix = users[0].oldest_allowing
        names = ", ".join(sorted({r.feature for r in users}))
        return (f"it is set by {names}: disable it"
                + (f" or use machine type {fix} or newer" if fix else ""))
    return "do not migrate this VM to a host without the register"


def render_header(context: RenderContext) -> str:
    machines = context.registry.machine_versions()
    _check_identifiers(machines)
    guard = include_guard(HEADER)
    usage = [
        "Include after qapi/error.h (or any definition of Error and "
        "error_setg()); include " + BODY + " in exactly one C file.  "
        "Define ARM_COMPAT_ERROR(errp, ...) first to report errors another way.",
        QEMU_GUARDS,
    ]
    lines = [file_start("arm64 KVM register compat guards", context.source_name, usage),
             f"#ifndef {guard}", f"#define {guard}", "",
             "#include <stdbool.h>", "#include <stddef.h>", "#include <stdint.h>", "",
             "#ifndef ARM_COMPAT_ERROR",
             "#define ARM_COMPAT_ERROR(errp, ...) error_setg(errp, __VA_ARGS__)",
             "#endif", "",
             "typedef struct Error Error;", "",
             "typedef enum ArmCompatMachine {"]
    lines += [f"    {machine_enum(m)}," for m in machines]
    lines += ["    ARM_COMPAT_MACHINE__MAX,", "} ArmCompatMachine;", "",
              c_comment("What a machine type does with a register in migration."),
              "typedef enum ArmCompatRegRule {",
              "    ARM_COMPAT_REG_MIGRATED,     /* no rule: migrated as is */",
              "    ARM_COMPAT_REG_HIDDEN,       /* x-mig-hidden-regs */",
              "    ARM_COMPAT_REG_SAFE_MISSING, /* x-mig-safe-missing-regs */",
              "} ArmCompatRegRule;", "",
              c_comment("The machine type called @name (\"virt-10.1\"), or -1."),
              "int arm_compat_machine_from_name(const char *name);", "",
              c_comment("The name of @machine (\"virt-10.1\")."),
              "const char *arm_compat_machine_name(ArmCompatMachine machine);", "",
              c_comment("The rule of register @regidx on @machine; O(log n)."),
              "ArmCompatRegRule arm_compat_reg_rule(ArmCompatMachine machine,",
              "                                     uint64_t regidx);", "",
              c_comment("Whether @machine hides register @regidx from migration."),
              "bool arm_compat_reg_is_hidden(ArmCompatMachine machine, uint64_t regidx);", "",
              c_comment(["Refuse user feature @feature (\"impl-cpu\") if it writes a "
                         "register @machine hides or may drop, and \"virtualization\" "
                         "(call it when virtualization=on runs under KVM: a nested vCPU) "
                         "if @machine's promise spans a change nested vCPUs cannot "
                         "survive.  Returns true if the feature may be used, else sets "
                         "@errp."]),
              "bool arm_compat_check_feature(ArmCompatMachine machine, const char *feature,",
              "                              Error **errp);", "",
              c_comment(["Check that register @regidx, about to be left out of a "
                         "migration by @machine, has a @value that makes this safe.  "
                         "Returns true if it may be dropped (or is not dropped at all), "
                         "else sets @errp."]),
              "bool arm_compat_check_drop(ArmCompatMachine machine, uint64_t regidx,",
              "                           uint64_t value, Error **errp);", "",
              c_comment(["Whether @machine pins register @regidx to a value through a "
                         "CPU property (value rules: a destination kernel refuses "
                         "newer values); if so, stores it in @value (may be NULL) and "
                         "the property setting (\"kvm-psci-version=1.1\") in "
                         "@property (may be NULL)."]),
              "bool arm_compat_reg_pinned(ArmCompatMachine machine, uint64_t regidx,",
              "                           uint64_t *value, const char **property);", "",
              c_comment(["Refuse @machine on a host whose ID register @regidx reads "
                         "@value (KVM_GET_ONE_REG on a new vCPU) when one of its fields "
                         "breaks the machine type's promise and no pin can lower it "
                         "(docs/id-registers.md).  Returns true if the machine type may "
                         "run here, else sets @errp."]),
              "bool arm_compat_check_id_reg(ArmCompatMachine machine, uint64_t regidx,",
              "                             uint64_t value, Error **errp);", "",
              f"#endif /* {guard} */"]
    return "\n".join(lines) + "\n"


def _reg_entry(rule: Rule, hint: str) -> list[str]:
    """One table row; ``hint`` is the C name of a shared hint string."""
    reg = rule.register
    checked = rule.register.safe_when is not None
    mask = reg.safe_when.mask if reg.safe_when else 0
    value = reg.safe_when.value if reg.safe_when else 0
    return [
        c_comment(reg.name, indent="    "),
        f"    {{ UINT64_C({format_index(reg.index)}), {RULE_NAMES[rule.kind]},",
        f"      {'true' if checked else 'false'}, UINT64_C(0x{mask:016x}), UINT64_C(0x{value:016x}),",
        f"      {c_string(reg.name)},",
        f"      {hint} }},",
    ]


def render_body(context: RenderContext) -> str:
    view = context.resolved()
    guard = include_guard(BODY)
    lines = [file_start("arm64 KVM register compat guards: tables and checks",
                        context.source_name, [QEMU_GUARDS]),
             f"#ifndef {guard}", f"#define {guard}", "",
             f"#include \"{HEADER}\"", "",
             "#include <assert.h>", "#include <inttypes.h>", "#include <string.h>", "",
             "typedef struct ArmCompatRegEntry {",
             "    uint64_t index;",
             "    ArmCompatRegRule rule;",
             "    bool checked;       /* drop only if (value & mask) == this value */",
             "    uint64_t mask;",
             "    uint64_t value;",
             "    const char *name;",
             "    const char *hint;   /* what to do when the check fails */",
             "} ArmCompatRegEntry;", "",
             "typedef struct ArmCompatRefusal {",
             "    const char *feature;",
             "    const char *message;",
             "} ArmCompatRefusal;", "",
             "typedef struct ArmCompatPin {",
             "    uint64_t index;",
             "    uint64_t value;",
             "    const char *property; /* \"kvm-psci-version=1.1\" */",
             "} ArmCompatPin;", "",
             "typedef struct ArmCompatIdBreak {",
             "    uint64_t index;   /* the ID register */",
             "    uint64_t mask;    /* the field */",
             "    uint64_t value;   /* the field's value on hosts it breaks */",
             "    const char *message;",
             "} ArmCompatIdBreak;", "",
             "typedef struct ArmCompatMachineInfo {",
             "    const char *name;",
             "    const ArmCompatRegEntry *regs;     /* sorted by index */",
             "    size_t n_regs;",
             "    const ArmCompatRefusal *refusals;",
             "    size_t n_refusals;",
             "    const ArmCompatPin *pins;          /* sorted by index */",
             "    size_t n_pins;",
             "    const ArmCompatIdBreak *id_breaks;",
             "    size_t n_id_breaks;",
             "} ArmCompatMachineInfo;", "",
             "#define ARM_COMPAT_N(array) (sizeof(array) / sizeof((array)[0]))", ""]
    infos = []
    # Each distinct hint is one static string the table rows point to (a
    # large registry has thousands of rows and a handful of hints).
    hints: dict[str, str] = {}
    entries: dict[tuple[str, str, str], list[str]] = {}
    tables: list[str] = []
    for mv in view.machines:
        rules = mv.rules
        ident = rules.machine.ident
        regs = sorted(rules.hidden + rules.tolerated, key=lambda r: r.index)
        regs_name = f"arm_compat_regs_{ident}" if regs else "NULL"
        refused = mv.refusals or mv.vcpu_refusals
        ref_name = f"arm_compat_refusals_{ident}" if refused else "NULL"
        pin_name = f"arm_compat_pins_{ident}" if mv.pins else "NULL"
        if regs:
            tables.append(f"static const ArmCompatRegEntry {regs_name}[] = {{")
            for rule in regs:
                hint = drop_hint(mv, rule)
                name = hints.get(hint)
                if name is None:
                    name = hints[hint] = f"arm_compat_hint_{len(hints)}"
                key = (rule.register.name, rule.kind, name)
                entry = entries.get(key)
                if entry is None:   # the same row on every machine type with the rule
                    entry = entries[key] = _reg_entry(rule, name)
                tables += entry
            tables += ["};", ""]
        if refused:
            tables.append(f"static const ArmCompatRefusal {ref_name}[] = {{")
            for refusal in mv.refusals:
                tables.append(f"    {{ {c_string(refusal.feature)},")
                tables += c_string_lines(refusal.message, "      ", tail=" },")
            for vcpu in mv.vcpu_refusals:
                why = ", ".join(sorted({c.describe() for c in vcpu.refusal.reasons}))
                tables.append(c_comment(f"vCPU feature {vcpu.feature}: {why}", indent="    "))
                tables.append(f"    {{ {c_string(vcpu.property)},")
                tables += c_string_lines(vcpu.message, "      ", tail=" },")
            tables += ["};", ""]
        if mv.pins:
            tables.append(f"static const ArmCompatPin {pin_name}[] = {{")
            for pin in mv.pins:
                tables += [c_comment(f"{pin.register.name}: the most Linux "
                                     f"{rules.machine.min_kernel} accepts; Linux "
                                     f"{pin.forced_by.kernel} ({pin.forced_by.commit}) "
                                     f"raised it", indent="    "),
                           f"    {{ UINT64_C({format_index(pin.register.index)}), "
                           f"UINT64_C({pin.value:#x}),"]
                tables += c_string_lines(f"{pin.register.cpu_property.name}="
                                         f"{pin.property_value}", "      ", tail=" },")
            tables += ["};", ""]
        brk_name = f"arm_compat_id_breaks_{ident}" if mv.id_breaks else "NULL"
        if mv.id_breaks:
            tables += _id_break_rows(view, mv, brk_name)
        n_brk = f"ARM_COMPAT_N({brk_name})" if mv.id_breaks else "0"
        n_regs = f"ARM_COMPAT_N({regs_name})" if regs else "0"
        n_refs = f"ARM_COMPAT_N({ref_name})" if refused else "0"
        n_pins = f"ARM_COMPAT_N({pin_name})" if mv.pins else "0"
        infos.append((rules.machine, regs_name, n_regs, ref_name, n_refs, pin_name, n_pins,
                      brk_name, n_brk))
    if hints:
        lines.append(c_comment("What to do when a register's value makes dropping it "
                               "unsafe (ArmCompatRegEntry.hint)."))
    for hint, name in hints.items():
        lines.append(f"static const char {name}[] =")
        lines += c_string_lines(hint, "    ", tail=";")
    if hints:
        lines.append("")
    lines += tables
    lines.append("static const ArmCompatMachineInfo arm_compat_machines[] = {")
    for machine, regs_name, n_regs, ref_name, n_refs, pin_name, n_pins, brk, n_brk in infos:
        lines += [f"    [{machine_enum(machine)}] = {{",
                  f"        {c_string(machine.name)},",
                  f"        {regs_name},",
                  f"        {n_regs},",
                  f"        {ref_name},",
                  f"        {n_refs},",
                  f"        {pin_name},",
                  f"        {n_pins},",
                  f"        {brk},",
                  f"        {n_brk},",
                  "    },"]
    lines += ["};", ""]
    lines += _FUNCTIONS.splitlines()
    lines += ["", f"#endif /* {guard} */"]
    return "\n".join(lines) + "\n"


def _id_break_rows(view, mv, name: str) -> list[str]:
    """The ID fields that break ``mv``'s promise (compat.qemu.id_rules), with
    the start-up guard's message."""
    rows = [f"static const ArmCompatIdBreak {name}[] = {{"]
    for brk in mv.id_breaks:
        reg = view.registry.registers[brk.field.register]
        rows += [c_comment(brk.field.name, indent="    "),
                 f"    {{ UINT64_C({format_index(reg.index)}), "
                 f"UINT64_C({brk.field.mask:#x}), UINT64_C({brk.host_value:#x}),"]
        rows += c_string_lines(brk.guard_message(), "      ", tail=" },")
    return rows + ["};", ""]


_FUNCTIONS = r'''
static const ArmCompatMachineInfo *arm_compat_machine(ArmCompatMachine machine)
{
    assert((unsigned)machine < ARM_COMPAT_MACHINE__MAX);
    return &arm_compat_machines[machine];
}

int arm_compat_machine_from_name(const char *name)
{
    for (int i = 0; i < ARM_COMPAT_MACHINE__MAX; i++) {
        if (strcmp(arm_compat_machines[i].name, name) == 0) {
            return i;
        }
    }
    return -1;
}

const char *arm_compat_machine_name(ArmCompatMachine machine)
{
    return arm_compat_machine(machine)->name;
}

static const ArmCompatRegEntry *arm_compat_find_reg(ArmCompatMachine machine,
                                                    uint64_t regidx)
{
    const ArmCompatMachineInfo *info = arm_compat_machine(machine);
    size_t lo = 0, hi = info->n_regs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t index = info->regs[mid].index;

        if (index == regidx) {
            return &info->regs[mid];
        }
        if (index < regidx) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

ArmCompatRegRule arm_compat_reg_rule(ArmCompatMachine machine, uint64_t regidx)
{
    const ArmCompatRegEntry *entry = arm_compat_find_reg(machine, regidx);

    return entry ? entry->rule : ARM_COMPAT_REG_MIGRATED;
}

bool arm_compat_reg_is_hidden(ArmCompatMachine machine, uint64_t regidx)
{
    return arm_compat_reg_rule(machine, regidx) == ARM_COMPAT_REG_HIDDEN;
}

bool arm_compat_check_feature(ArmCompatMachine machine, const char *feature,
                              Error **errp)
{
    const ArmCompatMachineInfo *info = arm_compat_machine(machine);

    for (size_t i = 0; i < info->n_refusals; i++) {
        if (strcmp(info->refusals[i].feature, feature) == 0) {
            ARM_COMPAT_ERROR(errp, "%s", info->refusals[i].message);
            return false;
        }
    }
    return true;
}

bool arm_compat_check_drop(ArmCompatMachine machine, uint64_t regidx,
                           uint64_t value, Error **errp)
{
    const ArmCompatRegEntry *entry = arm_compat_find_reg(machine, regidx);

    if (!entry || !entry->checked || (value & entry->mask) == entry->value) {
        return true;
    }
    ARM_COMPAT_ERROR(errp, "%s (0x%016" PRIx64 ") is 0x%" PRIx64 " on "
                     "machine type %s, which drops it from migration only "
                     "when (value & 0x%" PRIx64 ") == 0x%" PRIx64 ": the "
                     "guest would lose that state; %s",
                     entry->name, entry->index, value,
                     arm_compat_machine(machine)->name, entry->mask,
                     entry->value, entry->hint);
    return false;
}

bool arm_compat_reg_pinned(ArmCompatMachine machine, uint64_t regidx,
                           uint64_t *value, const char **property)
{
    const ArmCompatMachineInfo *info = arm_compat_machine(machine);

    for (size_t i = 0; i < info->n_pins; i++) {
        if (info->pins[i].index == regidx) {
            if (value) {
                *value = info->pins[i].value;
            }
            if (property) {
                *property = info->pins[i].property;
            }
            return true;
        }
    }
    return false;
}

bool arm_compat_check_id_reg(ArmCompatMachine machine, uint64_t regidx,
                             uint64_t value, Error **errp)
{
    const ArmCompatMachineInfo *info = arm_compat_machine(machine);

    for (size_t i = 0; i < info->n_id_breaks; i++) {
        const ArmCompatIdBreak *brk = &info->id_breaks[i];

        if (brk->index == regidx && (value & brk->mask) == brk->value) {
            ARM_COMPAT_ERROR(errp, "%s", brk->message);
            return false;
        }
    }
    return true;
}'''


def render_files(context: RenderContext) -> dict[str, str]:
    return {HEADER: render_header(context), BODY: render_body(context)}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)
