"""The wording of a guard's refusal, shared by the generated C guards and
the migration simulator, so ``compat check`` shows what QEMU would print."""

from __future__ import annotations

from compat.core.codec import format_index
from compat.core.derive import Derivation, MachineRules, Refusal, VcpuRefusal
from compat.core.model import HIDE


def refusal_fix(derivation: Derivation, rules: MachineRules, refusal: Refusal) -> str:
    """What the user can do instead: a newer machine type, or no feature."""
    fix = derivation.oldest_allowing(refusal.feature.name, rules.machine.family)
    if fix:
        return f"use machine type {fix} or newer, or do not enable {refusal.feature.name}"
    return f"do not enable {refusal.feature.name} with this machine family"


def refusal_message(derivation: Derivation, rules: MachineRules, refusal: Refusal) -> str:
    """The error for enabling a refused feature on ``rules.machine``."""
    machine, reg = rules.machine, refusal.register
    why = ""
    if refusal.rule.reasons:
        change = refusal.rule.reasons[0]
        why = (f", because its promise spans a host kernel change ({reg.name} "
               f"{change.describe()})")
    fix_text = refusal_fix(derivation, rules, refusal)
    verb = "hides" if refusal.rule.kind == HIDE else "may drop"
    return (f"{refusal.feature.name} cannot be used with machine type {machine.name}: it "
            f"sets {reg.name} ({format_index(reg.index)}) to {refusal.value:#x}, but "
            f"{machine.name} {verb} that register from migration{why}; {fix_text}")


#: how a QEMU user turns a KVM vCPU feature on, for the refusals' wording
VCPU_FEATURE_OPTION = {
    "el2": "-machine virtualization=on (a nested vCPU: KVM_ARM_VCPU_HAS_EL2)",
    "pmu-v3": "-cpu host,pmu=on",
    "sve": "-cpu host,sve=on",
    "ptrauth": "-cpu host,pauth=on",
    "psci-0.2": "PSCI 0.2 (every QEMU vCPU under KVM)",
}


#: the QEMU property a generated guard checks for each vCPU feature: QEMU's
#: virt board calls arm_compat_check_feature(machine, "virtualization", errp)
#: when virtualization=on under KVM
VCPU_FEATURE_PROPERTY = {"el2": "virtualization", "pmu-v3": "pmu", "sve": "sve",
                         "ptrauth": "pauth", "psci-0.2": "psci-0.2"}


def vcpu_refusal_fix(derivation: Derivation, rules: MachineRules, refusal: VcpuRefusal) -> str:
    """What the user can do instead of a refused vCPU feature."""
    option = VCPU_FEATURE_OPTION.get(refusal.feature, refusal.feature).split(" (")[0]
    fix = derivation.oldest_allowing_vcpu(refusal.feature, rules.machine.family)
    if fix:
        return f"use machine type {fix} or newer, or run without {option}"
    return f"run without {option} on this machine family"


def vcpu_refusal_message(derivation: Derivation, rules: MachineRules,
                         refusal: VcpuRefusal) -> str:
    """The error for a vCPU with a refused feature on ``rules.machine``: the
    kernel change its promise spans, the registers, and the fix (the state
    that would be lost is the registers' ``refuse-because``, in the docs and
    ``compat explain``)."""
    machine = rules.machine
    first = refusal.reasons[0]
    names = [r.name for r in refusal.registers]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    option = VCPU_FEATURE_OPTION.get(refusal.feature, f"vCPU feature {refusal.feature}")
    return (f"{option} cannot be used with machine type {machine.name} under KVM: its "
            f"promise (Linux {machine.min_kernel} and later) spans Linux {first.kernel}, "
            f"where {shown} {'were' if len(names) > 1 else 'was'} {first.kind} for such vCPUs "
            f"(kernel {first.commit}), and dropping them from a migration would lose guest "
            f"state (compat explain {names[0]}); "
            f"{vcpu_refusal_fix(derivation, rules, refusal)}")
