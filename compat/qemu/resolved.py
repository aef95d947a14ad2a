"""The resolved view: each register's facts and what every machine type does
with it, decided once per run before any output runs.

As QEMU's ``scripts/qapi`` resolves its schema into entities that every
backend then visits, :func:`resolve` joins the registry with the decisions
taken elsewhere: which machine types hide or tolerate a register and which
features they refuse (:mod:`compat.core.derive`), which values they pin and
the kernel that forced the pin (:func:`compat.qemu.value_rules.pins_for`),
the register's QEMU tolerance (:mod:`compat.qemu.tolerance`), the wording
of a refusal (:mod:`compat.qemu.refusals`) and the ID fields a machine type
lowers or cannot lower (:mod:`compat.qemu.id_rules`).  ``compat explain``, the docs,
the C outputs and ``registry.json`` read their rules only from here, so a
register reads the same everywhere: hidden, tolerated when missing, pinned
to a value, or written by a refused feature.

Nothing here decides anything new; it indexes what was decided.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from compat.core.derive import Derivation, MachineRules, Refusal, Rule, VcpuRefusal
from compat.core.model import (HIDE, CpuProperty, MachineVersion, Register, Registry,
                               ValueLimit)
from compat.qemu.refusals import (VCPU_FEATURE_OPTION, VCPU_FEATURE_PROPERTY, refusal_fix,
                                  refusal_message, vcpu_refusal_fix, vcpu_refusal_message)
from compat.qemu.tolerance import Tolerance, tolerance_for
from compat.qemu.id_rules import IdBreak, IdPin, id_rules_for
from compat.qemu.value_rules import Pin, pins_for, value_registers

#: A decision's kinds: :data:`HIDE`, ``tolerate-missing``, ``pin``, ``refuse``.
PIN, REFUSE = "pin", "refuse"
#: What a register with no decision on a machine type is called.
MIGRATED = "migrated as is (no rule needed)"


@dataclass(frozen=True)
class RefusalView:
    """A feature a machine type refuses, with QEMU's error and the fix."""

    refusal: Refusal
    message: str                     # what the generated guard prints
    fix: str
    oldest_allowing: str | None      # the oldest type of the family allowing it

    @property
    def feature(self) -> str:
        return self.refusal.feature.name


@dataclass(frozen=True)
class VcpuRefusalView:
    """A KVM vCPU feature a machine type refuses (nested vCPUs: el2), with
    QEMU's error, the fix and the QEMU property that turns it on."""

    refusal: VcpuRefusal
    message: str                     # what the generated guard prints
    fix: str
    oldest_allowing: str | None

    @property
    def feature(self) -> str:
        return self.refusal.feature

    @property
    def option(self) -> str:
        """How a QEMU user turns it on (``-machine virtualization=on (...)``)."""
        return VCPU_FEATURE_OPTION.get(self.feature, self.feature)

    @property
    def property(self) -> str:
        """The name the generated guard checks (``virtualization``)."""
        return VCPU_FEATURE_PROPERTY.get(self.feature, self.feature)


@dataclass(frozen=True)
class MachineView:
    """Everything one machine type does: hide, tolerate, pin, refuse."""

    rules: MachineRules
    pins: tuple[Pin, ...]            # by register index
    refusals: tuple[RefusalView, ...]  # by feature name, then register index
    #: ID fields lowered on the source (SYSREG_<REG>_<FIELD>), and those no
    #: rule can lower (the promise cannot be kept on hosts with the feature)
    id_pins: tuple[IdPin, ...] = ()
    id_breaks: tuple[IdBreak, ...] = ()
    vcpu_refusals: tuple[VcpuRefusalView, ...] = ()   # by vCPU feature name

    @property
    def machine(self) -> MachineVersion:
        return self.rules.machine

    @functools.cached_property
    def _by_register(self) -> dict[str, tuple]:
        found: dict[str, list[Any]] = {}
        for rule in self.rules.hidden + self.rules.tolerated:
            found.setdefault(rule.register.name, [None, None, [], []])[0] = rule
        for pin in self.pins:
            found.setdefault(pin.register.name, [None, None, [], []])[1] = pin
        for refusal in self.refusals:
            found.setdefault(refusal.refusal.register.name, [None, None, [], []])[2].append(refusal)
        for vcpu in self.vcpu_refusals:
            for reg in vcpu.refusal.registers:
                found.setdefault(reg.name, [None, None, [], []])[3].append(vcpu)
        return {name: (rule, pin, tuple(refs), tuple(vcpus))
                for name, (rule, pin, refs, vcpus) in found.items()}

    @functools.cached_property
    def _migrated(self) -> Decision:
        return Decision(self.machine, None, None, ())

    def decision(self, register: Register) -> Decision:
        """What this machine type does with ``register`` (one shared
        "migrated as is" decision for every register it leaves alone)."""
        found = self._by_register.get(register.name)
        if found is None:
            return self._migrated
        return Decision(self.machine, *found)


@dataclass(frozen=True, slots=True)
class Decision:
    """What one machine type does with one register."""

    machine: MachineVersion
    rule: Rule | None                # hidden or tolerated, and why
    pin: Pin | None                  # the value the machine type pins
    refusals: tuple[RefusalView, ...]  # features refused because of the register
    #: vCPU features (el2) refused because of the register
    vcpu_refusals: tuple[VcpuRefusalView, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        """``("hide",)``, ``("pin",)``, ...; empty: migrated as is."""
        return ((() if self.rule is None else (self.rule.kind,))
                + (() if self.pin is None else (PIN,))
                + ((REFUSE,) if self.refusals or self.vcpu_refusals else ()))

    def describe(self) -> str:
        """``hidden (added in Linux 6.15)``, ``pinned: kvm-psci-version=1.1
        (...)``, or :data:`MIGRATED` (refusals are listed on their own)."""
        parts = []
        if self.rule is not None:
            what = "hidden" if self.rule.kind == HIDE else "tolerated when missing"
            why = ", ".join(c.describe() for c in self.rule.reasons) or "explicit override"
            parts.append(f"{what} ({why})")
        if self.pin is not None:
            parts.append(f"pinned: {pin_sentence(self.pin, self.machine)}")
        for vcpu in self.vcpu_refusals:
            why = ", ".join(sorted({c.describe() for c in vcpu.refusal.reasons}))
            parts.append(f"refuses vCPUs with {vcpu.feature}, {vcpu.option} ({why})")
        return "; ".join(parts) or MIGRATED


@dataclass(frozen=True)
class RegisterView:
    """A register's facts and its decision on every machine type."""

    register: Register
    tolerance: Tolerance | None      # QEMU's per-CPU tolerance (-cpu host, KVM)
    #: every machine type's view, in derivation order (the decisions are theirs)
    machines: tuple[MachineView, ...] = field(repr=False, compare=False)
    #: whether any machine type hides, tolerates, pins or refuses it
    decided: bool = field(default=True, repr=False, compare=False)

    @functools.cached_property
    def decisions(self) -> tuple[Decision, ...]:
        """What every machine type does with the register, in derivation order."""
        return tuple(m.decision(self.register) for m in self.machines)

    @functools.cached_property
    def summary(self) -> tuple[str, ...]:
        """One line per rule: ``hide on virt-10.0..virt-10.2``, ``pin
        kvm-psci-version=1.1 on ...``, ``refuse impl-cpu on ...``; empty when
        every machine type migrates the register as is."""
        # read from the machine types' indexes, without a Decision object per
        # machine type: a build needs the lines of every register, and most
        # registers have no decision on most machine types
        if not self.decided:             # most registers of a large registry
            return ()
        groups: dict[str, list[int]] = {}  # positions in self.machines
        name = self.register.name
        for i, view in enumerate(self.machines):
            found = view._by_register.get(name)
            if found is None:
                continue                 # migrated as is
            rule, pin, refusals, vcpu_refusals = found
            if rule is not None:
                groups.setdefault(rule.kind, []).append(i)
            if pin is not None:
                groups.setdefault(f"{PIN} {pin.register.cpu_property.name}="  # type: ignore[union-attr]
                                  f"{pin.property_value}", []).append(i)
            if refusals:
                for feature in sorted({r.feature for r in refusals}):
                    groups.setdefault(f"{REFUSE} feature {feature}", []).append(i)
            if vcpu_refusals:
                for feature in sorted({r.feature for r in vcpu_refusals}):
                    groups.setdefault(f"{REFUSE} vCPU feature {feature}", []).append(i)
        if not groups:
            return ()
        order = [m.machine for m in self.machines]
        return tuple(f"{what} on {_ranges(positions, order)}"
                     for what, positions in groups.items())


@dataclass(frozen=True)
class ResolvedView:
    """The registry with every decision, indexed by machine type and register."""

    registry: Registry
    derivation: Derivation
    machines: tuple[MachineView, ...]    # Registry.machine_versions() order
    _registers: dict[str, RegisterView] = field(default_factory=dict, compare=False, repr=False)

    def machine(self, name: str) -> MachineView | None:
        return next((m for m in self.machines if m.machine.name == name), None)

    def register(self, name: str) -> RegisterView:
        """The view of register ``name`` (built on first use, then shared)."""
        view = self._registers.get(name)
        if view is None:
            reg = self.registry.registers[name]
            view = self._registers[name] = RegisterView(reg, tolerance_for(reg), self.machines,
                                                        name in self._decided)
        return view

    @functools.cached_property
    def _decided(self) -> frozenset[str]:
        """Registers some machine type hides, tolerates, pins or refuses."""
        return frozenset(name for m in self.machines for name in m._by_register)

    def registers(self) -> list[RegisterView]:
        """Every register's view, by name."""
        return [self.register(name) for name in sorted(self.registry.registers)]


def resolve(registry: Registry, derivation: Derivation) -> ResolvedView:
    """The resolved view of ``registry`` and its ``derivation``."""
    machines = []
    limited = value_registers(registry)
    for rules in derivation.machines:
        family = rules.machine.family
        refusals = tuple(RefusalView(
            r, refusal_message(derivation, rules, r), refusal_fix(derivation, rules, r),
            derivation.oldest_allowing(r.feature.name, family)) for r in rules.refusals)
        id_pins, id_breaks = id_rules_for(registry, rules.machine)
        vcpus = tuple(VcpuRefusalView(
            r, vcpu_refusal_message(derivation, rules, r), vcpu_refusal_fix(derivation, rules, r),
            derivation.oldest_allowing_vcpu(r.feature, family)) for r in rules.vcpu_refusals)
        machines.append(MachineView(rules, pins_for(registry, rules.machine, limited), refusals,
                                    id_pins, id_breaks, vcpus))
    return ResolvedView(registry, derivation, tuple(machines))


def machine_ranges(machines: list[MachineVersion], order: list[MachineVersion]) -> str:
    """``virt-10.0..virt-10.2``: runs of adjacent machine types of one family
    (in ``order``, newest first), oldest first within a run."""
    position = {id(m): i for i, m in enumerate(order)}
    return _ranges([position[id(m)] for m in machines], order)


def _ranges(positions: list[int], order: list[MachineVersion]) -> str:
    """:func:`machine_ranges` of the machine types at ``positions`` in ``order``."""
    runs: list[list[int]] = []
    for i in positions:
        if runs and i == runs[-1][-1] + 1 and order[i].family == order[i - 1].family:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ", ".join(order[run[0]].name if len(run) == 1
                     else f"{order[run[-1]].name}..{order[run[0]].name}" for run in runs)


def pin_sentence(pin: Pin, machine: MachineVersion) -> str:
    """``kvm-psci-version=1.1 (KVM_REG_ARM_PSCI_VERSION = 0x10001, the most
    Linux 6.6 accepts; Linux 6.13 (8be82d536a9f) accepts up to 0x10003)``."""
    raised = pin.forced_by
    return (f"{pin.describe()}, the most Linux {machine.min_kernel} accepts; "
            f"Linux {raised.kernel} ({raised.commit}) {pin.raised()}")


def limit_text(limit: ValueLimit) -> str:
    """``from Linux 5.18: at most 0x10001, new vCPUs get 0x10001 (commit
    512865d83fd9)``: one wording for explain and the docs."""
    default = "" if limit.default is None else f", new vCPUs get {limit.default:#x}"
    return f"from Linux {limit.kernel}: {limit.describe()}{default} (commit {limit.commit})"


def cpu_property_text(prop: CpuProperty) -> str:
    """``kvm-psci-version, from QEMU 11.0, KVM only``."""
    return f"{prop.name}, from QEMU {prop.qemu}" + (f", {prop.accel.upper()} only"
                                                     if prop.accel else "")


# -- JSON: one shape for registry.json and ``compat explain --json`` ---------

def limit_json(limit: ValueLimit) -> dict[str, Any]:
    """A value limit (``accepts`` entry) as JSON; numbers as hex strings."""
    return {"kernel": str(limit.kernel), "commit": limit.commit,
            "max": None if limit.max is None else hex(limit.max),
            "mask": None if limit.mask is None else hex(limit.mask),
            "default": None if limit.default is None else hex(limit.default),
            "subject": limit.subject, "source": limit.source}


def cpu_property_json(prop: CpuProperty | None) -> dict[str, Any] | None:
    """The register's CPU property as JSON."""
    if prop is None:
        return None
    return {"name": prop.name, "format": prop.format, "qemu": str(prop.qemu),
            "accel": prop.accel, "commit": prop.commit, "source": prop.source}


def pin_json(pin: Pin) -> dict[str, Any]:
    """A pin as JSON: the property and value, the register value, and the
    limits by position in the register's ``accepts`` (``limit``: in force on
    the machine type's min-kernel; ``forced-by``: the newer kernel that
    forced the pin, also named in ``forced-by-kernel``)."""
    reg = pin.register
    position = {id(limit): i for i, limit in enumerate(reg.accepts)}
    return {"name": reg.name, "index": f"0x{reg.index:016x}",
            "property": reg.cpu_property.name,  # type: ignore[union-attr]
            "value": pin.property_value, "register-value": hex(pin.value),
            "limit": position[id(pin.limit)], "forced-by": position[id(pin.forced_by)],
            "forced-by-kernel": str(pin.forced_by.kernel)}
