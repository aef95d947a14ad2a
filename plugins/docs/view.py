"""The view model of the register compat documentation: its content,
neutral of any markup.

:func:`build` computes, once, every row and section that the rST and
Markdown renderers print, from the resolved view
(:meth:`compat.plugin.RenderContext.resolved`): a register's rules, a
machine type's pins and refusals read exactly as ``compat explain`` and the
C outputs have them.  All text
here is *raw* (as written in the registry); each renderer escapes it for its
own language.  Everything is ordered deterministically: registers by name,
machine types in :meth:`Registry.machine_versions` order, features by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from compat.plugin import (Change, format_index, MachineVersion, Pin, provenance,
                           Register, Registry, ResolvedView, Rule)
from compat.qemu.resolved import cpu_property_text, limit_text


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
    rules: tuple[str, ...]         # "hide on virt-10.0..virt-10.2"; empty: none
    limits: tuple[str, ...]        # "from Linux 5.18: at most 0x10001, ..."
    cpu_property: str | None       # "kvm-psci-version, from QEMU 11.0, KVM only"
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
    #: vCPU features the type refuses (nested vCPUs): QEMU's error each
    vcpu_refusals: tuple[str, ...] = ()


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
    if register.refuse_because:
        lines.append(f"not safe to drop, so refused: {register.refuse_because}")
    return tuple(lines)


def _row(registry: Registry, reg: Register, rules: tuple[str, ...], cache: dict) -> RegisterRow:
    changes = tuple(_cached_info(c, cache) for c in reg.changes)
    return RegisterRow(
        name=reg.name, index=format_index(reg.index), macro=reg.decoded.macro,
        qemu_name=reg.decoded.qemu_name, group=reg.decoded.group, size=reg.decoded.size,
        description=reg.description,
        reset=None if reg.reset is None else hex(reg.reset),
        changes=changes, commits=tuple(sorted({c.commit for c in reg.changes})),
        rules=rules, limits=tuple(limit_text(limit) for limit in reg.accepts),
        cpu_property=None if reg.cpu_property is None else cpu_property_text(reg.cpu_property),
        guard=guard_lines(reg),
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


def build(view: ResolvedView, source_name: str) -> DocModel:
    """Compute the document's content from the resolved ``view``."""
    registry, derivation = view.registry, view.derivation
    # one ChangeInfo per change, shared by its register's row and its rules
    entries: dict = {}
    registers = tuple(_row(registry, v.register, v.summary, entries) for v in view.registers())
    machines = []
    refused_by: dict[str, list[str]] = {}
    by_rule: dict[int, RuleEntry] = {}  # machine types share Rule objects (derive)

    def entry(rule: Rule) -> RuleEntry:
        found = by_rule.get(id(rule))  # the derivation keeps every rule alive
        if found is None:
            found = by_rule[id(rule)] = _entry(rule, entries)
        return found

    for mv in view.machines:
        machine, rules = mv.machine, mv.rules
        hidden = tuple(entry(r) for r in rules.hidden)
        tolerated = tuple(entry(r) for r in rules.tolerated)
        refusals = []
        for r in mv.refusals:
            refused_by.setdefault(r.feature, []).append(machine.name)
            refusals.append(RefusalEntry(
                r.feature, r.refusal.register.name, format_index(r.refusal.register.index),
                hex(r.refusal.value), r.oldest_allowing, r.refusal.rule.kind))
        refusals.sort(key=lambda r: (r.feature, r.register))
        machines.append(MachineSection(
            name=machine.name, family=machine.family, version=machine.version,
            qemu=None if machine.qemu is None else str(machine.qemu),
            min_kernel=str(machine.min_kernel), description=machine.description,
            hidden=hidden, tolerated=tolerated, refusals=tuple(refusals),
            where=provenance(machine.location),
            pins=tuple(_pin(pin, machine) for pin in mv.pins),
            vcpu_refusals=tuple(v.message
                                for v in mv.vcpu_refusals)))
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


def _pin(pin: Pin, machine: MachineVersion) -> str:
    """One sentence for a value the machine type pins; the limit and the
    kernel that forced the pin come with it (compat.qemu.value_rules)."""
    reg, prop, raised = pin.register, pin.register.cpu_property, pin.forced_by
    return (f"{prop.name}={pin.property_value} sets {reg.name} to {pin.value:#x}, the "
            f"most Linux {machine.min_kernel} accepts; Linux {raised.kernel} "
            f"({raised.commit}) raised it, and a source on a newer host would "
            f"otherwise send a value an older destination refuses. The property "
            f"exists from QEMU {prop.qemu} on"
            + (f", under {prop.accel.upper()} only, so the row is optional"
               if prop.accel else ""))


def from_context(context) -> DocModel:
    """:func:`build` for a :class:`compat.plugin.api.RenderContext`; the
    rST and Markdown outputs of one build share the model."""
    model = context.memo.get("docs:model")
    if model is None:
        model = context.memo["docs:model"] = build(context.resolved(), context.source_name)
    return model
