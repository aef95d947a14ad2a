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

Four rules modes (``--rules``), each standing for one QEMU
(:mod:`compat.qemu.modes` says which, in words, for every verdict):

``compat-props``
    a machine type's rules from the derivation: hidden registers leave both
    lists; tolerated (``x-mig-safe-missing-regs``) registers are ignored when
    they arrive and the destination lacks them; values the machine type pins
    (``kvm-psci-version``).  A feature that writes a register the machine
    type hides and that the machine type must refuse fails at VM start with
    the guard's message.
``tolerances`` / ``qemu-11.1``
    QEMU's per-CPU tolerances, as :mod:`compat.qemu.tolerance` decides them
    (every one the registry implies, or only those QEMU 11.1 ships):
    ``ToleranceNotOnBothEnds`` registers are ignored when they arrive and
    the destination lacks them; a ``ToleranceOnlySrcTestValue`` register
    only if the source's ``value & mask == expected``.
``qemu-10.0`` (alias ``none``)
    plain QEMU without any rule.

Register values: the source's own when the input carries them (a stream, a
``.cpregs`` list); otherwise what a real source would send: the value an
enabled feature writes, a value the rules pin (the machine type's tables,
or ``--cpu-option kvm-psci-version=1.1`` on a QEMU that has the property),
else the source kernel's value for a new vCPU (``default`` in the
registry's ``accepts``, else the register's ``reset``).  Only where none is
known does the verdict depend on values: it is then "unknown", not a pass.

Value rules (:mod:`compat.qemu.value_rules`): a register on both sides whose
source value the destination kernel refuses (``accepts`` in the registry,
e.g. KVM_REG_ARM_PSCI_VERSION above 0x10001 on Linux <= 6.12) fails the
migration with QEMU's ``Could not set register ...``; so does an ID register
field above the destination kernel's (:mod:`compat.analysis.idvalues`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from compat.core import codec
from compat.analysis.reglist import RegList
from compat.core.derive import Derivation, MachineRules
from compat.core.diagnostics import COMMAND_LINE, CompatError, did_you_mean
from compat.core.model import Register, Registry
from compat.qemu import modes
from compat.qemu.cpu_options import IdOption
from compat.qemu.modes import RulesMode
from compat.qemu.tolerance import NOT_ON_BOTH_ENDS, Tolerance, tolerances
from compat.qemu.refusals import (refusal_fix, refusal_message, vcpu_refusal_fix,
                                   vcpu_refusal_message)

COMPAT_PROPS, TOLERANCES = modes.COMPAT_PROPS.name, modes.TOLERANCES.name
#: the tolerances QEMU 11.1 ships (compat.qemu.tolerance.SHIPPED), not compat's whole list
QEMU_11_1 = modes.QEMU_11_1.name
#: QEMU without cpreg migration rules (``none`` is its alias)
QEMU_10_0 = NONE = modes.QEMU_10_0.name
#: QEMU 10.2.2 with compat's patch set, its rules off: no rule, like NONE
QEMU_10_2_PATCHED = modes.QEMU_10_2_PATCHED.name
#: every name ``--rules`` accepts, aliases included
RULES_MODES = modes.NAMES

LOAD_ERROR = "error while loading state for instance 0x0 of device 'cpu'"


from compat.analysis.verdict import (  # noqa: F401  (re-exported)
    FAIL, LENGTH_ERROR, PASS, UNKNOWN, Failure, MigrationResult, direction_of)


@dataclass(frozen=True)
class Guard:
    """A feature the machine type refuses: the VM does not even start."""

    message: str        # what QEMU prints (the generated C guard's text)
    index: int          # the register the feature writes
    fix: str
    #: a refused vCPU feature (nested vCPUs): the VM never starts, so no
    #: register is compared
    vcpu: bool = False


@dataclass(frozen=True)
class RuleSet:
    """What one rules mode makes of the registry, precomputed for many pairs."""

    mode: str
    machine: MachineRules | None
    hidden: frozenset[int]                     # removed from both lists
    tolerated: frozenset[int]                  # ignored when unknown at destination
    value_tests: dict[int, Tolerance]          # ToleranceOnlySrcTestValue, by index
    values: dict[int, int]                     # values written by enabled features
    features: tuple[str, ...]
    guards: tuple[Guard, ...] = ()              # refused features (VM start fails)
    #: index -> (value, what sets it): the machine type's pins, then -cpu options
    pins: dict[int, tuple[int, str]] = field(default_factory=dict)
    cpu_options: tuple = ()                     # compat.qemu.cpu_options.CpuOption
    refused_options: tuple = ()                 # options the mode's QEMU lacks
    #: ID field -> the value the source's QEMU lowers it to (compat.qemu.id_rules)
    id_pins: dict[str, int] = field(default_factory=dict)
    #: ID fields whose change breaks the machine type's promise with no pin: the
    #: start-up guard refuses the machine type on a host that shows the value
    id_breaks: tuple = ()                       # compat.qemu.id_rules.IdBreak

    @property
    def qemu(self) -> RulesMode:
        return modes.resolve(self.mode)

    @property
    def machine_name(self) -> str | None:
        return self.machine.machine.name if self.machine else None


class Simulator:
    """Migrations under one registry; caches each list's cpreg set."""

    def __init__(self, registry: Registry, derivation: Derivation | None = None):
        self.registry = registry
        self._derivation = derivation
        self.by_index: dict[int, Register] = registry.register_by_index()
        self._cpreg: dict[tuple, frozenset[int]] = {}
        self._tolerances = tolerances(registry)
        self._ids = None
        self._lowered: dict[tuple, frozenset[int]] = {}

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
                 features: Iterable[str] = (), cpu_options: Iterable[str] = (),
                 vcpu_features=None) -> RuleSet:
        """Precompute ``mode``'s rules for ``machine`` with ``features`` enabled
        and ``cpu_options`` (``kvm-psci-version=1.1``) on ``-cpu host``, for
        a vCPU with KVM vCPU features ``vcpu_features`` (a list's header;
        a machine type may refuse some: nested vCPUs, el2)."""
        qemu = modes.resolve(mode)
        mode = qemu.name
        features = tuple(sorted(set(features)))
        values = self._values(features)
        from compat.qemu.cpu_options import parse_cpu_options
        options = parse_cpu_options(self.registry, cpu_options)
        usable = tuple(o for o in options if (qemu.id_properties if isinstance(o, IdOption)
                                              else qemu.has_property(o.prop.qemu)))
        refused = tuple(o for o in options if o not in usable)
        user_pins = {o.register.index: (o.value, f"-cpu host,{o.text}") for o in usable
                     if not isinstance(o, IdOption)}
        user_id_pins = {o.field.name: o.value for o in usable if isinstance(o, IdOption)}
        if qemu.needs_machine:          # compat's tables and guards for the machine type
            if machine is None:
                raise CompatError.at(COMMAND_LINE,
                                     f"--rules {mode} needs a machine type",
                                     hint="pass --machine virt-X.Y")
            rules = self.machine_rules(machine)
            guards = [Guard(refusal_message(self.derivation, rules, refusal),
                            refusal.register.index,
                            refusal_fix(self.derivation, rules, refusal))
                      for refusal in rules.refusals if refusal.feature.name in features]
            guards += self.vcpu_guards(mode, machine, vcpu_features)
            from compat.qemu.value_rules import pins_for
            pins = {p.register.index: (p.value, f"{rules.machine.name}'s compat property "
                                       f"{p.register.cpu_property.name}={p.property_value}")
                    for p in pins_for(self.registry, rules.machine)}
            pins.update(user_pins)
            from compat.qemu.id_rules import id_rules_for
            id_pin_rules, id_breaks = id_rules_for(self.registry, rules.machine)
            id_pins = ({p.field.name: p.value for p in id_pin_rules}
                       if qemu.id_properties else {})
            id_pins.update(user_id_pins)
            return RuleSet(mode, rules, frozenset(rules.hidden_indices),
                           frozenset(rules.tolerated_indices), {}, values, features,
                           tuple(guards), pins, usable, refused, id_pins, id_breaks)
        machine_rules = self.machine_rules(machine) if machine else None
        stock = tuple(self.vcpu_guards(mode, machine, vcpu_features))
        if mode in (NONE, QEMU_10_2_PATCHED):
            return RuleSet(mode, machine_rules, frozenset(), frozenset(), {}, values, features,
                           stock, user_pins, usable, refused, user_id_pins)
        tolerated, tests = set(), {}
        shipped = tolerances(self.registry, qemu.release) if mode == QEMU_11_1 else None
        for tolerance in shipped if shipped is not None else self._tolerances:
            if tolerance.kind == NOT_ON_BOTH_ENDS:
                tolerated.add(tolerance.index)
            else:
                tests[tolerance.index] = tolerance
        return RuleSet(mode, machine_rules, frozenset(), frozenset(tolerated), tests, values,
                       features, stock, user_pins, usable, refused)

    def vcpu_guards(self, mode: str, machine: str, vcpu_features) -> list[Guard]:
        """The guards that refuse a vCPU with ``vcpu_features``: ``machine``'s
        (the compat-props mode's QEMU carries them), or a stock QEMU's own
        refusal of nested vCPUs (:mod:`compat.qemu.nested`)."""
        from compat.qemu.nested import VGIC_EL2_INDEX, stock_refusal
        stock = stock_refusal(modes.resolve(mode).name, vcpu_features)
        if stock is not None:
            return [Guard(stock.text(), VGIC_EL2_INDEX, "no stock QEMU migrates a nested "
                          "vCPU: migrate the guest without -machine virtualization=on",
                          vcpu=True)]
        if not modes.resolve(mode).needs_machine or not vcpu_features or machine is None:
            return []
        rules = self.machine_rules(machine)
        return [Guard(vcpu_refusal_message(self.derivation, rules, refusal), refusal.index,
                      vcpu_refusal_fix(self.derivation, rules, refusal), vcpu=True)
                for refusal in rules.refuses_vcpu(vcpu_features)]

    def machine_rules(self, name: str) -> MachineRules:
        """The derived rules of machine type ``name``; CompatError if unknown."""
        rules = self.derivation.for_machine(name)
        if rules is None:
            names = [m.name for m in self.registry.machine_versions()]
            suggestion = did_you_mean(name, names)
            if not suggestion:    # "10.1" for "virt-10.1": the family's prefix was left out
                prefixed = [n for n in names if n.endswith("-" + name)]
                if prefixed:
                    suggestion = f" (did you mean '{prefixed[0]}'?)"
            raise CompatError.at(COMMAND_LINE,  # --machine: the registry's names are known
                                 f"unknown machine type '{name}'{suggestion}",
                                 hint="the registry defines " + ", ".join(names))
        return rules

    def _values(self, features: tuple[str, ...]) -> dict[int, int]:
        values: dict[int, int] = {}
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

    def source_value(self, index: int, source: RegList,
                     rules: RuleSet) -> tuple[int | None, str]:
        """The value a real source on ``source`` sends for ``index``, and
        where it comes from; ``(None, why)`` when nothing says."""
        if source.values is not None and index in source.values:
            return source.values[index], ("the source stream's value"
                                          if source.from_stream
                                          else "the source's recorded value")
        if index in rules.values:
            return rules.values[index], "written by an enabled feature"
        if index in rules.pins:
            value, by = rules.pins[index]
            return value, f"set by {by}"
        reg = self.by_index.get(index)
        if reg is not None:
            default = reg.default_at(source.kernel)
            if default is not None:
                return default, f"what Linux {source.kernel} gives a new vCPU"
            if reg.reset is not None:
                return reg.reset, "its reset value, a new vCPU's"
        return None, "no default is recorded"

    # -- simulation --------------------------------------------------------

    def passes(self, src: frozenset[int], dst: frozenset[int], rules: RuleSet,
               source: RegList | None = None, destination: RegList | None = None) -> bool:
        """The fast verdict on two cpreg sets (no explanation).  With the
        lists themselves, values count too (tolerance tests and value rules,
        from the source kernel's defaults); without them a value test
        assumes the register's reset value."""
        if rules.guards or rules.refused_options:
            return False
        if rules.id_breaks and source is not None and destination is not None and any(
                self._host_refusals(side, rules) for side in (source, destination)):
            return False
        if rules.hidden:
            src, dst = src - rules.hidden, dst - rules.hidden
        if rules.id_pins:
            src = src - self._lowered_away(rules)
        for index in src - dst:
            if index in rules.tolerated:
                continue
            test = rules.value_tests.get(index)
            if test is None:
                return False
            if source is not None:
                value = self.source_value(index, source, rules)[0]
            else:
                reg = self.by_index.get(index)
                value = rules.values.get(index, reg.reset if reg is not None else None)
            if value is None or not test.allows(value):
                return False
        if source is not None and destination is not None:
            return (self._values_pass(source, destination, rules, src & dst)
                    and not self._id_check(source, destination, rules)[0])
        return True

    def _values_pass(self, source: RegList, destination: RegList, rules: RuleSet,
                     both: frozenset[int]) -> bool:
        from compat.qemu.value_rules import source_may_exceed, value_registers
        for reg in value_registers(self.registry):
            limit = reg.limit_at(destination.kernel) if reg.index in both else None
            if limit is None:
                continue
            value = self.source_value(reg.index, source, rules)[0]
            if value is None:
                if source_may_exceed(reg, source.kernel, destination.kernel):
                    return False
            elif limit.refuses(value):
                return False
        return True

    def simulate(self, source: RegList, destination: RegList, rules: RuleSet) -> MigrationResult:
        """Migrate ``source`` to ``destination`` under ``rules``, explaining failures."""
        from compat.analysis import fixes
        direction = direction_of(source, destination)
        notes = self._notes(source, destination, rules)
        depends: list[str] = []
        failures: list[Failure] = []

        def result(length=None) -> MigrationResult:
            """The verdict so far (an early one when a QEMU does not start)."""
            return MigrationResult(source, destination, rules.mode, rules.machine_name,
                                   rules.features, tuple(failures), tuple(notes), tuple(depends),
                                   tuple(o.text for o in rules.cpu_options + rules.refused_options),
                                   length)
        for option in rules.refused_options:
            failures.append(self._failure(
                option.register.index, "start", "cpu-option", option.refusal(),
                f"{rules.qemu.short(rules.machine_name)} {option.lacking()}: run a QEMU that "
                f"has it, or leave -cpu host,{option.text} off", rules))
        for option in rules.cpu_options:
            if isinstance(option, IdOption):    # an ID field: checked with the ID values
                continue
            limit = option.register.limit_at(source.kernel)
            if limit is not None and limit.refuses(option.value):
                failures.append(self._failure(
                    option.register.index, "start", "cpu-option",
                    f"-cpu host,{option.text}: Linux {source.kernel}'s KVM_SET_ONE_REG refuses "
                    f"{option.register.name} = {option.value:#x} (it accepts "
                    f"{limit.describe()}): the source vCPU cannot be created",
                    f"pass a value Linux {source.kernel} accepts ({limit.describe()})", rules))
        if failures:        # the source QEMU does not start: no migration to predict
            return result()
        for guard in rules.guards:
            failures.append(self._failure(guard.index, "start", "guard", guard.message,
                                          guard.fix, rules))
        if any(guard.vcpu for guard in rules.guards):   # the VM does not start
            return result()
        refusals = [f for side in (source, destination)
                    for f in self._host_refusals(side, rules)]
        if refusals:    # a QEMU refuses the machine type when its vCPU is created
            failures += refusals
            return result()
        src = self.cpreg(source) - rules.hidden - self._lowered_away(rules)
        dst = self.cpreg(destination) - rules.hidden
        tcg = _tcg_only(src, dst)
        if tcg:
            notes.append(tcg)
        bad: list[tuple[int, str | None]] = []      # (index, value-test detail)
        accepted = 0
        for index in sorted(src - dst):
            if index in rules.tolerated:
                accepted += 1
                continue
            test = rules.value_tests.get(index)
            if test is None:
                bad.append((index, None))
                continue
            value, origin = self.source_value(index, source, rules)
            if value is None:
                accepted += 1
                depends.append(self._depends_test(index, test, origin))
            elif test.allows(value):
                accepted += 1
                if origin.startswith("its reset value") and codec.decode(index).group == "sysreg":
                    notes.append(f"{self.name_of(index)} is assumed to hold {value:#x} ({origin}); "
                                 "a running guest may have written another value, which fails "
                                 "the tolerance test: pass the source's migration stream for "
                                 "its real value")
            else:
                bad.append((index, f"its value {value:#x} fails the tolerance test (value & "
                                   f"{test.mask:#x} == {test.value:#x}; {origin})"))
        incoming = len(src) - accepted
        # QEMU with the cpreg tolerances (11.1) sizes the incoming arrays for the
        # stream: 268 entries into 267 loaded, and cpu_post_load() then names the
        # register ("... in the incoming stream but unknown on the destination")
        qemu = rules.qemu
        too_long = incoming > len(dst) and not qemu.names_registers
        for index, detail in bad:
            what = f"register {codec.format_index(index)} ({codec.decode(index).qemu_name})"
            if too_long:
                error, kind = LENGTH_ERROR, "length"    # QEMU names no register here
            else:
                error = (qemu.unknown_register_error(index)
                         or f"{LOAD_ERROR}: {what} in the stream is unknown to the destination")
                kind = "unknown-register"
            if detail:
                error += f"; {detail}" if qemu.names_registers else f" and {detail}"
                kind = "value-test" if not too_long else kind
                fix = fixes.value_test_fix(self.name_of(index) or codec.format_index(index))
            elif tcg and codec.decode(index).arch == "arm":
                fix = ("a TCG register (QEMU's AArch32 id, never in KVM's list): migrate "
                       "between two KVM hosts, with a source list from KVM_GET_REG_LIST")
            else:
                fix = fixes.register_fix(self, index, direction, rules, source, destination)
            failures.append(self._failure(index, direction, kind, error, fix, rules))
        self._value_rules(source, destination, rules, src & dst, direction, failures, depends)
        # QEMU writes the ID registers only once the stream loaded: not after a
        # length failure, nor after QEMU 10.0's cpu_post_load() refused a register
        loaded = not (too_long and bad) and not (rules.mode == NONE and bad)
        problems, id_depends = (self._id_check(source, destination, rules) if loaded
                                else ([], []))
        failures += [self._failure(p.index, direction, p.kind, p.error, p.fix, rules)
                     for p in problems]
        depends += id_depends
        return result((incoming, len(dst)) if too_long and bad else None)

    def _depends_test(self, index: int, test: Tolerance, why: str) -> str:
        name = self.name_of(index) or codec.format_index(index)
        return (f"depends on the value of {name}: tolerated only when (value & {test.mask:#x}) "
                f"== {test.value:#x}, and {why} (pass the source's migration stream for its "
                "real value)")

    def _value_rules(self, source: RegList, destination: RegList, rules: RuleSet,
                     both: frozenset[int], direction: str, failures: list[Failure],
                     depends: list[str]) -> None:
        """Registers on both sides whose source value the destination kernel
        may refuse (``accepts``)."""
        from compat.analysis.fixes import value_fix
        from compat.qemu.value_rules import qemu_error, source_may_exceed, value_registers
        for reg in value_registers(self.registry):
            if reg.index not in both:
                continue
            limit = reg.limit_at(destination.kernel)
            if limit is None:
                continue
            value, origin = self.source_value(reg.index, source, rules)
            if value is None:
                if source_may_exceed(reg, source.kernel, destination.kernel):
                    depends.append(
                        f"depends on the value of {reg.name}: Linux {destination.kernel} "
                        f"accepts {limit.describe()}, and for Linux {source.kernel} {origin}; "
                        "pass the source's migration stream for its real value")
                continue
            if not limit.refuses(value):
                continue
            local = (destination.values or {}).get(reg.index, limit.default)
            failures.append(self._failure(
                reg.index, direction, "value", qemu_error(reg, value, local),
                value_fix(self, reg, value, origin, destination.kernel, rules), rules))

    def _lowered_away(self, rules: RuleSet) -> frozenset[int]:
        """Registers the source's KVM stops listing once ``rules``' ID pins lower
        the field they come with (SCTLR2_EL1 once SCTLRX = 0): visibility
        follows the guest's ID fields, and the pins are written before QEMU
        reads the cpreg list."""
        if not rules.id_pins:
            return frozenset()
        key = tuple(sorted(rules.id_pins.items()))
        found = self._lowered.get(key)
        if found is None:       # once per set of pins: passes() asks for every pair
            found = self._lowered[key] = frozenset(
                reg.index for f in self.registry.id_fields()
                if f.name in rules.id_pins and rules.id_pins[f.name] < f.value
                for reg in self.registry.gated_by(f))
        return found

    def _host_refusals(self, side: RegList, rules: RuleSet) -> list[Failure]:
        """The start-up guards' refusals of ``rules``' machine type on ``side``'s
        host: an ID field whose value there breaks the promise with no pin
        (:class:`compat.qemu.id_rules.IdBreak`; the lab's patched QEMU checks
        each new vCPU).  Only recorded values count (a stream, an ``.idregs``
        file, a value list): a list alone does not say what its host shows,
        as in the ID value check."""
        found = []
        for brk in rules.id_breaks:
            f = brk.field
            index = self.registry.registers[f.register].index
            value = side.id_value(index)
            if value is not None and value & f.mask == brk.host_value:
                fix = (f"the QEMU on Linux {side.kernel} does not start {brk.machine.name}: "
                       f"{brk.hint()}")
                found.append(self._failure(index, "start", "guard", brk.guard_message(),
                                           fix, rules))
        return found

    def _id_check(self, source: RegList, destination: RegList, rules: RuleSet):
        """ID register values the destination refuses, and registers its KVM
        hides once it took a lower ID value (:mod:`compat.analysis.idvalues`)."""
        from compat.analysis.fixes import id_fix
        from compat.analysis.idvalues import IdCheck
        if self._ids is None:
            self._ids = IdCheck(self.registry)
        return self._ids.check(
            source, destination, self.cpreg(source), self.cpreg(destination),
            self.cpreg(destination) - rules.hidden, rules.id_pins,
            lambda index, facts: id_fix(self, rules, facts, destination.kernel))

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


def _tcg_only(src: frozenset[int], dst: frozenset[int]) -> str | None:
    """A note when exactly one side's cpreg list is a TCG CPU's: AArch32
    registers under QEMU's own ids (arch 0x40), which KVM never lists."""
    counts = [sum(1 for i in side if i >> 56 == 0x40) for side in (src, dst)]
    if bool(counts[0]) == bool(counts[1]):
        return None
    side, other = ("source", "destination") if counts[0] else ("destination", "source")
    return (f"the {side} was a TCG CPU (its cpreg list carries {max(counts)} AArch32 "
            f"registers under QEMU's own ids, which KVM never lists), the {other} a KVM one: "
            "a TCG CPU's list is not what KVM exposes, so the lists differ by accelerator, "
            "not by kernel")


def simulate(source: RegList, destination: RegList, registry: Registry, *,
             rules: str = NONE, machine: str | None = None, features: Iterable[str] = (),
             derivation: Derivation | None = None,
             cpu_options: Iterable[str] = ()) -> MigrationResult:
    """Migrate ``source`` to ``destination``; see the module docstring for ``rules``."""
    sim = Simulator(registry, derivation)
    return sim.simulate(source, destination, sim.rule_set(rules, machine, features, cpu_options))


__all__ = ["COMPAT_PROPS", "TOLERANCES", "QEMU_11_1", "QEMU_10_0", "NONE", "RULES_MODES",
           "PASS", "FAIL", "UNKNOWN", "Failure", "MigrationResult", "RuleSet", "Simulator",
           "simulate", "direction_of"]
