"""Output ``mig-tolerances``: the body of QEMU's ``kvm_arm_set_cpreg_mig_tolerances()``.

QEMU master (expected in 11.1) tolerates registers per CPU rather than per
machine type: ``arm_register_cpreg_mig_tolerance(cpu, regidx, mask, value,
type)``.  Which registers get one, and of which kind, is decided by
:mod:`compat.qemu.tolerance` (the simulator reads the same decision); this
module only writes the calls.
"""

from __future__ import annotations

from compat.plugin import c_comment, output_hooks, OutputSpec, Register, RenderContext
from compat.plugins.c.cgen import QEMU_TOLERANCES, file_start, u64_literal
from compat.qemu.tolerance import Tolerance, tolerances

FILENAME = "arm-cpreg-mig-tolerances.c.inc"
OUTPUT = OutputSpec(
    name="mig-tolerances",
    files=(FILENAME,),
    description="arm_register_cpreg_mig_tolerance() calls for QEMU master's "
    "kvm_arm_set_cpreg_mig_tolerances()",
)

CALL = "arm_register_cpreg_mig_tolerance"


def call_lines(tolerance: Tolerance) -> list[str]:
    """One registration, wrapped the way QEMU wraps long calls."""
    mask, value, kind = tolerance.mask, tolerance.value, tolerance.kind
    head = f"    {CALL}(cpu, {tolerance.register.decoded.macro},"
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
    return c_comment(lines, indent="    ")


def render(context: RenderContext) -> str:
    """The text of ``arm-cpreg-mig-tolerances.c.inc``."""
    intro = [
        "The body of QEMU's kvm_arm_set_cpreg_mig_tolerances(ARMCPU *cpu), "
        "called for -cpu host under KVM: #include it inside that function, "
        "where 'cpu' and the ARM64_SYS_REG / KVM_REG_ARM_FW_* macros are in "
        "scope.  (No include guard: it is a function body, not a header.)",
        QEMU_TOLERANCES,
    ]
    parts = [file_start("arm64 KVM cpreg migration tolerances", context.source_name, intro)]
    found = tolerances(context.registry)
    if not found:
        parts.append("    /* the registry has no kernel-side register changes */")
    for i, tolerance in enumerate(found):
        if i:
            parts.append("")
        parts.append(comment(tolerance.register))
        parts.extend(call_lines(tolerance))
    return "\n".join(parts) + "\n"


def render_files(context: RenderContext) -> dict[str, str]:
    return {FILENAME: render(context)}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)
