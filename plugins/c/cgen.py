"""Helpers shared by the plugins that generate C for QEMU.

Everything here produces QEMU coding style: 4-space indent, ``/* */``
comments, lines of at most 80 columns, registry text escaped by
:mod:`compat.core.text`.
"""

from __future__ import annotations

import re

from compat.plugin import c_comment, c_file_header, format_index, Rule


def include_guard(filename: str) -> str:
    """``arm-compat-guards.h`` -> ``ARM_COMPAT_GUARDS_H``."""
    return re.sub(r"[^A-Za-z0-9]", "_", filename).upper()


#: Which QEMU each generated C file is for (its header says so).  The
#: generated C carries no ``registry.toml:NN`` references: they mean nothing
#: in QEMU's tree; the registry's provenance is in the docs and registry.json.
QEMU_TOLERANCES = (
    "For QEMU master's kvm_arm_set_cpreg_mig_tolerances() (target/arm/kvm.c), "
    "merged in April 2026, first released in QEMU 11.1.")
QEMU_COMPAT_PROPS = (
    "Needs the CPU properties x-mig-hidden-regs and x-mig-safe-missing-regs of "
    "the (not yet merged) cpreg migration compat series; a QEMU without them "
    "aborts at start with \"Property '...x-mig-hidden-regs' not found\".")
QEMU_GUARDS = (
    "For QEMU with the x-mig-hidden-regs / x-mig-safe-missing-regs series, "
    "next to arm-virt-kernel-compat.c.inc (the machine types' hidden registers "
    "are the ones these guards protect).")


def rule_summary(rule: Rule) -> str:
    """``TCR2_EL1: gated on FEAT_TCRX in Linux 6.13 (0fcb4eea5345)``."""
    reg = rule.register
    if rule.override:
        why = "explicit override in the machine type"
    else:
        why = "; ".join(f"{c.describe()} ({c.commit})" for c in rule.reasons)
    return f"{reg.name}: {why}"


def file_start(title: str, source: str, lines: list[str] | None = None) -> str:
    """SPDX line, generated-file banner and an optional explanation."""
    text = c_file_header(title, source)
    if lines:
        text += "\n" + c_comment(lines) + "\n"
    return text


def index_list(indices: tuple[int, ...] | list[int]) -> list[str]:
    """Sorted, de-duplicated ``0x%016x`` strings (no ranges, ever)."""
    return [format_index(i) for i in sorted(set(indices))]


def u64_literal(value: int) -> str:
    """A C literal for a 64-bit value, symbolic where QEMU writes it so."""
    if value == (1 << 64) - 1:
        return "UINT64_MAX"
    if value < 10:
        return str(value)
    return f"0x{value:x}ULL"
