"""Derive each machine type's rules from the registry's facts and promises.

A machine version promises migration between every pair of host kernels from
its ``min-kernel`` on, and from its own QEMU release to every newer QEMU.  So
it needs a rule for every kernel change *after* ``min-kernel`` (a host on
either side of it may be a source or a destination) and every QEMU-side
change *after* its own release.  The rule is the register's ``compat``;
a needed change without one is an error naming the migration that cannot
be guaranteed.  Explicit per-version overrides add to what is derived.

Nothing here knows about C or QEMU's tables: that is the outputs' job.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from compat.core.diagnostics import CompatError, Diagnostic
from compat.core.model import (BACKWARD, HIDE, REFUSE, TOLERATE_MISSING, Change, Feature,
                               MachineVersion, Register, Registry, fixing_rule)


@dataclass(frozen=True)
class Rule:
    """One register hidden or tolerated on one machine version, and why."""

    register: Register
    kind: str                       # HIDE | TOLERATE_MISSING
    reasons: tuple[Change, ...]     # the changes that need it (empty for overrides)
    override: bool = False

    @property
    def index(self) -> int:
        return self.register.index


@dataclass(frozen=True)
class Refusal:
    """A feature a machine version must refuse: it writes a register the
    machine type drops, with a value that is not safe to drop."""

    feature: Feature
    register: Register
    value: int
    rule: Rule


@dataclass(frozen=True)
class VcpuRefusal:
    """A KVM vCPU feature (el2) a machine version must refuse: its promise
    spans changes of registers that vCPUs with the feature list and that
    can be neither hidden nor tolerated (``compat = "refuse"``)."""

    feature: str                    # a VCPU_FEATURES name
    registers: tuple[Register, ...]  # sorted by index
    reasons: tuple[Change, ...]     # the changes that need it, by kernel then register

    @property
    def index(self) -> int:
        return self.registers[0].index


@dataclass(frozen=True)
class MachineRules:
    machine: MachineVersion
    hidden: tuple[Rule, ...]        # sorted by index
    tolerated: tuple[Rule, ...]     # sorted by index
    refusals: tuple[Refusal, ...]   # sorted by feature name
    vcpu_refusals: tuple[VcpuRefusal, ...] = ()   # sorted by feature name

    def refuses_vcpu(self, features) -> tuple[VcpuRefusal, ...]:
        """The refusals that apply to a vCPU with ``features`` (None: unknown,
        taken as none)."""
        return tuple(r for r in self.vcpu_refusals if features and r.feature in features)

    def rule_for(self, register_name: str) -> Rule | None:
        for rule in self.hidden + self.tolerated:
            if rule.register.name == register_name:
                return rule
        return None

    @property
    def hidden_indices(self) -> tuple[int, ...]:
        return tuple(r.index for r in self.hidden)

    @property
    def tolerated_indices(self) -> tuple[int, ...]:
        return tuple(r.index for r in self.tolerated)


@dataclass(frozen=True)
class Derivation:
    """Every machine version's rules, in :meth:`Registry.machine_versions` order."""

    registry: Registry
    machines: tuple[MachineRules, ...]

    def for_machine(self, name: str) -> MachineRules | None:
        for rules in self.machines:
            if rules.machine.name == name:
                return rules
        return None

    def oldest_allowing(self, feature: str, family: str) -> str | None:
        """The oldest machine type of ``family`` that accepts ``feature``."""
        allowed = self.allowing(feature, family)
        return allowed[-1].name if allowed else None

    def oldest_allowing_vcpu(self, feature: str, family: str) -> str | None:
        """The oldest machine type of ``family`` that accepts vCPUs with
        vCPU feature ``feature`` (el2)."""
        allowed = [m.machine for m in self.machines if m.machine.family == family
                   and not any(r.feature == feature for r in m.vcpu_refusals)]
        return allowed[-1].name if allowed else None

    def allowing(self, feature: str, family: str) -> list[MachineVersion]:
        """Machine versions of ``family`` that accept ``feature``, newest first."""
        return [m.machine for m in self.machines if m.machine.family == family
                and not any(r.feature.name == feature for r in m.refusals)]


def needs_rule(machine: MachineVersion, change: Change) -> bool:
    """Whether ``machine``'s promise spans ``change``."""
    if change.kernel is not None:
        return change.kernel > machine.min_kernel
    return machine.qemu is not None and change.qemu > machine.qemu  # type: ignore[operator]


_by_index = operator.attrgetter("register.index")  # Rule.index, without a call per rule


def derive(registry: Registry) -> Derivation:
    """Compute every machine version's rules; raise if a promise cannot be kept."""
    problems: list[Diagnostic] = []
    machines = []
    # registers without changes need no rule on any machine type (most of them)
    changed = [reg for reg in registry.registers.values() if reg.changes]
    # A Rule names no machine type: machine types whose promise spans the
    # same changes of a register share one (most neighbours do)
    last_rule: dict[str, Rule] = {}
    for machine in registry.machine_versions():
        rules: dict[str, Rule] = {}
        refused: dict[str, list[tuple[Register, tuple[Change, ...]]]] = {}
        min_kernel = machine.min_kernel
        for reg in changed:
            # a kernel change compared here (needs_rule's first case), without
            # two calls per change and machine type; a register's one change
            # (most registers) gives its own tuple, not a new one each time
            if len(reg.changes) == 1:
                c = reg.changes[0]
                spans = (c.kernel > min_kernel if c.kernel is not None
                         else _spans(machine, c, reg, problems))
                reasons = reg.changes if spans else ()
            else:
                reasons = tuple(c for c in reg.changes
                                if (c.kernel > min_kernel if c.kernel is not None
                                    else _spans(machine, c, reg, problems)))
            if not reasons:
                continue
            if reg.compat == REFUSE:    # semantic checks: every change has a vcpu-feature
                for change in reasons:
                    refused.setdefault(change.vcpu_feature, []).append((reg, (change,)))
                continue
            if reg.compat is None:
                problems.append(_unguaranteed(machine, reg, reasons))
                continue
            rule = last_rule.get(reg.name)
            if rule is None or rule.reasons != reasons:
                rule = last_rule[reg.name] = Rule(reg, reg.compat, reasons)
            rules[reg.name] = rule
        for kind, names in ((HIDE, machine.hide), (TOLERATE_MISSING, machine.tolerate_missing)):
            for name in names:
                rule = rules.get(name)
                if rule is not None and rule.kind != kind:
                    what = ("the override 'hide'" if rule.override
                            else f"the derived rule '{rule.kind}'")
                    problems.append(Diagnostic(
                        machine.location, f"override '{kind}' of {name} contradicts {what}",
                        context=f"machine type '{machine.name}'",
                        hint="a register is either hidden or tolerated; drop one of the two"))
                elif rule is None:
                    rules[name] = Rule(registry.registers[name], kind, (), override=True)
        ordered = sorted(rules.values(), key=_by_index)
        hidden = tuple(r for r in ordered if r.kind == HIDE)
        tolerated = tuple(r for r in ordered if r.kind == TOLERATE_MISSING)
        machines.append(MachineRules(machine, hidden, tolerated,
                                     _refusals(registry, rules), _vcpu_refusals(refused)))
    if problems:
        raise CompatError(problems)
    return Derivation(registry, tuple(machines))


def _spans(machine: MachineVersion, change: Change, reg: Register,
           problems: list[Diagnostic]) -> bool:
    if change.qemu is not None and machine.qemu is None:
        problems.append(Diagnostic(
            machine.location, f"'{machine.name}' has no QEMU release, so the QEMU-side change "
            f"of {reg.name} ({change.describe()}) cannot be placed",
            context=f"machine type '{machine.name}'",
            hint="add qemu = \"X.Y\" (the QEMU release the machine type first shipped in)"))
        return False
    return needs_rule(machine, change)


def _unguaranteed(machine: MachineVersion, reg: Register, reasons: tuple[Change, ...]) -> Diagnostic:
    change = reasons[0]
    if change.kernel is not None:
        old, new = f"Linux {machine.min_kernel}", f"Linux {change.kernel}"
    else:
        old, new = f"QEMU {machine.qemu}", f"QEMU {change.qemu}"
    src, dst = (new, old) if change.direction == BACKWARD else (old, new)
    fix = fixing_rule(change.kind)
    return Diagnostic(
        reg.location,
        f"{reg.name} was {change.describe()} and has no compat rule: {machine.name} "
        f"promises {old}, so migration from {src} to {dst} cannot be guaranteed",
        context=f"register '{reg.name}'",
        hint=f"add compat = \"{fix}\" with safe-when or safe-because, or raise "
        f"{machine.name}'s min-kernel")


def _vcpu_refusals(refused: dict) -> tuple[VcpuRefusal, ...]:
    out = []
    for feature in sorted(refused):
        found = refused[feature]
        registers = tuple(sorted({id(r): r for r, _ in found}.values(), key=lambda r: r.index))
        reasons = tuple(sorted((c for _, cs in found for c in cs),
                               key=lambda c: (c.version, c.commit)))
        out.append(VcpuRefusal(feature, registers, tuple(dict.fromkeys(reasons))))
    return tuple(out)


def _refusals(registry: Registry, rules: dict[str, Rule]) -> tuple[Refusal, ...]:
    out = []
    for feature in registry.features.values():
        for write in feature.writes:
            rule = rules.get(write.register)
            if rule is None:
                continue
            safe = rule.register.safe_when
            if safe is None or not safe.holds(write.value):
                out.append(Refusal(feature, rule.register, write.value, rule))
    return tuple(sorted(out, key=lambda r: (r.feature.name, r.register.index)))
