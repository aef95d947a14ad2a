"""What ``compat explain`` says about a register: facts, its rule on each
machine type, its QEMU tolerance, guards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compat.core.codec import format_index
from compat.core.derive import Derivation, Rule
from compat.core.model import Register, Registry
from compat.qemu.tolerance import NOT_ON_BOTH_ENDS, Tolerance, tolerance_for


@dataclass(frozen=True)
class MachineLine:
    machine: str
    min_kernel: str
    rule: Rule | None
    refused: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    register: Register
    machines: tuple[MachineLine, ...]
    tolerance: Tolerance | None      # QEMU master's per-CPU tolerance, if any

    def to_text(self) -> str:
        reg = self.register
        d = reg.decoded
        out = [f"{reg.name}  {format_index(reg.index)}  ({reg.location})",
               f"  {reg.description}",
               f"  encoding: {d.macro}  [{d.qemu_name}, {d.group}, U{d.size}]"]
        if reg.reset is not None:
            out.append(f"  reset: {reg.reset:#x}")
        for change in reg.changes:
            line = f"  change: {change.describe()}, commit {change.commit}"
            if change.subject:
                line += f" (\"{change.subject}\")"
            out.append(line)
            out.append(f"    breaks {change.direction} migration; {change.location}")
        if reg.compat:
            out.append(f"  compat: {reg.compat}")
        if reg.safe_when:
            out.append(f"  safe when: value & {reg.safe_when.mask:#x} == {reg.safe_when.value:#x}")
        if reg.safe_because:
            out.append(f"  safe because: {reg.safe_because}")
        if reg.used_by:
            out.append(f"  written by features: {', '.join(reg.used_by)}")
        for source in reg.sources:
            out.append(f"  source: {source}")
        if self.tolerance is None:
            out.append("  QEMU tolerance (-cpu host, KVM): none")
        else:
            tol = self.tolerance
            detail = (f"mask {tol.mask:#x}, value {tol.value:#x}"
                      if tol.kind != NOT_ON_BOTH_ENDS else "missing on either end")
            out.append(f"  QEMU tolerance (-cpu host, KVM): {tol.kind} ({detail})")
        out.append("  machine types:")
        for line in self.machines:
            if line.rule is None:
                what = "migrated as is (no rule needed)"
            else:
                what = "hidden" if line.rule.kind == "hide" else "tolerated when missing"
                why = ", ".join(c.describe() for c in line.rule.reasons) or "explicit override"
                what += f" ({why})"
            out.append(f"    {line.machine} (min-kernel {line.min_kernel}): {what}")
            for feature in line.refused:
                out.append(f"      guard: refuses feature '{feature}'")
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        reg = self.register
        return {
            "name": reg.name,
            "index": format_index(reg.index),
            "location": str(reg.location),
            "decoded": reg.decoded.to_json(),
            "description": reg.description,
            "reset": None if reg.reset is None else f"{reg.reset:#x}",
            "changes": [{"side": c.side, "version": str(c.version), "change": c.kind,
                         "cpu-feature": c.cpu_feature, "accel": c.accel, "commit": c.commit,
                         "subject": c.subject, "direction": c.direction} for c in reg.changes],
            "compat": reg.compat,
            "safe-when": None if reg.safe_when is None else {
                "mask": f"{reg.safe_when.mask:#x}", "value": f"{reg.safe_when.value:#x}"},
            "safe-because": reg.safe_because,
            "used-by": list(reg.used_by),
            "tolerance": None if self.tolerance is None else {
                "kind": self.tolerance.kind, "mask": f"{self.tolerance.mask:#x}",
                "value": f"{self.tolerance.value:#x}"},
            "machines": [{"machine": m.machine, "min-kernel": m.min_kernel,
                          "rule": None if m.rule is None else m.rule.kind,
                          "override": bool(m.rule and m.rule.override),
                          "refused-features": list(m.refused)} for m in self.machines],
        }


def explain_register(registry: Registry, derivation: Derivation, reg: Register) -> Explanation:
    lines = []
    for rules in derivation.machines:
        rule = rules.rule_for(reg.name)
        refused = tuple(r.feature.name for r in rules.refusals if r.register.name == reg.name)
        lines.append(MachineLine(rules.machine.name, str(rules.machine.min_kernel), rule, refused))
    return Explanation(reg, tuple(lines), tolerance_for(reg))
