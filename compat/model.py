"""The registry's intermediate representation.

Objects here are built by :mod:`compat.registry` after validation, so every
one of them is already consistent: indices agree with encodings, references
resolve, versions parse.  Each carries the :class:`~compat.diagnostics.Location`
it was written at, for messages and for provenance comments in generated
code.  Derived rules live in :mod:`compat.derive`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from compat.codec import Decoded
from compat.diagnostics import Location
from compat.versions import Version

HIDE = "hide"
TOLERATE_MISSING = "tolerate-missing"

#: Change kinds whose new kernels expose *more*: they break migration from a
#: new host to an old one (backward).
EXPOSING_CHANGES = frozenset({"added", "ungated"})
#: Change kinds whose new kernels expose *less*: they break forward migration.
HIDING_CHANGES = frozenset({"removed", "gated"})


@dataclass(frozen=True)
class Change:
    """One change of a register's exposure, by a kernel or a QEMU release."""

    kind: str                      # added | removed | gated | ungated
    kernel: Version | None         # exactly one of kernel / qemu is set
    qemu: Version | None
    commit: str
    cpu_feature: str | None = None
    accel: str | None = None       # kvm | tcg | None (both)
    subject: str | None = None
    source: str | None = None
    location: Location = field(default=Location("?"), compare=False)

    @property
    def side(self) -> str:
        return "kernel" if self.kernel is not None else "qemu"

    @property
    def version(self) -> Version:
        return self.kernel if self.kernel is not None else self.qemu  # type: ignore[return-value]

    @property
    def direction(self) -> str:
        """Which migration the change breaks: ``backward`` (new to old) or ``forward``."""
        return "backward" if self.kind in EXPOSING_CHANGES else "forward"

    def describe(self) -> str:
        """``"gated on FEAT_TCRX in Linux 6.13"``."""
        where = f"Linux {self.kernel}" if self.kernel is not None else f"QEMU {self.qemu}"
        what = self.kind
        if self.cpu_feature:
            what += " on" if self.kind == "gated" else " from"
            what += f" {self.cpu_feature}"
        if self.accel:
            what += f" ({self.accel.upper()})"
        return f"{what} in {where}"


@dataclass(frozen=True)
class SafeWhen:
    """Dropping the register is safe when ``value & mask == expected``."""

    mask: int
    value: int

    def holds(self, register_value: int) -> bool:
        return register_value & self.mask == self.value


@dataclass(frozen=True)
class ValueLimit:
    """What ``KVM_SET_ONE_REG`` accepts for a register's value from Linux
    ``kernel`` on: at most ``max``, or only bits within ``mask``."""

    kernel: Version
    commit: str
    max: int | None = None
    mask: int | None = None
    default: int | None = None     # what a new vCPU gets on that kernel
    subject: str | None = None
    source: str | None = None
    location: Location = field(default=Location("?"), compare=False)

    def refuses(self, value: int) -> bool:
        if self.max is not None:
            return value > self.max
        return bool(value & ~(self.mask or 0))

    def describe(self) -> str:
        """``"at most 0x10001"`` / ``"only bits 0x3"``."""
        return f"at most {self.max:#x}" if self.max is not None else f"only bits {self.mask:#x}"


@dataclass(frozen=True)
class CpuProperty:
    """The QEMU CPU property that sets a register's value."""

    name: str
    format: str                    # major.minor | hex
    qemu: Version
    accel: str | None = None
    commit: str | None = None
    source: str | None = None

    def render(self, value: int) -> str:
        """The property value for register value ``value`` (``"1.1"``)."""
        if self.format == "major.minor":
            return f"{value >> 16}.{value & 0xffff}"
        return f"{value:#x}"


@dataclass(frozen=True)
class Register:
    name: str
    index: int
    decoded: Decoded
    description: str
    reset: int | None
    changes: tuple[Change, ...]
    compat: str | None             # HIDE | TOLERATE_MISSING | None
    safe_when: SafeWhen | None
    safe_because: str | None
    used_by: tuple[str, ...]
    sources: tuple[str, ...]
    location: Location = field(compare=False)
    accepts: tuple[ValueLimit, ...] = ()    # oldest first
    cpu_property: CpuProperty | None = None

    def limit_at(self, kernel: Version) -> ValueLimit | None:
        """The value limit in force on Linux ``kernel`` (None: not recorded)."""
        found = None
        for limit in self.accepts:
            if limit.kernel <= kernel:
                found = limit
        return found

    def default_at(self, kernel: Version) -> int | None:
        """The value a new vCPU gets on Linux ``kernel``, if recorded."""
        limit = self.limit_at(kernel)
        return limit.default if limit is not None else None

    @property
    def size(self) -> int:
        return self.decoded.size

    @property
    def max_value(self) -> int:
        return (1 << self.size) - 1


@dataclass(frozen=True)
class FeatureWrite:
    register: str
    value: int
    location: Location = field(compare=False)


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    property: str | None
    source: str | None
    writes: tuple[FeatureWrite, ...]
    location: Location = field(compare=False)


@dataclass(frozen=True)
class MachineVersion:
    """One versioned machine type (``virt-10.1``) and its promise."""

    family: str
    version: str
    min_kernel: Version
    qemu: Version | None           # the QEMU release of the machine type
    description: str | None
    hide: tuple[str, ...]          # explicit overrides, added to derivation
    tolerate_missing: tuple[str, ...]
    location: Location = field(compare=False)

    @property
    def name(self) -> str:
        return f"{self.family}-{self.version}"

    @property
    def ident(self) -> str:
        """C identifier suffix: ``virt_10_1``."""
        return "".join(c if c.isalnum() else "_" for c in self.name)


@dataclass(frozen=True)
class MachineFamily:
    name: str
    cpu_driver: str
    layout: str                    # per-version | chained
    description: str | None
    versions: tuple[MachineVersion, ...]   # newest first
    location: Location = field(compare=False)


@dataclass(frozen=True)
class Registry:
    """A validated registry: facts (registers, features) and promises (machines)."""

    filename: str
    schema_version: int
    registers: Mapping[str, Register]
    features: Mapping[str, Feature]
    machines: Mapping[str, MachineFamily]
    outputs: tuple[str, ...] | None
    plugins: tuple[str, ...]
    #: The validated document itself (read-only by convention), for plugins
    #: that read keys their schema fragments added.
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def machine_versions(self) -> list[MachineVersion]:
        """Every machine version, by family name, newest first within a family."""
        return [v for name in sorted(self.machines) for v in self.machines[name].versions]

    def find_machine(self, name: str) -> MachineVersion | None:
        for version in self.machine_versions():
            if version.name == name:
                return version
        return None

    def register_by_index(self) -> dict[int, Register]:
        return {r.index: r for r in self.registers.values()}

    def lookup_register(self, text: str) -> Register | None:
        """Find a register by name (any case) or by index."""
        if text in self.registers:
            return self.registers[text]
        lowered = {name.lower(): reg for name, reg in self.registers.items()}
        if text.lower() in lowered:
            return lowered[text.lower()]
        return None
