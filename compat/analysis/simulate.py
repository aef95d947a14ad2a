"""Replay QEMU's cpreg checks for one migration between two register lists.

QEMU migrates the *cpreg list*: the host's ``KVM_GET_REG_LIST`` minus core
and SVE registers, U32/U64 only (:meth:`Decoded.in_cpreg_list`).  On the
destination, in this order (``target/arm/machine.c``):

1. an incoming list longer than the local one fails with
   ``failed to load cpu:cpreg_vmstate_array_len``;
2. an incoming register the destination lacks fails the migration, unless a
   rule tolerates it;

Registers a rule lets through are not counted against the destination in
step 1: otherwise no rule could ever fix a forward migration (the stream
carries the tolerated register, the destination has one slot less).  This
is an assumption about how QEMU sizes its incoming array under the rules;
DOMAIN.md does not spell it out.
3. a local register the stream lacks keeps its reset value (no failure).

Three rule sets (``--rules``):

``compat-props``
    a machine type's rules from the derivation: hidden registers leave both
    lists; tolerated (``x-mig-safe-missing-regs``) registers are ignored when
    they arrive and the destination lacks them.  A feature that writes a
    register the machine type hides and that the machine type must refuse
    fails at VM start with the guard's message.
``tolerances``
    QEMU master's per-CPU tolerances, as :mod:`compat.qemu.tolerance`
    decides them (the same decision the generated C is written from):
    ``ToleranceNotOnBothEnds`` registers are ignored when they arrive and
    the destination lacks them; a ``ToleranceOnlySrcTestValue`` register
    only if the source's ``value & mask == expected``.
``none``
    plain QEMU without any rule.

Register values are the source's own when it is a migration stream;
otherwise the registry's reset values (0 when unknown), overridden by the
writes of enabled features (and then a value-dependent verdict says so).

Value rules (:mod:`compat.qemu.value_rules`): a register on both sides whose
source value the destination kernel refuses (``accepts`` in the registry,
e.g. KVM_REG_ARM_PSCI_VERSION above 0x10001 on Linux <= 6.12) fails the
migration with QEMU's ``Could not set register ...``.  Without the source's
value the verdict passes with a warning that it depends on that value,
unless the machine type pins it (``compat-props``) or the source kernel
cannot hold a refused value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from compat.core import codec
from compat.analysis.reglist import RegList
from compat.core.derive import Derivation, MachineRules
from compat.core.diagnostics import COMMAND_LINE, CompatError, did_you_mean
from compat.core.model import BACKWARD, Register, Registry, change_for
from compat.qemu.tolerance import NOT_ON_BOTH_ENDS, Tolerance, tolerances
from compat.qemu.refusals import refusal_fix, refusal_message

COMPAT_PROPS, TOLERANCES, NONE = "compat-props", "tolerances", "none"
#: the tolerances QEMU 11.1 ships (compat.qemu.tolerance.SHIPPED), not compat's whole list
QEMU_11_1 = "qemu-11.1"
RULES_MODES = (COMPAT_PROPS, TOLERANCES, QEMU_11_1, NONE)

LENGTH_ERROR = "failed to load cpu:cpreg_vmstate_array_len"
LOAD_ERROR = "error while loading state for instance 0x0 of device 'cpu'"


@dataclass(frozen=True)
class Failure:
    """One reason a migration fails, as the user would meet it."""

    index: int
    qemu_name: str
    name: str | None                 # registry name, else the built-in name
    direction: str                   # backward | forward | same-kernel | start
    kind: str                        # length | unknown-register | value-test | guard
    qemu_error: str                  # what QEMU prints
    fix: str                         # the registry rule that would fix it
    in_registry: bool

    @property
    def label(self) -> str:
        """``TCR2_EL1 (0x603000000013c103)`` or the QEMU-style name."""
        return f"{self.name or self.qemu_name} ({codec.format_index(self.index)})"

    def to_json(self) -> dict:
        """A JSON-ready description."""
        return {"index": codec.format_index(self.index), "name": self.name,
                "qemu_name": self.qemu_name, "direction": self.direction, "kind": self.kind,
                "qemu_error": self.qemu_error, "fix": self.fix,
                "in_registry": self.in_registry}


@dataclass(frozen=True)
class MigrationResult:
    """The outcome of migrating a vCPU from ``source`` to ``destination``."""

    source: RegList
    destination: RegList
    rules: str
    machine: str | None
    features: tuple[str, ...]
    failures: tuple[Failure, ...]
    notes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()     # value-dependent warnings (source values unknown)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def direction(self) -> str:
        return direction_of(self.source, self.destination)

    @property
    def qemu_error(self) -> str | None:
        """The first error QEMU would print, if any."""
        return self.failures[0].qemu_error if self.failures else None

    def to_json(self) -> dict:
        """A JSON-ready description."""
        return {"source": self.source.to_json(), "destination": self.destination.to_json(),
                "direction": self.direction, "rules": self.rules, "machine": self.machine,
                "features": list(self.features), "ok": self.ok,
                "qemu_error": self.qemu_error,
                "failures": [f.to_json() for f in self.failures], "notes": list(self.notes),
                "depends_on": list(self.depends_on)}

    def to_text(self) -> str:
        """A human-readable report."""
        rules = self.rules + (f" ({self.machine})" if self.machine else "")
        if self.features:
            rules += ", features " + ", ".join(self.features)
        verdict = "FAILS" if not self.ok else "ok, depending on values" if self.depends_on \
            else "ok"
        head = (f"{self.source.name} -> {self.destination.name} ({self.direction}, "
                f"rules {rules}): {verdict}")
        lines = [head]
        for note in self.notes:
            lines.append(f"  note: {note}")
        for warning in self.depends_on:
            lines.append(f"  warning: {warning}")
        for f in self.failures:
            lines.append(f"  {f.label}: {f.qemu_error}")
            lines.append(f"    fix: {f.fix}")
        return "\n".join(lines)


def direction_of(source: RegList, destination: RegList) -> str:
    """``backward`` (newer kernel to older), ``forward`` or ``same-kernel``."""
    if source.kernel > destination.kernel:
        return "backward"
    if source.kernel < destination.kernel:
        return "forward"
    return "same-kernel"


@dataclass(frozen=True)
class Guard:
    """A feature the machine type refuses: the VM does not even start."""

    message: str        # what QEMU prints (the generated C guard's text)
    index: int          # the register the feature writes
    fix: str


@dataclass(frozen=True)
class RuleSet:
    """What one rules mode makes of the registry, precomputed for many pairs."""

    mode: str
    machine: MachineRules | None
    hidden: frozenset[int]                     # removed from both lists
    tolerated: frozenset[int]                  # ignored when unknown at destination
    value_tests: dict[int, Tolerance]          # ToleranceOnlySrcTestValue, by index
    values: dict[int, int]                     # register values (reset + features)
    features: tuple[str, ...]
    guards: tuple[Guard, ...] = ()              # refused features (VM start fails)
    pins: dict[int, tuple[int, str]] = None     # index -> (value, property=value) the machine pins
    written: frozenset[int] = frozenset()       # values set by enabled features (known)


class Simulator:
    """Migrations under one registry; caches each list's cpreg set."""

    def __init__(self, registry: Registry, derivation: Derivation | None = None):
        self.registry = registry
        self._derivation = derivation
        self.by_index: dict[int, Register] = registry.register_by_index()
        self._cpreg: dict[tuple, frozenset[int]] = {}
        self._tolerances = tolerances(registry)

    @property
    def derivation(self) -> Derivation:
        if self._derivation is None:
            from compat.core.derive import derive
            self._derivation = derive(self.registry)
        return self._derivation

    def cpreg(self, reglist: RegList) -> frozenset[int]:
        """``reglist``'s cpreg set, decoded once."""
        key = (reglist.path, reglist.indices)
        cached = self._cpreg.get(key)
        if cached is None:
            cached = self._cpreg[key] = reglist.cpreg_indices()
        return cached

    def name_of(self, index: int) -> str | None:
        """The registry's name for ``index``, else the built-in name."""
        reg = self.by_index.get(index)
        return reg.name if reg is not None else codec.decode(index).name

    # -- rule sets ---------------------------------------------------------

    def rule_set(self, mode: str = NONE, machine: str | None = None,
                 features: Iterable[str] = ()) -> RuleSet:
        """Precompute ``mode``'s rules for ``machine`` with ``features`` enabled."""
        if mode not in RULES_MODES:
            raise CompatError.at(COMMAND_LINE, f"unknown rules '{mode}'",
                                 hint="use one of " + ", ".join(RULES_MODES))
        features = tuple(sorted(set(features)))
        values = self._values(features)
        if mode == COMPAT_PROPS:
            if machine is None:
                raise CompatError.at(COMMAND_LINE,
                                     "--rules compat-props needs a machine type",
                                     hint="pass --machine virt-X.Y")
            rules = self.machine_rules(machine)
            guards = [Guard(refusal_message(self.derivation, rules, refusal),
                            refusal.register.index,
                            refusal_fix(self.derivation, rules, refusal))
                      for refusal in rules.refusals if refusal.feature.name in features]
            from compat.qemu.value_rules import pins_for
            pins = {p.register.index: (p.value, f"{p.register.cpu_property.name}="
                                       f"{p.property_value}")
                    for p in pins_for(self.registry, rules.machine)}
            return RuleSet(mode, rules, frozenset(rules.hidden_indices),
                           frozenset(rules.tolerated_indices), {}, values, features,
                           tuple(guards), pins, self._written(features))
        machine_rules = self.machine_rules(machine) if machine else None
        if mode == NONE:
            return RuleSet(mode, machine_rules, frozenset(), frozenset(), {}, values, features,
                           written=self._written(features))
        tolerated, tests = set(), {}
        shipped = tolerances(self.registry, mode[len("qemu-"):]) if mode == QEMU_11_1 else None
        for tolerance in shipped if shipped is not None else self._tolerances:
            if tolerance.kind == NOT_ON_BOTH_ENDS:
                tolerated.add(tolerance.index)
            else:
                tests[tolerance.index] = tolerance
        return RuleSet(mode, machine_rules, frozenset(), frozenset(tolerated), tests, values,
                       features, written=self._written(features))

    def machine_rules(self, name: str) -> MachineRules:
        """The derived rules of machine type ``name``; CompatError if unknown."""
        rules = self.derivation.for_machine(name)
        if rules is None:
            names = [m.name for m in self.registry.machine_versions()]
            raise CompatError.at(COMMAND_LINE,  # --machine: the registry's names are known
                                 f"unknown machine type '{name}'{did_you_mean(name, names)}",
                                 hint="the registry defines " + ", ".join(names))
        return rules

    def _written(self, features: tuple[str, ...]) -> frozenset[int]:
        return frozenset(self.registry.registers[w.register].index
                         for name in features for w in self.registry.features[name].writes)

    def _values(self, features: tuple[str, ...]) -> dict[int, int]:
        values = {reg.index: reg.reset or 0 for reg in self.registry.registers.values()}
        for name in features:
            feature = self.registry.features.get(name)
            if feature is None:
                known = sorted(self.registry.features)
                raise CompatError.at(
                    COMMAND_LINE,  # --feature: the registry's own uses are checked on load
                    f"unknown feature '{name}'{did_you_mean(name, known)}",
                    hint=("the registry defines " + ", ".join(known)) if known
                    else "the registry defines no features")
            for write in feature.writes:
                values[self.registry.registers[write.register].index] = write.value
        return values

    # -- simulation --------------------------------------------------------

    def passes(self, src: frozenset[int], dst: frozenset[int], rules: RuleSet) -> bool:
        """The fast verdict on two cpreg sets (no explanation)."""
        if rules.guards:
            return False
        if rules.hidden:
            src, dst = src - rules.hidden, dst - rules.hidden
        for index in src - dst:
            if index in rules.tolerated:
                continue
            test = rules.value_tests.get(index)
            if test is None or not test.allows(rules.values.get(index, 0)):
                return False
        return True

    def simulate(self, source: RegList, destination: RegList, rules: RuleSet) -> MigrationResult:
        """Migrate ``source`` to ``destination`` under ``rules``, explaining failures."""
        direction = direction_of(source, destination)
        notes = self._notes(source, destination, rules)
        depends: list[str] = []
        failures: list[Failure] = []
        values = dict(rules.values)
        if source.values is not None:       # a stream: the source's real values
            values.update(source.values)
        for guard in rules.guards:
            failures.append(self._failure(guard.index, "start", "guard", guard.message,
                                          guard.fix, rules))
        src = self.cpreg(source) - rules.hidden
        dst = self.cpreg(destination) - rules.hidden
        unknown = sorted(src - dst)
        bad: list[tuple[int, str | None]] = []      # (index, value-test detail)
        accepted = 0
        for index in unknown:
            if index in rules.tolerated:
                accepted += 1
                continue
            test = rules.value_tests.get(index)
            value = values.get(index, 0)
            if test is not None and test.allows(value):
                accepted += 1
                if source.values is None and index not in rules.written:
                    depends.append(self._depends_test(index, test, value))
                continue
            detail = None
            if test is not None:
                detail = (f"its value {value:#x} fails the tolerance test "
                          f"(value & {test.mask:#x} == {test.value:#x})")
            bad.append((index, detail))
        incoming = len(src) - accepted
        # QEMU with the cpreg tolerances (11.1) sizes the incoming arrays for the
        # stream: 268 entries into 267 loaded, and cpu_post_load() then names the
        # register ("... in the incoming stream but unknown on the destination")
        too_long = incoming > len(dst) and rules.mode not in (TOLERANCES, QEMU_11_1)
        for index, detail in bad:
            what = f"register {codec.format_index(index)} ({codec.decode(index).qemu_name})"
            if too_long:
                error = (f"{LENGTH_ERROR} (the stream carries {incoming} cpreg registers, "
                         f"the destination has {len(dst)}; {what} is only in the source)")
                kind = "length"
            else:
                error = f"{LOAD_ERROR}: {what} in the stream is unknown to the destination"
                kind = "unknown-register"
            if detail:
                error += f" and {detail}"
                kind = "value-test" if not too_long else kind
            failures.append(self._failure(index, direction, kind, error,
                                          self._fix(index, direction, rules, detail, source,
                                                    destination), rules))
        self._value_rules(source, destination, rules, src & dst, values, direction,
                          failures, depends)
        return MigrationResult(source, destination, rules.mode,
                               rules.machine.machine.name if rules.machine else None,
                               rules.features, tuple(failures), tuple(notes), tuple(depends))

    def _depends_test(self, index: int, test: Tolerance, assumed: int) -> str:
        name = self.name_of(index) or codec.format_index(index)
        return (f"depends on the value of {name}: tolerated only when (value & {test.mask:#x}) "
                f"== {test.value:#x}; a register list has no values, so this assumes the reset "
                f"value {assumed:#x} (pass the source's migration stream for its real value)")

    def _value_rules(self, source: RegList, destination: RegList, rules: RuleSet,
                     both: frozenset[int], values: dict[int, int], direction: str,
                     failures: list[Failure], depends: list[str]) -> None:
        """Registers on both sides whose source value the destination kernel
        may refuse (``accepts``)."""
        from compat.qemu.value_rules import qemu_error, source_may_exceed, value_registers
        pins = rules.pins or {}
        for reg in value_registers(self.registry):
            if reg.index not in both:
                continue
            limit = reg.limit_at(destination.kernel)
            if limit is None:
                continue
            local = (destination.values or {}).get(reg.index, limit.default)
            if source.values is not None and reg.index in source.values:
                value = source.values[reg.index]
                origin = ("the source stream's value" if source.from_stream
                          else "the source's recorded value")
            elif reg.index in pins:
                value, origin = pins[reg.index][0], f"pinned by {pins[reg.index][1]}"
            elif reg.index in rules.written:
                value, origin = values[reg.index], "written by an enabled feature"
            else:
                if source_may_exceed(reg, source.kernel, destination.kernel):
                    default = reg.default_at(source.kernel)
                    src_default = (f"Linux {source.kernel} gives new vCPUs {default:#x}"
                                   if default is not None else
                                   f"Linux {source.kernel}'s limit is not recorded")
                    pin = (f", or pin it with -cpu ...,{reg.cpu_property.name}="
                           f"{reg.cpu_property.render(limit.max)}"
                           if reg.cpu_property and limit.max is not None else "")
                    depends.append(
                        f"depends on the value of {reg.name}: Linux {destination.kernel} "
                        f"accepts {limit.describe()} and {src_default}; pass the source's "
                        f"migration stream for its real value{pin}")
                continue
            if not limit.refuses(value):
                continue
            prop = reg.cpu_property
            fix = (f"the source's {reg.name} is {value:#x} ({origin}) but Linux "
                   f"{destination.kernel} accepts {limit.describe()} (since {limit.commit}): ")
            if prop is not None and limit.max is not None:
                fix += (f"start the source with -cpu ...,{prop.name}="
                        f"{prop.render(limit.max)} (QEMU {prop.qemu}+), or a machine type "
                        f"whose promise includes Linux {destination.kernel}: its compat "
                        f"properties pin {prop.name}")
            else:
                fix += "the destination kernel cannot take this value; migrate to a newer one"
            failures.append(self._failure(reg.index, direction, "value",
                                          qemu_error(reg, value, local), fix, rules))

    def _failure(self, index, direction, kind, error, fix, rules) -> Failure:
        decoded = codec.decode(index)
        return Failure(index, decoded.qemu_name, self.name_of(index), direction, kind, error,
                       fix, index in self.by_index)

    def _notes(self, source: RegList, destination: RegList, rules: RuleSet) -> list[str]:
        notes = []
        if rules.machine is not None:
            machine = rules.machine.machine
            for side in (source, destination):
                if side.kernel < machine.min_kernel:
                    notes.append(f"{machine.name} promises hosts from Linux {machine.min_kernel} "
                                 f"on; {side.name} is outside the promise")
        if source.host and destination.host and source.host != destination.host:
            notes.append(f"the hosts differ ({source.host}, {destination.host}): registers "
                         "may differ by CPU, not by kernel")
        return notes

    def _fix(self, index: int, direction: str, rules: RuleSet, detail: str | None,
             source: RegList, destination: RegList) -> str:
        """The registry rule that would let this register through."""
        reg = self.by_index.get(index)
        name = self.name_of(index) or codec.format_index(index)
        if detail is not None:
            return (f"none in the registry: the source's value of {name} carries guest state; "
                    "leave the feature off or migrate to a destination that has the register")
        change, kind = change_for(direction)
        kernel = source.kernel if direction == BACKWARD else destination.kernel
        if reg is None:
            from compat.analysis.scaffold import suggested_name
            name = suggested_name(codec.decode(index))
            older, newer = sorted((source.kernel, destination.kernel))
            when = (f"in Linux {newer}" if direction == "same-kernel" else
                    f"after Linux {older}, by {newer}")
            return (f"add [registers.{name}] with compat = \"{kind}\" and a change "
                    f"(change = \"{change}\", {when}); compat audit prints a ready entry")
        if reg.compat is None:
            return (f"add compat = \"{kind}\" (with safe-when or safe-because) to "
                    f"[registers.{reg.name}]")
        if rules.mode == NONE:
            return (f"the registry's compat = \"{reg.compat}\" for {reg.name} fixes it: "
                    "use --rules compat-props --machine ... or --rules tolerances")
        if rules.mode == COMPAT_PROPS and rules.machine is not None:
            machine = rules.machine.machine
            return (f"[registers.{reg.name}] has compat = \"{reg.compat}\" but no change after "
                    f"{machine.name}'s min-kernel {machine.min_kernel}: record the change "
                    f"(kernel = \"{kernel}\", change = \"{change}\")")
        return f"[registers.{reg.name}] needs compat = \"{kind}\""


def simulate(source: RegList, destination: RegList, registry: Registry, *,
             rules: str = NONE, machine: str | None = None, features: Iterable[str] = (),
             derivation: Derivation | None = None) -> MigrationResult:
    """Migrate ``source`` to ``destination``; see the module docstring for ``rules``."""
    sim = Simulator(registry, derivation)
    return sim.simulate(source, destination, sim.rule_set(rules, machine, features))


__all__ = ["COMPAT_PROPS", "TOLERANCES", "QEMU_11_1", "NONE", "RULES_MODES", "Failure", "MigrationResult",
           "RuleSet", "Simulator", "simulate", "direction_of"]
