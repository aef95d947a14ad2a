"""Output ``mig-tolerances``: the body of QEMU's ``kvm_arm_set_cpreg_mig_tolerances()``.

QEMU master (expected in 11.1) tolerates registers per CPU rather than per
machine type: ``arm_register_cpreg_mig_tolerance(cpu, regidx, mask, value,
type)``.  A register compat tolerates as missing becomes
``ToleranceNotOnBothEnds``; a hidden register with a ``safe-when``
condition becomes ``ToleranceOnlySrcTestValue`` (it may be dropped for a
destination that lacks it only while ``value & mask == expected``).  Only
KVM-side facts apply: TCG-only and QEMU-side changes are handled by
machine types.
"""

from __future__ import annotations

from compat.plugin import (c_comment, output_hooks, OutputSpec, Register, Registry,
                           RenderContext)
from compat.plugins.c.cgen import file_start, provenance, u64_literal

FILENAME = "arm-cpreg-mig-tolerances.c.inc"
OUTPUT = OutputSpec(
    name="mig-tolerances",
    files=(FILENAME,),
    description="arm_register_cpreg_mig_tolerance() calls for QEMU master's "
    "kvm_arm_set_cpreg_mig_tolerances()",
)

CALL = "arm_register_cpreg_mig_tolerance"


def tolerated_registers(registry: Registry) -> list[Register]:
    """Registers with a compat rule and a kernel-side change that KVM sees."""
    return sorted((r for r in registry.registers.values()
                   if r.compat is not None
                   and any(c.kernel is not None and c.accel in (None, "kvm") for c in r.changes)),
                  key=lambda r: r.index)


def tolerance(register: Register) -> tuple[int, int, str]:
    """(mask, value, type) of the register's tolerance: a register whose
    value matters may only be dropped while its source value passes."""
    if register.safe_when is not None:
        return register.safe_when.mask, register.safe_when.value, "ToleranceOnlySrcTestValue"
    return 0, 0, "ToleranceNotOnBothEnds"


def call_lines(register: Register) -> list[str]:
    """One registration, wrapped the way QEMU wraps long calls."""
    mask, value, kind = tolerance(register)
    head = f"    {CALL}(cpu, {register.decoded.macro},"
    pad = " " * (len(f"    {CALL}("))
    args = f"{pad}{u64_literal(mask)}, {u64_literal(value)}, {kind});"
    if len(args) <= 80:
        return [head, args]
    return [head, f"{pad}{u64_literal(mask)},", f"{pad}{u64_literal(value)},", f"{pad}{kind});"]


def comment(register: Register) -> str:
    changes = "; ".join(
        f"{c.describe()}, kernel commit {c.commit}"
        + (f" (\"{c.subject}\")" if c.subject else "")
        for c in register.changes if c.kernel is not None)
    lines = [f"{register.name}: {changes}."]
    if register.safe_when is not None:
        lines.append(f"Dropped only while its value & {register.safe_when.mask:#x} == "
                     f"{register.safe_when.value:#x}.")
    elif register.safe_because:
        lines.append(register.safe_because)
    lines.append(provenance(register))
    return c_comment(lines, indent="    ")


def render(context: RenderContext) -> str:
    """The text of ``arm-cpreg-mig-tolerances.c.inc``."""
    intro = [
        "The body of QEMU's kvm_arm_set_cpreg_mig_tolerances(ARMCPU *cpu), "
        "called for -cpu host under KVM: #include it inside that function, "
        "where 'cpu' and the ARM64_SYS_REG / KVM_REG_ARM_FW_* macros are in "
        "scope.  (No include guard: it is a function body, not a header.)",
    ]
    parts = [file_start("arm64 KVM cpreg migration tolerances", context.source_name, intro)]
    registers = tolerated_registers(context.registry)
    if not registers:
        parts.append("    /* the registry has no kernel-side register changes */")
    for i, register in enumerate(registers):
        if i:
            parts.append("")
        parts.append(comment(register))
        parts.extend(call_lines(register))
    return "\n".join(parts) + "\n"


def render_files(context: RenderContext) -> dict[str, str]:
    return {FILENAME: render(context)}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)
