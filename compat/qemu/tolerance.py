"""QEMU master's cpreg migration tolerances: which registers get one, and
which kind.

QEMU merged per-CPU tolerances in April 2026 (QEMU 11.1; tag
``pull-target-arm-20260427``): ``kvm_arm_set_cpreg_mig_tolerances()``
calls ``arm_register_cpreg_mig_tolerance(cpu, regidx, mask, value, type)``
for ``-cpu host`` under KVM.  They are not tied to machine types.

This module is the one place that decides them; the ``mig-tolerances``
output writes them as C and ``compat check --rules tolerances`` simulates
them, so the two cannot disagree.

- A register whose exposure a *kernel* changed on KVM (no ``accel``, or
  ``accel = "kvm"``) and that has a compat rule gets a tolerance.  QEMU-side
  and TCG-only changes do not: the tolerance list is filled for KVM's
  ``-cpu host`` only (QEMU handles its own TCG registers in the TCG code).
- A ``safe-when`` condition makes it ``ToleranceOnlySrcTestValue``: the
  register may arrive for a destination lacking it only while
  ``value & mask == expected`` on the source.  Otherwise it is
  ``ToleranceNotOnBothEnds``: it may be missing on either end.
"""

from __future__ import annotations

from dataclasses import dataclass

from compat.core.model import REFUSE, Register, Registry

NOT_ON_BOTH_ENDS = "ToleranceNotOnBothEnds"
ONLY_SRC_TEST_VALUE = "ToleranceOnlySrcTestValue"


@dataclass(frozen=True)
class Tolerance:
    """One ``arm_register_cpreg_mig_tolerance()`` call."""

    register: Register
    mask: int
    value: int
    kind: str                       # NOT_ON_BOTH_ENDS | ONLY_SRC_TEST_VALUE

    @property
    def index(self) -> int:
        return self.register.index

    def allows(self, source_value: int) -> bool:
        """Whether the register may be dropped when the source holds
        ``source_value`` (always, for ``ToleranceNotOnBothEnds``)."""
        return self.kind == NOT_ON_BOTH_ENDS or source_value & self.mask == self.value


def tolerance_for(register: Register) -> Tolerance | None:
    """The register's tolerance, or ``None`` when QEMU gives it none."""
    if register.compat in (None, REFUSE) or not any(
            c.kernel is not None and c.accel in (None, "kvm") for c in register.changes):
        return None
    if register.safe_when is not None:
        return Tolerance(register, register.safe_when.mask, register.safe_when.value,
                         ONLY_SRC_TEST_VALUE)
    return Tolerance(register, 0, 0, NOT_ON_BOTH_ENDS)


#: the tolerances a QEMU release ships for KVM ``-cpu host`` (index -> QEMU commit),
#: as opposed to every tolerance the registry implies (compat's proposal, which
#: ``--rules tolerances`` simulates and ``mig-tolerances`` writes).  Real QEMU 11.1
#: is the oracle of tests/data/real-migrations: a register outside this set
#: (PMMIR_EL1, Linux 7.3) still fails there.
SHIPPED = {
    "11.1": {
        0x603000000013c103: "113ed8e53c08",    # TCR2_EL1
        0x603000000013c512: "113ed8e53c08",    # PIRE0_EL1
        0x603000000013c513: "113ed8e53c08",    # PIR_EL1
        0x6030000000160003: "6dd8be31f8fb",    # KVM_REG_ARM_VENDOR_HYP_BMAP_2
    },
}


def tolerances(registry: Registry, shipped_by: str | None = None) -> tuple[Tolerance, ...]:
    """Every tolerance the registry implies, sorted by index; with
    ``shipped_by`` (a QEMU release in :data:`SHIPPED`) only those it ships."""
    found = (tolerance_for(r) for r in registry.registers.values())
    keep = SHIPPED[shipped_by] if shipped_by else None
    return tuple(sorted((t for t in found if t is not None and (keep is None or t.index in keep)),
                        key=lambda t: t.index))
