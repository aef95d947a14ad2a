"""Value rules: registers whose VALUE a destination kernel may refuse.

A register present on both hosts still breaks a migration when the source's
value is one the destination's ``KVM_SET_ONE_REG`` refuses (``-EINVAL``):
QEMU then fails with ``Could not set register fw reg 0 to 10003 (is
10001)`` and ``Failed to put registers after init: Invalid argument``.  The
registry records such limits per kernel (``accepts``) and the CPU property
that sets the value (``cpu-property``); this module answers two questions:

* :func:`check_value`: does a destination kernel accept a source value?
* :func:`pins_for`: which values must a machine type pin through the CPU
  property so that every migration within its promise keeps working?
"""

from __future__ import annotations

from dataclasses import dataclass

from compat.core.model import MachineVersion, Register, Registry, ValueLimit
from compat.core.versions import Version

LOAD_FAILURE = "Failed to put registers after init: Invalid argument"


@dataclass(frozen=True)
class Pin:
    """A machine type sets ``register`` to ``value`` through its CPU property.

    ``limit`` is the register's limit on the machine type's ``min-kernel``
    (``value`` is its ``max``); ``forced_by`` is the first newer kernel's
    limit that lets a source hold more, the reason for the pin."""

    register: Register
    value: int
    limit: ValueLimit
    forced_by: ValueLimit

    @property
    def property_value(self) -> str:
        return self.register.cpu_property.render(self.value)   # type: ignore[union-attr]

    def raised(self) -> str:
        """What the forcing kernel changed: ``accepts up to 0x10003`` (or,
        for a bit-mask limit, ``gives new vCPUs 0x...``)."""
        by = self.forced_by
        if by.max is not None and by.max > self.value:
            return f"accepts up to {by.max:#x}"
        return f"gives new vCPUs {by.default:#x}"

    def describe(self) -> str:
        prop = self.register.cpu_property
        return f"{prop.name}={self.property_value} ({self.register.name} = {self.value:#x})"


def value_registers(registry: Registry) -> list[Register]:
    """Registers with per-kernel value limits, by index."""
    return sorted((r for r in registry.registers.values() if r.accepts), key=lambda r: r.index)


def pins_for(registry: Registry, machine: MachineVersion,
             limited: list[Register] | None = None) -> tuple[Pin, ...]:
    """The values ``machine`` must pin: for each register with a CPU property
    whose limit rises after the machine's ``min-kernel``, the limit at
    ``min-kernel`` (what every promised destination accepts).  ``limited``:
    :func:`value_registers` of ``registry``, when the caller asks for every
    machine type (found once, not by a scan of every register each time)."""
    pins = []
    for reg in value_registers(registry) if limited is None else limited:
        if reg.cpu_property is None:
            continue
        oldest = reg.limit_at(machine.min_kernel)
        if oldest is None or oldest.max is None:
            continue
        raised = [l for l in reg.accepts if l.kernel > machine.min_kernel
                  and max(l.default or 0, l.max or 0) > oldest.max]
        if raised:
            pins.append(Pin(reg, oldest.max, oldest, raised[0]))
    return tuple(pins)


def qemu_error(reg: Register, value: int, local: int | None) -> str:
    """What QEMU prints when the destination kernel refuses ``value``."""
    from compat.core import codec
    name = codec.decode(reg.index).qemu_name
    return (f"Could not set register {name} to {value:x} (is {local:x})" if local is not None
            else f"Could not set register {name} to {value:x}") + f"; {LOAD_FAILURE}"


def source_may_exceed(reg: Register, source: Version, destination: Version) -> bool:
    """Whether a source on ``source`` can hold a value ``destination`` refuses
    (it cannot exceed what its own kernel accepts)."""
    dst = reg.limit_at(destination)
    src = reg.limit_at(source)
    if dst is None:
        return False                 # nothing recorded for the destination
    if src is None:
        return True
    if dst.max is not None and src.max is not None:
        return src.max > dst.max
    if dst.mask is not None and src.mask is not None:
        return bool(src.mask & ~dst.mask)
    return True
