"""Output ``compat-props``: QEMU ``GlobalProperty`` compat tables.

For every machine version, a ``static GlobalProperty`` table with at most one
``x-mig-hidden-regs`` and one ``x-mig-safe-missing-regs`` row holding the
machine's whole (cumulative) list, plus its ``_len``.  Before rendering, the
tables are replayed through QEMU's options chain (:mod:`compat.qemu.chain`)
in ``compat_validate``, so a registry whose tables would make QEMU abort is
rejected by ``compat validate`` as well as by ``compat build``.  The values
a machine type pins (and the kernel that forced each pin) come from the
resolved view (:meth:`RenderContext.resolved`), as in the docs and explain.
"""

from __future__ import annotations

from compat.plugin import (c_comment, c_string, c_string_lines, CompatError, Derivation,
                           Diagnostic, hookimpl, MachineFamily, MachineRules,
                           output_hooks, OutputSpec, Registry, RenderContext, Rule)
from compat.plugins.c.cgen import (QEMU_COMPAT_PROPS, file_start, include_guard, index_list,
                                   rule_summary)
from compat.qemu.chain import HIDDEN_PROPERTY, SAFE_MISSING_PROPERTY, Row, replay_chain
from compat.qemu.value_rules import Pin
from compat.qemu.id_rules import ID_PROPERTIES_WHO

FILENAME = "arm-virt-kernel-compat.c.inc"
OUTPUT = OutputSpec(
    name="compat-props",
    files=(FILENAME,),
    description="per machine version GlobalProperty tables setting x-mig-hidden-regs "
    "and x-mig-safe-missing-regs on the CPU",
)


def table_name(family: str, version: str) -> str:
    """``arm_virt_kernel_compat_10_1``."""
    ident = "".join(c if c.isalnum() else "_" for c in version)
    return f"arm_{family}_kernel_compat_{ident}"


def _wanted(rules: MachineRules) -> dict[str, tuple[Rule, ...]]:
    return {HIDDEN_PROPERTY: rules.hidden, SAFE_MISSING_PROPERTY: rules.tolerated}


def build_tables(family: MachineFamily, derivation: Derivation) -> dict[str, list[tuple[Row, tuple[Rule, ...]]]]:
    """Rows per machine version of ``family``, laid out for its compat-layout.

    ``per-version``: each machine's table holds its full lists.  ``chained``:
    a machine's table has a row only where its list differs from the one it
    inherits from newer machine types (which QEMU then rejects if a newer
    type already set the property; :func:`check_tables` reports that).
    """
    tables: dict[str, list[tuple[Row, tuple[Rule, ...]]]] = {}
    inherited: dict[str, tuple[int, ...]] = {}
    for machine in family.versions:                       # newest first
        rules = derivation.for_machine(machine.name)
        assert rules is not None
        rows = []
        for prop, chosen in _wanted(rules).items():
            values = tuple(sorted({r.index for r in chosen}))
            if family.layout == "chained":
                if values == inherited.get(prop, ()):
                    continue
                inherited[prop] = values
            if values:
                rows.append((Row(family.cpu_driver, prop, values), chosen))
        tables[machine.version] = rows
    return tables


def check_tables(registry: Registry, derivation: Derivation) -> list[Diagnostic]:
    """Replay every family's tables through QEMU's chain; check the result."""
    problems: list[Diagnostic] = []
    for family in registry.machines.values():
        tables = build_tables(family, derivation)
        try:
            applied = replay_chain(family, {v: [row for row, _ in rows] for v, rows in tables.items()})
        except CompatError as exc:
            problems.extend(exc.diagnostics)
            continue
        for machine in family.versions:
            rules = derivation.for_machine(machine.name)
            for prop, chosen in _wanted(rules).items():
                want = tuple(sorted({r.index for r in chosen}))
                got = applied[machine.version].get(prop, ())
                if got != want:
                    problems.append(Diagnostic(
                        machine.location,
                        f"machine type {machine.name} would get {prop} = "
                        f"[{', '.join(index_list(got))}] from QEMU's chain of compat tables, "
                        f"but needs [{', '.join(index_list(want))}]",
                        context=f"machine type '{machine.name}'",
                        hint=f"use compat-layout = \"per-version\" for family '{family.name}'"))
    return problems


def _usage(family: MachineFamily) -> list[str]:
    add = f"arm_{family.name}_kernel_compat_add"
    if family.layout == "per-version":
        return [
            f"Machine family '{family.name}', per-version layout.  Every table holds "
            "the machine type's complete lists, so QEMU must add exactly one table "
            "per machine type, after the options chain has run: in the class_init "
            f"that DEFINE_VIRT_MACHINE generates, after virt_machine_X_Y_options(mc), "
            f"call {add}(mc, \"X.Y\").  Calling it inside the chained options "
            "functions would set each array property once per newer machine type "
            "and abort QEMU.",
        ]
    return [
        f"Machine family '{family.name}', chained layout.  virt_machine_X_Y_options() "
        "calls the newer machine type's options first, so a machine type inherits "
        f"every newer table; call {add}(mc, \"X.Y\") in each options function "
        "after the call to the newer one.  compat has replayed that chain: no "
        "machine type sets an array property more than once.",
    ]


def _render_row(row: Row, rules: tuple[Rule, ...]) -> list[str]:
    out = [c_comment([rule_summary(r) for r in rules], indent="    ")]
    values = index_list(row.values)
    driver, prop = row.driver, c_string(row.property)
    one = f"    {{ {driver}, {prop}, \"{', '.join(values)}\" }},"
    if len(one) <= 80:
        out.append(one)
    else:
        out.append(f"    {{ {driver}, {prop},")
        out.extend(c_string_lines(", ".join(values), "      ", tail=" },"))
    return out


def _render_pin(family: MachineFamily, machine, pin: Pin) -> list[str]:
    """A scalar CPU property row pinning a register's value (value rules).
    A scalar property may be set by several tables (the last one wins), so
    chained layouts need no care; ``.optional`` because QEMU adds kvm-*
    properties only under KVM, and a missing property would abort TCG."""
    reg, prop, limit, raised = pin.register, pin.register.cpu_property, pin.limit, pin.forced_by
    comment = [f"{reg.name} ({index_list((reg.index,))[0]}): Linux {raised.kernel} "
               f"({raised.commit}) {pin.raised()}, Linux "
               f"{machine.min_kernel} at most {limit.max:#x}: pin the older value so a "
               f"source on a newer host sends what every promised destination accepts. "
               f"{prop.name} exists from QEMU {prop.qemu} on."]
    optional = ", .optional = true" if prop.accel else ""
    return [c_comment(comment, indent="    "),
            f"    {{ {family.cpu_driver}, {c_string(prop.name)}, "
            f"{c_string(pin.property_value)}{optional} }},"]


def _render_id_pin(family: MachineFamily, machine, pin) -> list[str]:
    """A host-model property row lowering an ID field on the source, so a
    source on a newer kernel sends what every promised destination accepts
    (``.optional``: no QEMU release has the property; one without it skips
    the row, and the migration then fails on the ID register)."""
    f = pin.field
    where = f" on hosts with {f.cpu_feature}" if f.cpu_feature else ""
    hides = ", ".join(r.name for r in pin.hides)
    comment = [f"{f.name}: {f.since} advertises {f.value}{where}, "
               f"Linux {machine.min_kernel} refuses it; lower it on the source (writable "
               f"from Linux {f.writable_from})" + (f", which also hides {hides}" if hides else "")
               + f". {pin.qemu_property} is one of {ID_PROPERTIES_WHO}."]
    return [c_comment(comment, indent="    "),
            f"    {{ {family.cpu_driver}, {c_string(pin.qemu_property)}, "
            f"{c_string(pin.property_value)}, .optional = true }},"]


def render(context: RenderContext) -> str:
    """The text of ``arm-virt-kernel-compat.c.inc``."""
    registry, derivation, view = context.registry, context.derivation, context.resolved()
    guard = include_guard(FILENAME)
    intro = [
        "Machine-type compat properties for cross-kernel migration of arm64 "
        "vCPUs.  x-mig-hidden-regs removes registers from the CPU's cpreg list "
        "(never synced, never migrated: fixes migration from a newer host kernel "
        "that exposes them); x-mig-safe-missing-regs lets registers arrive that "
        "the destination lacks (fixes migration to a newer kernel that stopped "
        "exposing them).  Both are uint64 array properties of the CPU: QEMU "
        "accepts one setting per object, so every table below has at most one "
        "row per property, holding the machine type's whole list.",
        QEMU_COMPAT_PROPS,
    ]
    parts = [file_start("arm64 KVM register compat properties per machine type",
                        context.source_name, intro),
             f"#ifndef {guard}", f"#define {guard}", ""]
    for family in registry.machines.values():
        tables = build_tables(family, derivation)
        parts += [c_comment(_usage(family)), ""]
        inherited_pins: set[tuple[str, int]] = set()
        with_pins: dict[str, list] = {}
        for machine in family.versions:
            rows = tables[machine.version]
            pins = view.machine(machine.name).pins     # type: ignore[union-attr]
            if family.layout == "chained":      # older types inherit newer tables' rows
                pins = tuple(p for p in pins if (p.register.name, p.value) not in inherited_pins)
                inherited_pins.update((p.register.name, p.value) for p in pins)
            name = table_name(family.name, machine.version)
            promise = (f"{machine.name}: migrates between hosts running Linux "
                       f"{machine.min_kernel} and later")
            id_pins = view.machine(machine.name).id_pins     # type: ignore[union-attr]
            if family.layout == "chained":
                id_pins = tuple(p for p in id_pins if (p.field.name, p.value) not in inherited_pins)
                inherited_pins.update((p.field.name, p.value) for p in id_pins)
            with_pins[machine.version] = rows or list(pins) or list(id_pins)
            if not rows and not pins and not id_pins:
                parts += [c_comment(promise + "; nothing to hide or tolerate"
                                    + ("" if family.layout == "per-version"
                                       else " beyond what newer machine types set")), ""]
                continue
            parts.append(c_comment(promise))
            parts.append(f"static GlobalProperty {name}[] = {{")
            for row, rules in rows:
                parts.extend(_render_row(row, rules))
            for pin in pins:
                parts.extend(_render_pin(family, machine, pin))
            for id_pin in id_pins:
                parts.extend(_render_id_pin(family, machine, id_pin))
            parts += ["};", f"static const size_t {name}_len =",
                      f"    G_N_ELEMENTS({name});", ""]
        parts += _add_function(family, with_pins)
    parts += [f"#endif /* {guard} */"]
    return "\n".join(parts) + "\n"


def _add_function(family: MachineFamily, tables: dict[str, list]) -> list[str]:
    func = f"arm_{family.name}_kernel_compat_add"
    out = [
        c_comment([f"{func}: add the compat table of {family.name} machine type "
                   "@version (\"10.1\") to @mc; a version without a table adds nothing."]),
        f"static inline void {func}(MachineClass *mc,",
        " " * len(f"static inline void {func}(") + "const char *version)",
        "{",
    ]
    with_rows = [m for m in family.versions if tables[m.version]]
    for machine in with_rows:
        name = table_name(family.name, machine.version)
        out += [f"    if (strcmp(version, {c_string(machine.version)}) == 0) {{",
                f"        compat_props_add(mc->compat_props, {name},",
                f"                         {name}_len);",
                "        return;",
                "    }"]
    if not with_rows:
        out.append("    (void)mc;")
        out.append("    (void)version;")
    out += ["}", ""]
    return out


def render_files(context: RenderContext) -> dict[str, str]:
    return {FILENAME: render(context)}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)


@hookimpl
def compat_validate(registry: Registry, derivation: Derivation) -> list[Diagnostic]:
    """Reject tables that would make QEMU abort (see :func:`check_tables`);
    warn about promises no ID field pin keeps (:mod:`compat.qemu.id_rules`)."""
    from compat.qemu.id_rules import id_rules_for
    broken = [Diagnostic(b.field.location, b.message(), hint=b.hint(), severity="warning")
              for m in registry.machine_versions() for b in id_rules_for(registry, m)[1]]
    return check_tables(registry, derivation) + broken
