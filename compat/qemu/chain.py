"""Simulate how QEMU applies machine-type compat properties.

``virt_machine_10_1_options()`` calls ``virt_machine_10_2_options()`` first,
so an older machine type receives every newer type's compat rows before its
own.  A ``uint64`` *array* property may be set only once per object: a
second global for it makes QEMU abort with ``array size property X may not
be set more than once``.  This module replays that for generated tables and
is what lets ``compat build`` promise the tables cannot abort QEMU.
"""

from __future__ import annotations

from dataclasses import dataclass

from compat.core.diagnostics import CompatError, Diagnostic
from compat.core.model import MachineFamily

HIDDEN_PROPERTY = "x-mig-hidden-regs"
SAFE_MISSING_PROPERTY = "x-mig-safe-missing-regs"
ARRAY_PROPERTIES = (HIDDEN_PROPERTY, SAFE_MISSING_PROPERTY)


@dataclass(frozen=True)
class Row:
    """One ``GlobalProperty`` row: ``{ driver, property, "0x..., 0x..." }``."""

    driver: str
    property: str
    values: tuple[int, ...]


def qemu_abort_message(prop: str) -> str:
    """The message QEMU aborts with when an array property is set twice."""
    return f"array size property {prop} may not be set more than once"


def applied_rows(family: MachineFamily, tables: dict[str, list[Row]],
                 version: str) -> list[tuple[str, Row]]:
    """The rows machine type ``version`` of ``family`` ends up with, in the
    order QEMU adds them, each with the version whose table added it.

    ``chained``: the machine's options function calls the newer one's
    first, so tables of the newest type down to this one are added.
    ``per-version``: only the machine's own table is added (the generated
    header tells QEMU to add it after the chain, once).
    """
    names = [v.version for v in family.versions]       # newest first
    upto = names.index(version)
    order = names[:upto + 1] if family.layout == "chained" else [version]
    return [(v, row) for v in order for row in tables.get(v, [])]


def replay_chain(family: MachineFamily, tables: dict[str, list[Row]]) -> dict[str, dict[str, tuple[int, ...]]]:
    """Apply ``tables`` to every machine version of ``family`` as QEMU would.

    Returns ``{version: {property: values}}``; raises :class:`CompatError`
    reproducing QEMU's abort if a machine type would set an array property
    more than once.
    """
    result: dict[str, dict[str, tuple[int, ...]]] = {}
    problems = []
    for machine in family.versions:
        seen: dict[tuple[str, str], str] = {}
        props: dict[str, tuple[int, ...]] = {}
        for origin, row in applied_rows(family, tables, machine.version):
            key = (row.driver, row.property)
            if key in seen and row.property in ARRAY_PROPERTIES:
                problems.append(Diagnostic(
                    machine.location,
                    f"QEMU would abort on machine type {machine.name}: "
                    f"\"{qemu_abort_message(row.property)}\" (set by the tables of "
                    f"{family.name}-{seen[key]} and {family.name}-{origin})",
                    context=f"machine type '{machine.name}'",
                    hint=f"with compat-layout = \"chained\" an older machine type can only "
                    f"inherit a newer one's list unchanged; use compat-layout = "
                    f"\"per-version\" for family '{family.name}'"))
                continue
            seen[key] = origin
            props[row.property] = row.values
        result[machine.version] = props
    if problems:
        raise CompatError(problems)
    return result
