"""What a stock QEMU does with a nested vCPU under KVM (``-M
virt,virtualization=on -accel kvm``, the vCPU created with
KVM_ARM_VCPU_HAS_EL2): decided here once, for ``compat check`` and ``audit``.

Stock QEMU does not migrate the vGIC's EL2 state, so it migrates no nested
vCPU at all, whatever the kernels: QEMU 10.0 and older refuse to start one
under KVM (``hw/arm/virt.c``); from 10.1, which added KVM nested
virtualization, the KVM vGIC (``hw/intc/arm_gicv3_kvm.c``,
``kvm_arm_gicv3_realize()``) registers a migration blocker when the guest
has EL2.  Both measured by ``compat lab migrate`` (tests/data/real-migrations,
the ``*_el2`` cases: 11.1 blocked, 10.0 a source error with that message).
The rules modes of QEMUs carrying compat's tables and guards
(``compat-props``, ``qemu-10.2-compat``) refuse such a vCPU with the
guard's message instead (``Simulator.vcpu_guards``); ``tolerances`` is not
a stock QEMU and is not covered here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: the vCPU feature (a list's ``# vcpu-features:`` name) of a nested vCPU
NESTED = "el2"

#: the register a refusal is reported on: the vGIC's EL2 state, which stock
#: QEMU does not migrate (ICH_HCR_EL2, ARM64_SYS_REG(3, 4, 12, 11, 0))
VGIC_EL2_INDEX = 0x603000000013E658


@dataclass(frozen=True)
class NestedRefusal:
    """Why a stock QEMU (a rules mode) migrates no nested vCPU."""

    mode: str            # the rules mode (compat.qemu.modes)
    qemu: str            # the QEMU in words
    message: str         # QEMU's own words
    where: str           # where QEMU says it

    def text(self) -> str:
        return (f"{self.qemu} cannot migrate nested vCPUs at all (-machine "
                f"virtualization=on under KVM): {self.where} \"{self.message}\"")


_BLOCKER = "Live migration disabled because KVM nested virt is enabled"
_BLOCKER_WHERE = ("its KVM vGIC registers a migration blocker (hw/intc/arm_gicv3_kvm.c, "
                  "kvm_arm_gicv3_realize()), so 'migrate' fails with")

STOCK: dict[str, NestedRefusal] = {
    "qemu-10.0": NestedRefusal(
        "qemu-10.0", "a stock QEMU 10.0 (Debian trixie's)",
        "mach-virt: KVM does not support providing Virtualization extensions to the guest CPU",
        "it does not start the VM (hw/arm/virt.c; QEMU 10.1 to 11.0 start it but register "
        f"the migration blocker \"{_BLOCKER}\"):"),
    "qemu-11.1": NestedRefusal(
        "qemu-11.1", "a stock QEMU 11.1", _BLOCKER, _BLOCKER_WHERE),
    # the lab's QEMU 10.2.2 (compat's patch set, rules off): the series leaves
    # the vGIC alone, and 10.2's blocker stands (measured: the *_el2 case of
    # qemu10.2.2-compat-off); with the rules on, compat's guard refuses first
    "qemu-10.2-patched": NestedRefusal(
        "qemu-10.2-patched", "QEMU 10.2.2 with compat's patch set", _BLOCKER, _BLOCKER_WHERE),
}


def stock_refusal(mode: str, vcpu_features) -> NestedRefusal | None:
    """The refusal of rules mode ``mode``'s QEMU for a vCPU with
    ``vcpu_features`` (None: a list that does not say), if any."""
    if not vcpu_features or NESTED not in vcpu_features:
        return None
    return STOCK.get(mode)
