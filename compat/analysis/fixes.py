"""What to do about a failing register, for the QEMU a rules mode assumes.

A fix must fit the mode (:mod:`compat.qemu.modes`): when the registry already
has a rule for the register and the mode's QEMU does not apply it (stock
QEMU 11.1 ships no tolerance for SCTLR2_EL1, which the registry hides), the
fix names the QEMUs that do apply it (compat's tables or tolerances, or
QEMU 11.1's own list) or the ``-cpu`` option that avoids the failure; only
a register the registry lacks a rule for gets "add a rule".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compat.core import codec
from compat.core.model import BACKWARD, Register, change_for
from compat.core.versions import Version
from compat.qemu import modes

if TYPE_CHECKING:
    from compat.analysis.reglist import RegList
    from compat.analysis.simulate import RuleSet, Simulator


def register_fix(sim: "Simulator", index: int, direction: str, rules: "RuleSet",
                 source: "RegList", destination: "RegList") -> str:
    """The fix for a register only the source has (an unknown register, or
    the longer incoming list it makes)."""
    reg = sim.by_index.get(index)
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
    if reg.compat == "refuse":
        return (f"no compat rule can let it through: dropping {reg.name} loses guest state "
                f"(compat explain {reg.name}); migrate only between hosts on the same side of "
                "the change, or run the guest without the vCPU feature (compat's tables refuse "
                "it on the machine types whose promise spans the change)")
    appliers = rule_appliers(sim, reg, rules.mode)
    if rules.qemu.needs_machine and rules.machine is not None:
        machine = rules.machine.machine
        if not _machines_applying(sim, reg):
            return (f"[registers.{reg.name}] has compat = \"{reg.compat}\" but no change after "
                    f"{machine.name}'s min-kernel {machine.min_kernel}: record the change "
                    f"(kernel = \"{kernel}\", change = \"{change}\")")
    if not appliers:
        return (f"the registry's compat = \"{reg.compat}\" for {reg.name} is applied by no "
                "QEMU compat knows; record the change that needs it")
    return (f"{rules.qemu.short(rules.machine_name)} does not apply the registry's "
            f"compat = \"{reg.compat}\" for {reg.name}; " + "; or ".join(appliers))


def rule_appliers(sim: "Simulator", reg: Register, mode: str) -> list[str]:
    """The QEMUs (rules modes other than ``mode``) that let ``reg`` through,
    each with the ``compat check`` options that assume it."""
    from compat.qemu.tolerance import SHIPPED, tolerance_for
    out = []
    if mode != modes.QEMU_11_1.name and any(reg.index in shipped for shipped in SHIPPED.values()):
        out.append(f"{modes.QEMU_11_1.short()} tolerates it (--rules qemu-11.1)")
    if mode != modes.TOLERANCES.name and tolerance_for(reg) is not None:
        out.append(f"a QEMU carrying compat's generated tolerances tolerates it "
                   f"(--rules tolerances)")
    machines = _machines_applying(sim, reg)
    if machines and not modes.resolve(mode).needs_machine:
        out.append(f"a QEMU carrying compat's tables {_verb(reg)}s it on {_list(machines)} "
                   f"(--rules compat-props --machine {machines[0]})")
    elif machines:
        out.append(f"compat's tables {_verb(reg)} it on {_list(machines)} (a machine type "
                   f"whose promise covers both kernels: --machine {machines[0]})")
    return out


def _verb(reg: Register) -> str:
    return "hide" if reg.compat == "hide" else "tolerate"


def _list(names: list[str]) -> str:
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def _machines_applying(sim: "Simulator", reg: Register) -> list[str]:
    """Machine types (newest first) whose derived rules hide or tolerate ``reg``."""
    return [m.machine.name for m in sim.derivation.machines
            if reg.index in m.hidden_indices or reg.index in m.tolerated_indices]


def value_test_fix(name: str) -> str:
    """A ``ToleranceOnlySrcTestValue`` register whose source value fails the test."""
    return (f"none in the registry: the source's value of {name} carries guest state; "
            "leave the feature off or migrate to a destination that has the register")


def value_fix(sim: "Simulator", reg: Register, value: int, origin: str,
              destination: Version, rules: "RuleSet") -> str:
    """The fix for a value the destination kernel refuses: the ``-cpu``
    option that pins it (where the mode's QEMU has it), the machine types
    whose compat tables pin it, or a destination kernel that accepts it."""
    limit = reg.limit_at(destination)
    head = (f"the source's {reg.name} is {value:#x} ({origin}) but Linux {destination} "
            f"accepts {limit.describe()} (since {limit.commit}): ")
    prop = reg.cpu_property
    options = []
    if prop is not None and limit.max is not None:
        setting = f"{prop.name}={prop.render(limit.max)}"
        if rules.qemu.has_property(prop.qemu):
            options.append(f"start the source with -cpu host,{setting} "
                           f"(--cpu-option {setting})")
        else:
            options.append(f"{rules.qemu.short(rules.machine_name)} has no {prop.name} "
                           f"(QEMU {prop.qemu} and later have it): run QEMU {prop.qemu} or "
                           f"newer with -cpu host,{setting}")
        pinning = _machines_pinning(sim, reg, destination)
        if pinning:
            options.append(f"a QEMU carrying compat's tables pins {setting} on "
                           f"{_list(pinning)} (--rules compat-props --machine {pinning[0]})")
    later = next((l.kernel for l in reg.accepts if l.kernel > destination and not l.refuses(value)),
                 None)
    if later is not None:
        options.append(f"migrate to a destination on Linux {later} or later")
    if not options:
        options.append("the destination kernel cannot take this value; migrate to a newer one")
    return head + "; or ".join(options)


def _machines_pinning(sim: "Simulator", reg: Register, destination: Version) -> list[str]:
    """Machine types whose tables pin ``reg`` to a value Linux ``destination`` accepts."""
    from compat.qemu.value_rules import pins_for
    limit = reg.limit_at(destination)
    out = []
    for machine in sim.registry.machine_versions():
        for pin in pins_for(sim.registry, machine):
            if pin.register.index == reg.index and not limit.refuses(pin.value):
                out.append(machine.name)
    return out


def id_fix(sim: "Simulator", rules: "RuleSet", facts: list, destination: Version) -> str:
    """The fix for an ID register value the destination refuses: lower the
    field on the source with QEMU's proposed host-model property, on the
    machine types whose tables pin it (:mod:`compat.qemu.id_rules`)."""
    from compat.qemu.id_rules import ID_PROPERTIES_WHO, id_rules_for
    known = [f for f in facts if f is not None]
    if not known:
        return (f"the source's ID register advertises a feature Linux {destination} does not "
                "support: migrate to a kernel that does, or record the field in the "
                "registry (id-fields on its ID register) so compat derives a rule")
    falls = [f for f in known if not f.rises]
    if falls:
        f = falls[0]
        return (f"no rule keeps this: {f.since} stops advertising {f.name} and Linux "
                f"{destination} cannot take the new value; migrate between kernels on the "
                f"same side of Linux {f.kernel} (compat's guards refuse the machine types "
                "that promise it on such hosts)")
    options = ",".join(f"{f.qemu_property}=0" for f in known)
    machines = [m.name for m in sim.registry.machine_versions()
                if any(p.field in known for p in id_rules_for(sim.registry, m)[0])]
    pinned = (f"; compat's tables for {_list(machines)} set it (.optional)" if machines
              else "")
    applied = rules.qemu.id_properties
    return (f"lower {', '.join(f.name for f in known)} on the source: -cpu host,{options}"
            f"{pinned}; that needs {ID_PROPERTIES_WHO}"
            + ("" if not applied else
               ", which this mode's QEMU has: pass --machine for a machine type that pins it"))
