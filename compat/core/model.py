"""The registry's intermediate representation.

Objects here are built by :mod:`compat.load.semantic` after validation, so every
one of them is already consistent: indices agree with encodings, references
resolve, versions parse.  Each carries the :class:`~compat.core.diagnostics.Location`
it was written at, for messages and for provenance comments in generated
code.  Derived rules live in :mod:`compat.core.derive`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from compat.core.codec import Decoded
from compat.core.diagnostics import Location
from compat.core.versions import Version


def frozen(value: Any) -> Any:
    """A read-only view of parsed TOML: mappings become :class:`FrozenMapping`
    views, lists become tuples.  Mappings are frozen as they are read, not
    copied up front (a 10k-register document is 150k values, and plugins
    read a few keys)."""
    if isinstance(value, FrozenMapping):
        return value
    if isinstance(value, Mapping):
        return FrozenMapping(value)
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    return value


class FrozenMapping(Mapping):
    """A read-only mapping whose values are read-only too (see :func:`frozen`).
    The wrapped document is the loader's own, which nothing changes after
    validation."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]):
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return frozen(self._data[key])

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"


HIDE = "hide"
TOLERATE_MISSING = "tolerate-missing"
#: neither is safe: a machine type whose promise spans the change refuses
#: vCPUs with the change's vcpu-feature (nested vCPUs, el2)
REFUSE = "refuse"

#: KVM vCPU features (KVM_ARM_VCPU_*) by the name a register list's
#: ``# vcpu-features:`` header and ``vcpu-feature`` use, with what turns
#: each on in QEMU (compat/collector.py's FEATURES has their bits)
VCPU_FEATURES: Mapping[str, str] = {
    "psci-0.2": "KVM_ARM_VCPU_PSCI_0_2 (every QEMU vCPU under KVM)",
    "pmu-v3": "KVM_ARM_VCPU_PMU_V3 (-cpu host,pmu=on, the default)",
    "sve": "KVM_ARM_VCPU_SVE (-cpu host,sve=on)",
    "ptrauth": "KVM_ARM_VCPU_PTRAUTH_ADDRESS and _GENERIC (-cpu host,pauth=on)",
    "el2": "KVM_ARM_VCPU_HAS_EL2 (-machine virtualization=on with -accel kvm)",
}

BACKWARD, FORWARD = "backward", "forward"

#: Every kind of change, the migration it breaks and the rule that fixes it.
#: A kernel that exposes *more* (added; ungated: exposed without the CPU
#: feature it used to need) breaks migration from a new host to an old one
#: (backward), and the register must be hidden; one that exposes *less*
#: (removed; gated behind a feature) breaks forward migration, and the
#: register must be tolerated as missing.
CHANGE_KINDS: Mapping[str, tuple[str, str]] = {
    "added": (BACKWARD, HIDE),
    "ungated": (BACKWARD, HIDE),
    "removed": (FORWARD, TOLERATE_MISSING),
    "gated": (FORWARD, TOLERATE_MISSING),
}


def breaks(kind: str) -> str:
    """The migration a change of ``kind`` breaks: backward or forward."""
    return CHANGE_KINDS[kind][0]


def fixing_rule(kind: str) -> str:
    """The compat rule that fixes a change of ``kind``."""
    return CHANGE_KINDS[kind][1]


def change_for(direction: str) -> tuple[str, str]:
    """The plain change kind and rule for a register that breaks migration
    in ``direction`` (``backward``: it was added; else it was removed)."""
    kind = "added" if direction == BACKWARD else "removed"
    return kind, fixing_rule(kind)


@dataclass(frozen=True)
class Change:
    """One change of a register's exposure, by a kernel or a QEMU release."""

    kind: str                      # added | removed | gated | ungated
    kernel: Version | None         # exactly one of kernel / qemu is set
    qemu: Version | None
    commit: str
    #: gated/ungated: the feature the exposure depends on.  added/removed:
    #: optional, the change happens only on CPUs with the feature (on others
    #: the register is hidden before and after); same direction and rule.
    cpu_feature: str | None = None
    accel: str | None = None       # kvm | tcg | None (both)
    #: the KVM vCPU feature (VCPU_FEATURES: el2) the change is scoped to: it
    #: happens only in the lists of vCPUs created with it
    vcpu_feature: str | None = None
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
        return breaks(self.kind)

    def describe(self) -> str:
        """``"gated on FEAT_TCRX in Linux 6.13"``, ``"added on CPUs with
        FEAT_SCTLR2 in Linux 6.17"``."""
        try:  # computed once per change: generators ask once per rule that cites it
            return self.__dict__["_described"]
        except KeyError:
            pass
        text = self._describe()
        object.__setattr__(self, "_described", text)
        return text

    def _describe(self) -> str:
        where = f"Linux {self.kernel}" if self.kernel is not None else f"QEMU {self.qemu}"
        what = self.kind
        if self.cpu_feature:
            what += {"gated": " on", "ungated": " from"}.get(self.kind, " on CPUs with")
            what += f" {self.cpu_feature}"
        if self.vcpu_feature:
            what += f" on vCPUs with {self.vcpu_feature}"
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


#: The feature ID range KVM lets userspace read and (from Linux 6.7) lower:
#: op0 3, op1 0/1/3, CRn 0, CRm 0-7 (KVM_ARM_GET_REG_WRITABLE_MASKS's range).
def in_id_range(index: int) -> bool:
    """Whether ``index`` is a system register in the feature ID range."""
    if (index >> 56) != 0x60 or (index >> 16) & 0xfff != 0x13:
        return False
    op0, op1, crn, crm = (index >> 14) & 3, (index >> 11) & 7, (index >> 7) & 15, (index >> 3) & 15
    return op0 == 3 and op1 in (0, 1, 3) and crn == 0 and crm <= 7


@dataclass(frozen=True)
class IdField:
    """A feature field of an ID register that a kernel starts advertising:
    from Linux ``kernel`` on, on hosts with ``cpu_feature``, a new vCPU's
    field reads ``value`` (older kernels: 0).  ``older_accept`` says whether
    older kernels' ``KVM_SET_ONE_REG`` take the new value (a 6.16 KVM
    refuses SCTLRX = 1); ``writable_from`` is the first kernel whose
    writable mask (``KVM_ARM_GET_REG_WRITABLE_MASKS``) holds the field, so
    userspace may lower it."""

    register: str                  # the ID register's name in the registry
    field: str                     # the Arm ARM's field name (SCTLRX)
    shift: int
    width: int
    kernel: Version
    value: int
    commit: str | None               # None: not found (the source says how it was narrowed)
    cpu_feature: str | None = None
    older_accept: bool = False
    writable_from: Version | None = None
    subject: str | None = None
    source: str | None = None
    location: Location = field(default=Location("?"), compare=False)
    #: what kernels before ``kernel`` advertise (a field a kernel stops
    #: advertising has ``value`` below it: ID_AA64MMFR2_EL1.NV 2 -> 0)
    older_value: int = 0
    #: from ``kernel`` on, a write of ``older_value`` is accepted and ignored
    #: (set_id_aa64mmfr2_el1(): "allow userspace to write it, but silently ignore it")
    ignores_older: bool = False

    @property
    def rises(self) -> bool:
        """Whether ``kernel`` advertises more than older kernels."""
        return self.value > self.older_value

    @property
    def name(self) -> str:
        """``ID_AA64MMFR3_EL1.SCTLRX``."""
        return f"{self.register}.{self.field}"

    @property
    def since(self) -> str:
        """``Linux 6.17 (075c2dc7367e)``, or ``Linux 7.2`` without a commit."""
        return f"Linux {self.kernel}" + (f" ({self.commit})" if self.commit else "")

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift

    def get(self, value: int) -> int:
        """The field's value in register value ``value``."""
        return (value & self.mask) >> self.shift

    def put(self, value: int, field_value: int) -> int:
        """``value`` with the field set to ``field_value``."""
        return (value & ~self.mask) | ((field_value << self.shift) & self.mask)

    def writable_at(self, kernel: Version) -> bool:
        """Whether Linux ``kernel`` lets userspace lower the field."""
        return self.writable_from is not None and kernel >= self.writable_from

    @property
    def qemu_property(self) -> str:
        """QEMU's proposed host-model property (``SYSREG_<REG>_<FIELD>``)."""
        return f"SYSREG_{self.register}_{self.field}"


@dataclass(frozen=True)
class Register:
    name: str
    index: int
    decoded: Decoded
    description: str
    reset: int | None
    changes: tuple[Change, ...]
    compat: str | None             # HIDE | TOLERATE_MISSING | REFUSE | None
    safe_when: SafeWhen | None
    safe_because: str | None
    used_by: tuple[str, ...]
    sources: tuple[str, ...]
    location: Location = field(compare=False)
    accepts: tuple[ValueLimit, ...] = ()    # oldest first
    cpu_property: CpuProperty | None = None
    #: fields of this ID register that kernels started advertising
    id_fields: tuple[IdField, ...] = ()
    #: ``REG.FIELD``: the ID field that says the guest has this register's
    #: feature (SCTLR2_EL1: ID_AA64MMFR3_EL1.SCTLRX); KVM lists the register
    #: only while the VM's field says so
    id_field: str | None = None
    id_field_location: Location | None = field(default=None, compare=False)
    #: compat = REFUSE: why dropping the register is not safe
    refuse_because: str | None = None

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
    #: The validated document itself, for plugins that read keys their
    #: schema fragments added (read-only: mappings and tuples).
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Renderers and plugins share one registry: none may change it.
        for name in ("registers", "features", "machines"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        object.__setattr__(self, "data", frozen(self.data))

    def machine_versions(self) -> list[MachineVersion]:
        """Every machine version, by family name, newest first within a family."""
        return [v for name in sorted(self.machines) for v in self.machines[name].versions]


    def find_machine(self, name: str) -> MachineVersion | None:
        """The machine version called ``name`` (``virt-10.1``), if any."""
        return next((v for v in self.machine_versions() if v.name == name), None)

    def writers(self, register: Register) -> tuple[str, ...]:
        """Features that write ``register`` (declared by either side), sorted."""
        return self._writers.get(register.name, ())

    @functools.cached_property
    def _writers(self) -> Mapping[str, tuple[str, ...]]:
        names: dict[str, set[str]] = {}
        for reg in self.registers.values():
            names.setdefault(reg.name, set()).update(reg.used_by)
        for feature in self.features.values():
            for write in feature.writes:
                names.setdefault(write.register, set()).add(feature.name)
        return {reg: tuple(sorted(found)) for reg, found in names.items()}

    def id_field(self, name: str) -> IdField | None:
        """The ID field fact called ``REG.FIELD``, if recorded."""
        reg_name, _, field_name = name.partition(".")
        reg = self.registers.get(reg_name)
        if reg is None:
            return None
        return next((f for f in reg.id_fields if f.field == field_name), None)

    def id_fields(self) -> list[IdField]:
        """Every ID field fact, by register index then shift."""
        return list(self._id_fields)

    @functools.cached_property
    def _id_fields(self) -> tuple[IdField, ...]:
        # once per registry: every machine type asks (id_rules_for), and
        # sorting 100,000 registers each time was a tenth of loading
        return tuple(f for reg in sorted(self.registers.values(), key=lambda r: r.index)
                     if reg.id_fields for f in sorted(reg.id_fields, key=lambda f: f.shift))

    def gated_by(self, id_field: IdField) -> list[Register]:
        """Registers KVM lists only while the VM has ``id_field``."""
        return sorted((r for r in self.registers.values() if r.id_field == id_field.name),
                      key=lambda r: r.index)

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
