"""Nested virtualization in the lab: vCPUs with EL2 (``KVM_ARM_VCPU_HAS_EL2``).

A guest kernel's KVM gives its vCPUs EL2 only when it runs in nested mode
(``kvm-arm.mode=nested`` on its command line) on a CPU with FEAT_NV2, which
under the lab means the host QEMU's TCG ``max`` CPU must emulate FEAT_NV2:
QEMU added FEAT_NV and FEAT_NV2 to ``max`` in 9.0, so the system's 7.2
(Debian bookworm) has neither, and 10.0 (bookworm-backports) and 11.1
(trixie-backports, sid) have both.  Asking for EL2 on a host without it is
refused before anything boots: the guest kernel would only say that it
cannot, minutes later.

:func:`kernel_mode` reads, from a guest's console, what the kernel said
about its KVM mode, so that a list's header records it.
"""

from __future__ import annotations

import re

from compat.lab.errors import lab_error

#: the guest kernel's command-line option for nested KVM
MODE_OPTION = "kvm-arm.mode=nested"
#: the first QEMU whose TCG ``max`` CPU emulates FEAT_NV2
NV2_SINCE = (9, 0)


def wants_el2(features) -> bool:
    """Whether the vCPU feature names (``collector.parse_features``) ask for EL2."""
    return "el2" in features


def append(base: str, features) -> str:
    """The kernel command line: ``base`` plus :data:`MODE_OPTION` for EL2."""
    return f"{base} {MODE_OPTION}" if wants_el2(features) else base


def has_nv2(version: str, cpu: str) -> bool:
    """Whether QEMU ``version`` ("10.0.2 (Debian ...)") with ``-cpu cpu``
    emulates FEAT_NV2: the ``max`` model of QEMU 9.0 and later."""
    m = re.match(r"(\d+)\.(\d+)", version)
    return bool(m) and cpu.split(",", 1)[0] == "max" and (int(m[1]), int(m[2])) >= NV2_SINCE


def require_nv2(version: str, binary: str, cpu: str) -> None:
    """A clear error unless the host QEMU can run a nested-mode guest kernel."""
    if has_nv2(version, cpu):
        return
    model = cpu.split(",", 1)[0]
    if model != "max":
        raise lab_error(f"vCPU feature el2 needs a host CPU with FEAT_NV2: -cpu {model} "
                        f"of QEMU {version} ({binary}) has none",
                        "use -cpu max of QEMU 10.0 or later (--qemu-suite bookworm-backports "
                        "or trixie-backports)")
    raise lab_error(f"vCPU feature el2 needs a host CPU with FEAT_NV2: QEMU {version} "
                    f"({binary}) lacks it (its -cpu max has FEAT_NV2 from QEMU 9.0 on)",
                    "run QEMU 10.0 (--qemu-suite bookworm-backports) or 11.1 "
                    "(--qemu-suite trixie-backports)")


_KERNEL_LINE = re.compile(r"^\[\s*[0-9.]+\]\s+(.*)$")


def kvm_messages(console: str) -> list[str]:
    """What the guest kernel said about KVM: its ``kvm [N]: ...`` lines and
    any line about the ``kvm-arm.mode`` option (6.1: ``Malformed early option
    'kvm-arm.mode'``), time stamps dropped."""
    out = []
    for line in console.replace("\r", "").splitlines():
        m = _KERNEL_LINE.match(line.strip())
        if m and (m.group(1).startswith("kvm [") or ("kvm-arm.mode" in m.group(1)
                                                      and "command line" not in m.group(1))):
            out.append(m.group(1).strip())
    return out


def kernel_mode(console: str) -> str:
    """What the guest kernel said about its KVM mode: its ``kvm [N]:`` lines
    that name a mode (``VHE+NV2 mode initialized successfully``), joined with
    ``; `` (the ``nv: N ... trap handlers`` counts are left out)."""
    keep = [l.split(": ", 1)[1] for l in kvm_messages(console)
            if l.startswith("kvm [") and re.search(r"\bmode\b", l)]
    return "; ".join(dict.fromkeys(keep)) or "(the kernel printed no KVM mode line)"
