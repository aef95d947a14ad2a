"""``--cpu-option NAME=VALUE``: what a ``-cpu host,NAME=VALUE`` sets.

QEMU's ``-cpu host,kvm-psci-version=1.1`` sets a register's value through a
CPU property; the registry names such properties (``cpu-property``).  This
module reads the option as QEMU would: the property must exist (a QEMU
older than the property refuses it at start with ``Property
'host-arm-cpu.NAME' not found``) and its value is written in the property's
format (``major.minor`` or a number).

``SYSREG_<REG>_<FIELD>=N`` (QEMU's proposed host-model properties, which
the lab's patched QEMU has) lowers an ID register field the registry knows
(``id-fields``) on the source: an :class:`IdOption`.
"""

from __future__ import annotations

from dataclasses import dataclass

from compat.core.diagnostics import COMMAND_LINE, CompatError, did_you_mean
from compat.core.model import CpuProperty, IdField, Register, Registry

#: QEMU's type name of ``-cpu host`` (its refusals name the property by it)
HOST_CPU_TYPE = "host-arm-cpu"


@dataclass(frozen=True)
class CpuOption:
    """One ``-cpu host,NAME=VALUE`` option: the register it sets and the value."""

    register: Register
    value: int
    text: str                        # as the user wrote it: kvm-psci-version=1.1

    @property
    def prop(self) -> CpuProperty:
        return self.register.cpu_property      # type: ignore[return-value]

    def refusal(self) -> str:
        """What a QEMU without the property prints at start."""
        return f"Property '{HOST_CPU_TYPE}.{self.prop.name}' not found"

    def lacking(self) -> str:
        """Why a QEMU refuses the option, after its name."""
        return f"has no {self.prop.name} (QEMU {self.prop.qemu} and later have it)"


@dataclass(frozen=True)
class IdOption:
    """One ``-cpu host,SYSREG_<REG>_<FIELD>=N`` option: the ID field it lowers."""

    field: IdField
    register: Register               # the ID register
    value: int
    text: str

    def refusal(self) -> str:
        """What a QEMU without the host-model properties prints at start."""
        return f"Property '{HOST_CPU_TYPE}.{self.field.qemu_property}' not found"

    def lacking(self) -> str:
        """Why a QEMU refuses the option, after its name."""
        from compat.qemu.id_rules import ID_PROPERTIES_WHO
        return f"has no {self.field.qemu_property}: it is one of {ID_PROPERTIES_WHO}"


def parse_cpu_options(registry: Registry, items) -> tuple[CpuOption | IdOption, ...]:
    """Read ``--cpu-option`` values; a usage error (``<command line>``) for a
    property the registry does not know or a value it cannot read."""
    by_name = {r.cpu_property.name: r for r in registry.registers.values()
               if r.cpu_property is not None}
    id_fields = {f.qemu_property: f for f in registry.id_fields()}
    out: dict[str, CpuOption | IdOption] = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise CompatError.at(COMMAND_LINE, f"--cpu-option {item!r}: write NAME=VALUE",
                                 hint="e.g. --cpu-option kvm-psci-version=1.1, as in "
                                      "-cpu host,kvm-psci-version=1.1")
        if name in id_fields:
            f = id_fields[name]
            out[name] = IdOption(f, registry.registers[f.register],
                                 _parse_field(f, text, item), f"{name}={text}")
            continue
        reg = by_name.get(name)
        if reg is None:
            known = sorted(by_name) + sorted(id_fields)
            raise CompatError.at(
                COMMAND_LINE, f"--cpu-option {item!r}: no register in the registry is set "
                f"by a CPU property '{name}'{did_you_mean(name, known)}",
                hint=("the registry knows " + ", ".join(known)) if known
                else "the registry names no cpu-property")
        value = _parse_value(reg.cpu_property, text, item)
        out[name] = CpuOption(reg, value, f"{name}={text}")     # the last one wins, as in QEMU
    return tuple(sorted(out.values(), key=lambda o: o.register.index))


def _parse_field(f: IdField, text: str, item: str) -> int:
    if text.isdigit() and int(text) < 1 << f.width:
        return int(text)
    raise CompatError.at(COMMAND_LINE, f"--cpu-option {item!r}: '{text}' is not a value of "
                         f"the {f.width}-bit field {f.name}", hint=f"e.g. {f.qemu_property}=0")


def _parse_value(prop: CpuProperty, text: str, item: str) -> int:
    if prop.format == "major.minor":
        major, dot, minor = text.partition(".")
        if dot and major.isdigit() and minor.isdigit() and int(major) < 1 << 16 \
                and int(minor) < 1 << 16:
            return int(major) << 16 | int(minor)
        raise CompatError.at(COMMAND_LINE, f"--cpu-option {item!r}: '{text}' is not a "
                             f"MAJOR.MINOR version", hint=f"e.g. {prop.name}=1.1")
    from compat.core.codec import CodecError, c_number
    try:
        return c_number(text)
    except CodecError:
        raise CompatError.at(COMMAND_LINE, f"--cpu-option {item!r}: '{text}' is not a number",
                             hint=f"e.g. {prop.name}=0x1") from None
