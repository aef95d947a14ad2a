"""Output-format-neutral content of the register compat documentation.

:func:`build` computes, once, every row and section that the rST and
Markdown renderers print, from the registry and its derivation.  All text
here is *raw* (as written in the registry); each renderer escapes it for its
own language.  Everything is ordered deterministically: registers by name,
machine types in :meth:`Registry.machine_versions` order, features by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from compat.qemu.value_rules import pins_for
from compat.plugin import (Change, Derivation, format_index, Location, provenance,
                           Register, Registry, Rule)


TITLE = "KVM register migration compatibility"


@dataclass(frozen=True)
class ChangeInfo:
    """One change of a register, described for a reader."""

    describe: str                  # "gated on FEAT_TCRX in Linux 6.13"
    commit: str
    subject: str | None
    source: str | None
    where: str                     # "registry.toml:LINE"


@dataclass(frozen=True)
class RegisterRow:
    """A row of the register table plus the details of its section."""

    name: str
    index: str                     # 0x%016x
    macro: str
    qemu_name: str
    group: str
    size: int
    description: str
    reset: str | None
    changes: tuple[ChangeInfo, ...]
    commits: tuple[str, ...]
    rule: str                      # hide | tolerate-missing | none
    guard: tuple[str, ...]         # safe-when / safe-because lines
    written_by: tuple[str, ...]    # features that write the register
    sources: tuple[str, ...]
    where: str


@dataclass(frozen=True)
class RuleEntry:
    """A register a machine type hides or tolerates, and why."""

    register: str
    index: str
    kind: str
    reasons: tuple[ChangeInfo, ...]
    override: bool
    guard: tuple[str, ...]


@dataclass(frozen=True)
class RefusalEntry:
    """A feature a machine type refuses, and the oldest type allowing it."""

    feature: str
    register: str
    index: str
    value: str
    oldest_allowing: str | None
    kind: str                      # the rule that drops the register


@dataclass(frozen=True)
class MachineSection:
    """What one machine version promises, hides, tolerates and refuses."""

    name: str
    family: str
    version: str
    qemu: str | None
    min_kernel: str
    description: str | None
    hidden: tuple[RuleEntry, ...]
    tolerated: tuple[RuleEntry, ...]
    refusals: tuple[RefusalEntry, ...]
    where: str
    pins: tuple[str, ...] = ()      # value rules: CPU properties the type pins


@dataclass(frozen=True)
class FeatureWriteEntry:
    """A register write of a feature."""

    register: str
    index: str | None
    value: str


@dataclass(frozen=True)
class FeatureSection:
    """A feature: what it writes and which machine types refuse it."""

    name: str
    description: str
    property: str | None
    source: str | None
    writes: tuple[FeatureWriteEntry, ...]
    refused_by: tuple[str, ...]
    oldest_allowing: tuple[str, ...]   # per family, the oldest allowing type
    where: str


@dataclass(frozen=True)
class DocModel:
    """The whole document."""

    title: str
    source_name: str
    registers: tuple[RegisterRow, ...]
    machines: tuple[MachineSection, ...]
    features: tuple[FeatureSection, ...]


def change_info(change: Change) -> ChangeInfo:
    """Describe ``change`` for a reader."""
    return ChangeInfo(change.describe(), change.commit, change.subject, change.source,
                      provenance(change.location))


def guard_lines(register: Register) -> tuple[str, ...]:
    """The conditions under which dropping the register is safe."""
    lines = []
    if register.safe_when is not None:
        lines.append(f"safe when value & {hex(register.safe_when.mask)} == "
                     f"{hex(register.safe_when.value)}")
    if register.safe_because:
        lines.append(f"safe because: {register.safe_because}")
    return tuple(lines)


def _row(registry: Registry, reg: Register) -> RegisterRow:
    changes = tuple(change_info(c) for c in reg.changes)
    return RegisterRow(
        name=reg.name, index=format_index(reg.index), macro=reg.decoded.macro,
        qemu_name=reg.decoded.qemu_name, group=reg.decoded.group, size=reg.decoded.size,
        description=reg.description,
        reset=None if reg.reset is None else hex(reg.reset),
        changes=changes, commits=tuple(sorted({c.commit for c in reg.changes})),
        rule=reg.compat or "none", guard=guard_lines(reg),
        written_by=registry.writers(reg), sources=tuple(reg.sources),
        where=provenance(reg.location))


def _entry(rule: Rule, cache: dict | None = None) -> RuleEntry:
    """The entry of ``rule``; one shared entry per register, kind and
    reasons across machine types (``cache``), not a new one per rule."""
    if cache is not None:
        key = (rule.register.name, rule.kind, rule.override, tuple(map(id, rule.reasons)))
        entry = cache.get(key)
        if entry is None:
            entry = cache[key] = RuleEntry(
                rule.register.name, format_index(rule.index), rule.kind,
                tuple(_cached_info(c, cache) for c in rule.reasons), rule.override,
                guard_lines(rule.register))
        return entry
    return RuleEntry(rule.register.name, format_index(rule.index), rule.kind,
                     tuple(change_info(c) for c in rule.reasons), rule.override,
                     guard_lines(rule.register))


def _cached_info(change: Change, cache: dict) -> ChangeInfo:
    info = cache.get(id(change))
    if info is None:
        info = cache[id(change)] = change_info(change)
    return info


def build(registry: Registry, derivation: Derivation, source_name: str) -> DocModel:
    """Compute the document's content from ``registry`` and ``derivation``."""
    registers = tuple(_row(registry, registry.registers[name])
                      for name in sorted(registry.registers))
    machines = []
    refused_by: dict[str, list[str]] = {}
    entries: dict = {}
    for machine in registry.machine_versions():
        rules = derivation.for_machine(machine.name)
        hidden = tuple(_entry(r, entries) for r in rules.hidden) if rules else ()
        tolerated = tuple(_entry(r, entries) for r in rules.tolerated) if rules else ()
        refusals = []
        for refusal in (rules.refusals if rules else ()):
            refused_by.setdefault(refusal.feature.name, []).append(machine.name)
            refusals.append(RefusalEntry(
                refusal.feature.name, refusal.register.name,
                format_index(refusal.register.index), hex(refusal.value),
                derivation.oldest_allowing(refusal.feature.name, machine.family),
                refusal.rule.kind))
        refusals.sort(key=lambda r: (r.feature, r.register))
        machines.append(MachineSection(
            name=machine.name, family=machine.family, version=machine.version,
            qemu=None if machine.qemu is None else str(machine.qemu),
            min_kernel=str(machine.min_kernel), description=machine.description,
            hidden=hidden, tolerated=tolerated, refusals=tuple(refusals),
            where=provenance(machine.location), pins=_pins(registry, machine)))
    families = sorted(registry.machines)
    features = []
    for name in sorted(registry.features):
        feature = registry.features[name]
        writes = []
        for w in feature.writes:
            reg = registry.registers.get(w.register)
            writes.append(FeatureWriteEntry(w.register,
                                            None if reg is None else format_index(reg.index),
                                            hex(w.value)))
        writes.sort(key=lambda w: (w.register, w.value))
        oldest = [found for found in (derivation.oldest_allowing(name, family)
                                      for family in families) if found is not None]
        # dict.fromkeys keeps order and drops duplicates (unique machine names)
        features.append(FeatureSection(
            name=name, description=feature.description, property=feature.property,
            source=feature.source, writes=tuple(writes),
            refused_by=tuple(dict.fromkeys(refused_by.get(name, []))),
            oldest_allowing=tuple(oldest), where=provenance(feature.location)))
    return DocModel(TITLE, source_name, registers, tuple(machines), tuple(features))


def _pins(registry: Registry, machine) -> tuple[str, ...]:
    """One sentence per value a machine type pins (compat.qemu.value_rules)."""
    out = []
    for pin in pins_for(registry, machine):
        reg, prop = pin.register, pin.register.cpu_property
        raised = [l for l in reg.accepts if l.kernel > machine.min_kernel]
        out.append(f"{prop.name}={pin.property_value} sets {reg.name} to {pin.value:#x}, the "
                   f"most Linux {machine.min_kernel} accepts; Linux {raised[0].kernel} "
                   f"({raised[0].commit}) raised it, and a source on a newer host would "
                   f"otherwise send a value an older destination refuses. The property "
                   f"exists from QEMU {prop.qemu} on"
                   + (f", under {prop.accel.upper()} only, so the row is optional"
                      if prop.accel else ""))
    return tuple(out)


def from_context(context) -> DocModel:
    """:func:`build` for a :class:`compat.plugin.api.RenderContext`; the
    rST and Markdown outputs of one build share the model."""
    model = context.memo.get("docs:model")
    if model is None:
        model = context.memo["docs:model"] = build(context.registry, context.derivation,
                                                   context.source_name)
    return model
