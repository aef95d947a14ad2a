"""The wording of a guard's refusal, shared by the generated C guards and
the migration simulator, so ``compat check`` shows what QEMU would print."""

from __future__ import annotations

from compat.core.codec import format_index
from compat.core.derive import Derivation, MachineRules, Refusal
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
