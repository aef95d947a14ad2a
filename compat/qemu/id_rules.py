"""ID field rules: what a machine type does about ID register fields that
a newer kernel advertises and an older one refuses.

Hiding a register does not hide its feature: the guest's ID register still
advertises it (ID_AA64MMFR3_EL1.SCTLRX = 1 on Linux 6.17 with FEAT_SCTLR2),
and the older kernel's ``KVM_SET_ONE_REG`` refuses that value (QEMU:
``Could not set register op0:3 op1:0 crn:0 crm:7 op2:3 to 111 (is 101)``).
For a machine type whose promise spans such a change (its ``min-kernel`` is
older than the field's ``kernel``), the rule is to lower the field on the
source, with QEMU's proposed host-model property ``SYSREG_<REG>_<FIELD>``
(:class:`IdPin`).  That is possible only where the newer kernel lets
userspace write the field (``writable-from``); where it does not, the
promise cannot be kept on hosts with the feature (:class:`IdBreak`): the
validator says so and the guards refuse the machine type there.

Which QEMU has the properties: none released.  The "customizable aarch64
KVM host model" series (``-cpu host,SYSREG_<REG>_<FIELD>=<value>``) is
proposed, not merged; the lab's patched QEMU carries them.  The rows are
``.optional``, so a QEMU without them skips them (and the migration then
fails as it does without the row).
"""

from __future__ import annotations

from dataclasses import dataclass

from compat.core.model import IdField, MachineVersion, Register, Registry

#: The QEMU release that has the SYSREG_* host-model properties: none yet.
ID_PROPERTIES_QEMU: str | None = None
#: In words, for docs, C comments and fixes.
ID_PROPERTIES_WHO = ("QEMU's proposed host-model properties (the \"customizable aarch64 KVM "
                     "host model\" series, in no QEMU release; the lab's patched QEMU has them)")


@dataclass(frozen=True)
class IdPin:
    """``machine`` lowers ``field`` to ``value`` on the source
    (``-cpu host,SYSREG_<REG>_<FIELD>=<value>``), so that a source on a newer
    kernel sends what every promised destination accepts."""

    field: IdField
    value: int
    hides: tuple[Register, ...]      # registers KVM then stops listing

    @property
    def qemu_property(self) -> str:
        return self.field.qemu_property

    @property
    def property_value(self) -> str:
        return str(self.value)

    def describe(self) -> str:
        """``SYSREG_ID_AA64MMFR3_EL1_SCTLRX=0 (ID_AA64MMFR3_EL1.SCTLRX: Linux
        6.17 (075c2dc7367e) advertises 1 on FEAT_SCTLR2 hosts)``."""
        f = self.field
        where = f" on {f.cpu_feature} hosts" if f.cpu_feature else ""
        return (f"{self.qemu_property}={self.value} ({f.name}: {f.since} "
                f"advertises {f.value}{where}, older kernels refuse it)")


@dataclass(frozen=True)
class IdBreak:
    """A promise no rule keeps: ``machine`` spans ``field``'s change and no
    kernel from ``field.kernel`` on lets userspace lower the field (or only
    from ``field.writable_from``)."""

    machine: MachineVersion
    field: IdField
    #: the oldest machine type of the family whose promise the field does not
    #: break: what the guard tells the user to use instead
    instead: str | None = None

    def message(self) -> str:
        f, m = self.field, self.machine
        where = f"hosts with {f.cpu_feature}" if f.cpu_feature else "such hosts"
        if not f.rises:
            return (f"{m.name} promises migration from Linux {m.min_kernel} on, but "
                    f"{f.since} stops advertising {f.name} ({f.older_value} -> "
                    f"{f.value}) and older kernels refuse the new value (the field is not in "
                    f"their writable mask): on {where} migration to Linux {m.min_kernel} "
                    f"from Linux {f.kernel} or later fails, and no rule keeps the promise")
        until = (f"before Linux {f.writable_from}" if f.writable_from is not None
                 else "on any kernel")
        return (f"{m.name} promises migration from Linux {m.min_kernel} on, but "
                f"{f.since} advertises {f.name} = {f.value} on {where}, older "
                f"kernels refuse it, and userspace cannot lower the field {until}: on "
                f"{where} the promise cannot be kept")

    @property
    def host_value(self) -> int:
        """The field's value (in place) on the hosts where the promise breaks:
        the advertised value of a rise, the older value of a field that a
        kernel stops advertising (an older host still shows it)."""
        f = self.field
        return (f.value if f.rises else f.older_value) << f.shift

    def guard_message(self) -> str:
        """What the generated start-up guard says when it refuses the machine
        type on a host whose ID register shows :attr:`host_value` (the
        simulator predicts it word for word)."""
        f, m = self.field, self.machine
        shown = f.value if f.rises else f.older_value
        why = (f"{f.since} advertises it and older kernels refuse it" if f.rises else
               f"{f.since} stops advertising it and older kernels cannot take that back")
        use = f"use {self.instead} or newer" if self.instead else f"raise {m.name}'s min-kernel"
        return (f"machine type {m.name} cannot keep its migration promise (Linux "
                f"{m.min_kernel} and later) on this host: {f.name} is {shown} here, and "
                f"{why}; {use}")

    def hint(self) -> str:
        if not self.field.rises:
            return (f"raise {self.machine.name}'s min-kernel to {self.field.kernel}; until "
                    f"then the guards refuse it on hosts with {self.field.cpu_feature or 'the feature'}")
        return (f"raise {self.machine.name}'s min-kernel to {self.field.kernel}, or record "
                "writable-from if a kernel's KVM_ARM_GET_REG_WRITABLE_MASKS holds the field")


def _breaks(field: IdField, machine: MachineVersion) -> bool:
    """Whether ``field``'s change breaks ``machine``'s promise with no pin."""
    if field.kernel <= machine.min_kernel:
        return False
    if not field.rises:
        return not (field.older_accept and field.ignores_older)
    return not field.older_accept and not (field.writable_from is not None
                                           and field.writable_from <= field.kernel)


def _keeping(registry: Registry, machine: MachineVersion, field: IdField) -> str | None:
    """The oldest machine type of ``machine``'s family whose promise ``field``
    does not break."""
    family = registry.machines[machine.family].versions      # newest first
    keeping = [m for m in family if not _breaks(field, m)]
    return keeping[-1].name if keeping else None


def id_rules_for(registry: Registry, machine: MachineVersion
                 ) -> tuple[tuple[IdPin, ...], tuple[IdBreak, ...]]:
    """The ID fields ``machine`` must lower (pins) and those it cannot (breaks)."""
    pins, breaks = [], []
    for f in registry.id_fields():
        if f.kernel <= machine.min_kernel:
            continue                 # the promise does not span the change
        if _breaks(f, machine):
            # a field the kernel stops advertising breaks unless the old kernels
            # take the new value and the new ones ignore the old
            # (set_id_aa64mmfr2_el1()); a rising one unless userspace can lower it
            breaks.append(IdBreak(machine, f, _keeping(registry, machine, f)))
        elif f.rises and not f.older_accept:
            pins.append(IdPin(f, f.older_value, tuple(registry.gated_by(f))))
    return tuple(pins), tuple(breaks)


__all__ = ["IdPin", "IdBreak", "id_rules_for", "ID_PROPERTIES_QEMU", "ID_PROPERTIES_WHO"]
