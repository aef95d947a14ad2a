"""What ``compat explain`` says about a register: facts, its rule on each
machine type, its QEMU tolerance, guards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compat.core.codec import format_index
from compat.core.derive import Derivation
from compat.core.model import Register, Registry
from compat.qemu.resolved import (RegisterView, ResolvedView, cpu_property_json,
                                  cpu_property_text, limit_json, limit_text, pin_json, resolve)
from compat.qemu.tolerance import NOT_ON_BOTH_ENDS


@dataclass(frozen=True)
class Explanation:
    """A register's facts and decisions, read from the resolved view only."""

    view: RegisterView
    #: ID fields: the register's facts and what each machine type does about
    #: them (compat.qemu.id_rules, through the resolved view)
    id_lines: tuple[str, ...] = ()

    @property
    def register(self) -> Register:
        return self.view.register

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
        if reg.refuse_because:
            out.append(f"  refused because: {reg.refuse_because}")
        if reg.used_by:
            out.append(f"  written by features: {', '.join(reg.used_by)}")
        out += [f"  accepts {limit_text(limit)}" for limit in reg.accepts]
        if reg.cpu_property is not None:
            out.append(f"  CPU property: {cpu_property_text(reg.cpu_property)}")
        for source in reg.sources:
            out.append(f"  source: {source}")
        out += list(self.id_lines)
        tol = self.view.tolerance
        if tol is None:
            out.append("  QEMU tolerance (-cpu host, KVM): none")
        else:
            detail = (f"mask {tol.mask:#x}, value {tol.value:#x}"
                      if tol.kind != NOT_ON_BOTH_ENDS else "missing on either end")
            out.append(f"  QEMU tolerance (-cpu host, KVM): {tol.kind} ({detail})")
        out.append("  rules: " + ("; ".join(self.view.summary) or "none"))
        out.append("  machine types:")
        for d in self.view.decisions:
            out.append(f"    {d.machine.name} (min-kernel {d.machine.min_kernel}): "
                       f"{d.describe()}")
            for feature in sorted({r.feature for r in d.refusals}):
                out.append(f"      guard: refuses feature '{feature}'")
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        reg, tol = self.register, self.view.tolerance
        return {
            "name": reg.name,
            "index": format_index(reg.index),
            "location": str(reg.location),
            "decoded": reg.decoded.to_json(),
            "description": reg.description,
            "reset": None if reg.reset is None else f"{reg.reset:#x}",
            "changes": [{"side": c.side, "version": str(c.version), "change": c.kind,
                         "cpu-feature": c.cpu_feature,
                         "vcpu-feature": c.vcpu_feature, "accel": c.accel, "commit": c.commit,
                         "subject": c.subject, "direction": c.direction} for c in reg.changes],
            "compat": reg.compat,
            "safe-when": None if reg.safe_when is None else {
                "mask": f"{reg.safe_when.mask:#x}", "value": f"{reg.safe_when.value:#x}"},
            "safe-because": reg.safe_because, "refuse-because": reg.refuse_because,
            "used-by": list(reg.used_by),
            "accepts": [limit_json(limit) for limit in reg.accepts],
            "cpu-property": cpu_property_json(reg.cpu_property),
            "tolerance": None if tol is None else {
                "kind": tol.kind, "mask": f"{tol.mask:#x}", "value": f"{tol.value:#x}"},
            "rules": list(self.view.summary),
            "machines": [{"machine": d.machine.name, "min-kernel": str(d.machine.min_kernel),
                          "rule": None if d.rule is None else d.rule.kind,
                          "override": bool(d.rule and d.rule.override),
                          "pin": None if d.pin is None else pin_json(d.pin),
                          "refused-features": sorted({r.feature for r in d.refusals}),
                          "describe": d.describe()}
                         for d in self.view.decisions],
        }


def explain_register(registry: Registry, derivation: Derivation, reg: Register,
                     view: ResolvedView | None = None) -> Explanation:
    """Explain ``reg`` from the resolved view (``view``, or one resolved now)."""
    view = view or resolve(registry, derivation)
    return Explanation(view.register(reg.name), _id_lines(view, reg))


def _id_lines(view: ResolvedView, reg: Register) -> tuple[str, ...]:
    """``ID field SCTLRX (7:4): ...`` and, per machine type, its pin or break."""
    out = []
    if reg.id_field:
        out.append(f"  comes with ID field {reg.id_field} (KVM lists it only while the "
                   "guest's field says so)")
    for f in reg.id_fields:
        older = "older kernels refuse it" if not f.older_accept else "older kernels take it"
        out.append(f"  ID field {f.field} ({f.shift + f.width - 1}:{f.shift}): {f.since} "
                   f"advertises {f.value} (before: {f.older_value})"
                   + (f" on {f.cpu_feature} hosts" if f.cpu_feature else "")
                   + f"; {older}; writable "
                   + (f"from Linux {f.writable_from}" if f.writable_from else "on no kernel"))
        for mv in view.machines:
            for pin in mv.id_pins:
                if pin.field == f:
                    out.append(f"    {mv.machine.name}: pin -cpu host,{pin.qemu_property}="
                               f"{pin.property_value} (.optional)")
            for brk in mv.id_breaks:
                if brk.field == f:
                    out.append(f"    {mv.machine.name}: promise not kept on such hosts "
                               "(validate warns, the guards refuse it)")
    return tuple(out)
