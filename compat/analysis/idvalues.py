"""The simulator's ID register check: an incoming ID register value whose
fields exceed what the destination's kernel advertises is refused.

What real QEMU and KVM do, in order (``target/arm/kvm.c``
``write_list_to_kvmstate()``, ``arch/arm64/kvm/sys_regs.c``): after the
incoming stream is loaded, QEMU writes every register of its cpreg list
with ``KVM_SET_ONE_REG``, in index order, so the feature ID registers
(CRn 0) come before the registers they gate.  KVM (from Linux 6.7,
``set_id_reg()`` / ``arm64_check_features()``) takes an ID value whose
fields in the writable mask are at most its own and whose other bits equal
its own; anything else fails, and QEMU prints ``Could not set register
op0:3 op1:0 crn:0 crm:7 op2:3 to 111 (is 101)`` (the destination's own
value after ``is``).  Linux before 6.7 takes only its own value.

An accepted lower value changes what KVM then exposes: register visibility
follows the VM's ID fields (``sctlr2_visibility()``: SCTLR2_EL1 exists only
while ID_AA64MMFR3_EL1.SCTLRX says FEAT_SCTLR2).  A register the destination
listed at start and that its ID field now hides fails when QEMU writes it
after the ID register (``-ENOENT``): a forward migration from a kernel
without the field to one with it fails that way on a host with the feature.

Values: the lists' own (an ``.idregs`` sibling, a stream, a value list);
without them the registry's ID field facts infer a field from the list: 0
before the field's ``kernel``, else its ``value`` when the list has a
register that comes with it (a 6.17 list with SCTLR2_EL1 has SCTLRX = 1),
else 0.  A machine type's ``SYSREG_*`` pins (:mod:`compat.qemu.id_rules`)
lower the source's field only under a rules mode whose QEMU has the
host-model properties (none released).
"""

from __future__ import annotations

from dataclasses import dataclass

from compat.core import codec
from compat.core.model import IdField, Registry, in_id_range
from compat.core.versions import Version

#: Linux lets userspace write (lower) ID register fields from 6.7 on
#: (kvmarm-6.7: writable ID registers and KVM_ARM_GET_REG_WRITABLE_MASKS).
WRITABLE_SINCE = Version.parse("6.7")
ID_VALUE, ID_VISIBILITY = "id-value", "id-visibility"


@dataclass(frozen=True)
class IdProblem:
    """One failure the ID check predicts (the simulator wraps it as a Failure)."""

    index: int
    kind: str            # id-value | id-visibility
    error: str           # what QEMU prints
    fix: str


def _nibbles(diff: int):
    for shift in range(0, 64, 4):
        if diff >> shift & 0xf:
            yield shift


def _ignored(f: IdField, field_value: int, kernel: Version) -> bool:
    """Whether Linux ``kernel`` accepts (and ignores) ``field_value`` for ``f``."""
    return f.ignores_older and kernel >= f.kernel and field_value == f.older_value


class IdCheck:
    """The ID check for one registry (facts grouped once, reused per pair)."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self.facts: dict[int, list[IdField]] = {}
        for f in registry.id_fields():
            self.facts.setdefault(registry.registers[f.register].index, []).append(f)

    def fact_at(self, index: int, shift: int) -> IdField | None:
        return next((f for f in self.facts.get(index, ()) if f.mask >> shift & 0xf), None)

    def infer(self, side, cpreg: frozenset[int], f: IdField) -> int | None:
        """``f``'s value on ``side`` from its list alone (None: cannot tell)."""
        if side.kernel < f.kernel:
            return 0 if f.older_value == 0 else None    # a nonzero one depends on the host
        if not f.rises:
            return f.value
        gated = self.registry.gated_by(f)
        if not gated:
            return None
        return f.value if any(g.index in cpreg for g in gated) else 0

    def check(self, source, destination, src_raw: frozenset[int], dst_raw: frozenset[int],
              dst_kept: frozenset[int], pins: dict[str, int], fix_for) -> tuple[
                  list[IdProblem], list[str]]:
        """Problems and "depends on" warnings for ``source`` -> ``destination``;
        ``pins``: field name -> the value the source's QEMU sets;
        ``dst_kept``: the destination's cpreg list after the rules hid some."""
        problems: list[IdProblem] = []
        depends: list[str] = []
        for index in sorted(i for i in src_raw & dst_raw if in_id_range(i)):
            s, d = source.id_value(index), destination.id_value(index)
            facts = self.facts.get(index, ())
            if s is not None and d is not None:
                for f in facts:
                    if f.name in pins:
                        s = f.put(s, min(f.get(s), pins[f.name]))
                refused, lowered, unknown = self._compare(index, s, d, destination)
                sv, dv = s, d
                inferred = ""
            else:
                refused, lowered, unknown = [], [], []
                sval = dval = 0
                for f in facts:
                    sf = f.get(s) if s is not None else self.infer(source, src_raw, f)
                    df = f.get(d) if d is not None else self.infer(destination, dst_raw, f)
                    if sf is None or df is None:
                        continue
                    if f.name in pins:
                        sf = min(sf, pins[f.name])
                    sval, dval = f.put(sval, sf), f.put(dval, df)
                    if sf > df and not _ignored(f, sf, destination.kernel):
                        refused.append(f.shift)
                    elif sf < df:
                        (lowered if f.writable_at(destination.kernel) else refused).append(f.shift)
                if not refused and not lowered:
                    continue
                sv = s if s is not None else sval
                dv = d if d is not None else dval
                inferred = (" (the fields compat knows, inferred from the lists: pass .idregs "
                            "files or streams for the whole values)")
            name = self._name(index)
            qemu = codec.decode(index).qemu_name
            if refused:
                fields = ", ".join(self._field_text(index, sh, sv, dv) for sh in refused)
                problems.append(IdProblem(
                    index, ID_VALUE,
                    f"Could not set register {qemu} to {sv:x} (is {dv:x}): Linux "
                    f"{destination.kernel}'s KVM_SET_ONE_REG refuses {name}'s {fields}"
                    + inferred,
                    fix_for(index, [self.fact_at(index, sh) for sh in refused])))
                continue
            for sh in unknown:
                depends.append(f"depends on whether Linux {destination.kernel} lets userspace "
                               f"lower {name} bits {sh}..{sh + 3}: pass the destination's "
                               ".idregs file (its writable masks)")
            for sh in lowered:
                f = self.fact_at(index, sh)
                if f is None:
                    continue
                for reg in self.registry.gated_by(f):
                    if reg.index in dst_kept and reg.index > index:
                        value = (source.values or {}).get(reg.index, reg.reset or 0)
                        problems.append(IdProblem(
                            reg.index, ID_VISIBILITY,
                            f"Could not set register {codec.decode(reg.index).qemu_name}: "
                            f"unknown to KVM (QEMU wrote {name} first, which lowered "
                            f"{f.name} to {f.get(sv)}, and KVM then hides {reg.name}: its "
                            f"visibility follows the guest's {f.name}; writing it {value:x} "
                            "fails with ENOENT)",
                            f"the source lacks {f.cpu_feature or f.name} and the destination "
                            f"has it: no released QEMU keeps {reg.name} out of the "
                            f"destination's list; hide it on both sides ({reg.name} in the "
                            "machine type's x-mig-hidden-regs) or migrate between kernels "
                            "on the same side of Linux " + str(f.kernel)))
        return problems, depends

    def _compare(self, index: int, s: int, d: int, destination):
        """Per 4-bit field: refused (above the destination's), lowered
        (accepted lower), unknown (lower, writability not known)."""
        refused, lowered, unknown = [], [], []
        masks = destination.id_masks
        mask = masks.get(index) if masks is not None else None
        for shift in _nibbles(s ^ d):
            sf, df = s >> shift & 0xf, d >> shift & 0xf
            fact = self.fact_at(index, shift)
            if fact is not None and fact.width == 4 and _ignored(fact, sf, destination.kernel):
                continue
            if sf > df or destination.kernel < WRITABLE_SINCE:
                refused.append(shift)
            elif mask is not None:      # every differing bit in the writable mask
                differing = (s ^ d) >> shift & 0xf
                (lowered if differing & ~(mask >> shift) == 0 else refused).append(shift)
            else:
                f = self.fact_at(index, shift)
                if f is None:
                    unknown.append(shift)
                else:
                    (lowered if f.writable_at(destination.kernel) else refused).append(shift)
        return refused, lowered, unknown

    def _name(self, index: int) -> str:
        return codec.decode(index).name or codec.format_index(index)

    def _field_text(self, index: int, shift: int, s: int, d: int) -> str:
        f = self.fact_at(index, shift)
        if f is None:
            return f"bits {shift + 3}:{shift} = {s >> shift & 0xf} (its own: {d >> shift & 0xf})"
        return f"{f.field} = {f.get(s)} (its own: {f.get(d)})"


__all__ = ["IdCheck", "IdProblem", "ID_VALUE", "ID_VISIBILITY", "WRITABLE_SINCE"]
