"""Audit every promised migration among many host register lists.

For each machine version, every ordered pair of lists of the same host and
vCPU class (the ``# vcpu-features:`` header: nested vCPUs apart) whose
kernels are both inside the machine type's promise (``>= min-kernel``) is
simulated under the machine type's compat properties.  Each list's cpreg set
is decoded once; each pair costs two set differences.

Registers that differ between lists of one host and that the registry does
not know are reported with a ready-to-paste registry entry.  Core and SVE
registers are not in the cpreg list and never cause a finding.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from compat.core import codec
from compat.analysis.reglist import RegList
from compat.analysis.scaffold import scaffold, suggested_name
from compat.analysis.simulate import COMPAT_PROPS, Failure, MigrationResult, Simulator
from compat.core.derive import Derivation
from compat.core.diagnostics import CompatError, Diagnostic, Location
from compat.core.model import MachineVersion, Registry, breaks, fixing_rule
from compat.core.style import plural
from compat.core.versions import Version

OK, FAIL, NA = "ok", "fail", "na"

@dataclass(frozen=True)
class Cell:
    """One source -> destination migration on one machine version."""

    status: str                      # OK | FAIL | NA
    reason: str                      # one line, for tooltips and text output
    result: MigrationResult | None = None   # set for failing pairs


@dataclass(frozen=True)
class Matrix:
    """One machine version's kernel x kernel matrix for one host."""

    machine: MachineVersion
    host: str                        # the host, with its vCPU class when it has several
    kernels: tuple[Version, ...]
    cells: dict[tuple[Version, Version], Cell]     # (source, destination) -> cell
    vcpu_class: str = "unknown"      # the lists' vCPU features (RegList.vcpu_class)

    def cell(self, source: Version, destination: Version) -> Cell:
        return self.cells[(source, destination)]


@dataclass(frozen=True)
class Uncovered:
    """A register that comes and goes between one host's lists, unknown to the registry."""

    index: int
    change: str                      # added | removed
    kernel: Version                  # the first kernel showing the change
    hosts: tuple[str, ...]
    present: tuple[str, ...]         # list names that have it
    absent: tuple[str, ...]
    #: it varies among lists inside some machine type's promise; a change
    #: outside every promise (e.g. between 6.1 and 6.6) is reported, not failed
    promised: bool = True

    @property
    def decoded(self) -> codec.Decoded:
        return codec.decode(self.index)

    @property
    def name(self) -> str:
        """The registry name (:func:`compat.analysis.scaffold.suggested_name`),
        else one made from the index."""
        return suggested_name(self.decoded)

    @property
    def compat(self) -> str:
        return fixing_rule(self.change)

    @property
    def breaks(self) -> str:
        return breaks(self.change)

    def toml(self) -> str:
        """A registry entry to paste (see :mod:`compat.analysis.scaffold`)."""
        return scaffold(self.decoded, self.name, str(self.kernel), self.change,
                        origin="compat audit", seen=", ".join(self.hosts))

    def to_json(self) -> dict:
        """A JSON-ready description, with the suggested entry."""
        d = self.decoded
        return {"index": codec.format_index(self.index), "name": self.name,
                "qemu_name": d.qemu_name, "encoding": d.encoding(), "change": self.change,
                "kernel": str(self.kernel), "breaks": self.breaks, "hosts": list(self.hosts),
                "present": list(self.present), "absent": list(self.absent),
                "promised": self.promised, "suggested_compat": self.compat, "toml": self.toml()}


@dataclass(frozen=True)
class AuditReport:
    """Everything ``compat audit`` found."""

    lists: tuple[RegList, ...]
    matrices: tuple[Matrix, ...]     # machine order (newest first), then host
    uncovered: tuple[Uncovered, ...]
    pair_count: int
    rules: str = COMPAT_PROPS         # the rules mode (compat.qemu.modes): the QEMU assumed

    @property
    def failures(self) -> list[tuple[Matrix, Cell]]:
        """Every failing pair, in matrix order."""
        return [(m, m.cells[k]) for m in self.matrices for k in sorted(m.cells)
                if m.cells[k].status == FAIL]

    @property
    def ok(self) -> bool:
        return not any(u.promised for u in self.uncovered) and not self.failures

    def to_json(self) -> dict:
        """A JSON-ready description."""
        from compat.qemu.modes import resolve
        return {
            "ok": self.ok,
            "rules": resolve(self.rules).to_json(),
            "pairs": self.pair_count,
            "lists": [r.to_json() for r in self.lists],
            "failures": [dict(cell.result.to_json(), machine=m.machine.name)
                         for m, cell in self.failures],
            "uncovered": [u.to_json() for u in self.uncovered],
            "matrices": [{
                "machine": m.machine.name, "min_kernel": str(m.machine.min_kernel),
                "host": m.host, "vcpu_features": m.vcpu_class,
                "kernels": [str(k) for k in m.kernels],
                "cells": [{"source": str(s), "destination": str(d), "status": c.status,
                           "reason": c.reason} for (s, d), c in sorted(m.cells.items())],
            } for m in self.matrices],
        }

    def failure_groups(self) -> list["FailureGroup"]:
        """The failures grouped by register and error: one group per
        register that breaks migrations, with every pair it breaks."""
        groups: dict[tuple, FailureGroup] = {}
        for m, cell in self.failures:
            for f in cell.result.failures:
                key = (f.index, f.kind, f.direction, _error_head(f.qemu_error))
                group = groups.get(key)
                if group is None:
                    group = groups[key] = FailureGroup(f, [])
                group.pairs.append((m.machine.name, m.host, cell.result.source.kernel,
                                    cell.result.destination.kernel))
        return sorted(groups.values(), key=lambda g: (g.failure.name or g.failure.qemu_name,
                                                      g.failure.index, g.failure.kind))

    def to_text(self, *, suggest: bool = False) -> str:
        """The report a person reads (:mod:`compat.analysis.audit_text`):
        the verdict, then one block per failing register; with ``suggest``
        the entries of registers outside every promise too."""
        from compat.analysis.audit_text import audit_text
        return audit_text(self, suggest=suggest)


@dataclass
class FailureGroup:
    """One register's failure (the same error) across the pairs it breaks."""

    failure: Failure                 # the first pair's (its fix names that pair's kernels)
    pairs: list[tuple[str, str, Version, Version]]   # machine, host, source, destination

    def by_machines(self) -> list[tuple[tuple[str, ...], list[tuple[str, Version, Version]]]]:
        """The pairs, grouped by the set of machine types they fail on:
        ``[(("virt-10.0", "virt-10.1"), [("n1", 6.13, 6.12), ...]), ...]``."""
        machines: dict[tuple, list[str]] = defaultdict(list)
        for machine, host, src, dst in self.pairs:
            machines[(host, src, dst)].append(machine)
        rows: dict[tuple[str, ...], list] = defaultdict(list)
        for pair, names in machines.items():
            rows[tuple(sorted(set(names), key=_machine_order, reverse=True))].append(pair)
        return [(names, sorted(pairs)) for names, pairs in rows.items()]

    def to_text_lines(self) -> list[str]:
        f = self.failure
        count = len({(h, s, d) for _, h, s, d in self.pairs})
        lines = [f"{f.label}: {_error_head(f.qemu_error)}",
                 f"  FAIL: {plural(len(self.pairs), f'{f.direction} migration')} "
                 f"({plural(count, 'kernel pair')}):"]
        for names, pairs in self.by_machines():
            lines.append(f"    {', '.join(names)}:")
            lines += [f"      {row}" for row in _pairs_text(pairs)]
        lines.append(f"  fix: {f.fix}")
        return lines


def _error_head(error: str) -> str:
    """QEMU's error without the per-pair detail (``(the stream carries 242
    cpreg registers, ...)``), which differs between hosts."""
    return re.sub(r" \(the stream carries .*\)$", "", error)


def _machine_order(name: str):
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[-.]", name))


def _pairs_text(pairs) -> list[str]:
    """``["n1 6.13->6.12, 6.14->6.12", "v2 6.13->6.12"]``."""
    by_host: dict[str, list[str]] = defaultdict(list)
    for host, src, dst in pairs:
        by_host[host].append(f"{src}->{dst}")
    return [f"{host} {', '.join(items)}" for host, items in by_host.items()]


def audit(lists: Sequence[RegList], registry: Registry,
          derivation: Derivation | None = None,
          machines: Iterable[str] | None = None, rules: str = COMPAT_PROPS) -> AuditReport:
    """Simulate every promised migration among ``lists`` (see the module
    docstring) under the rules mode ``rules`` (each machine type's compat
    tables by default; another mode's QEMU applies the same rules on every
    machine type, which still say which pairs are promised)."""
    from compat.qemu.modes import resolve
    rules = resolve(rules).name
    by_host = _group(lists)
    sim = Simulator(registry, derivation)
    cpreg = {id(r): sim.cpreg(r) for r in lists}
    wanted = list(machines) if machines else None
    versions = registry.machine_versions()
    if wanted:
        versions = [sim.machine_rules(name).machine for name in wanted]
    matrices = []
    pairs = 0
    for machine in versions:
        rule_set = sim.rule_set(rules, machine.name)
        hidden = rule_set.hidden
        visible = {key: (s - hidden if hidden else s) for key, s in cpreg.items()}
        for host, members in by_host.items():
            kernels = tuple(r.kernel for r in members)
            # a machine type that refuses the class's vCPU features (a nested
            # vCPU on a type whose promise it cannot keep) promises it nothing
            refused = sim.vcpu_guards(rules, machine.name, members[0].vcpu_features)
            cells = {}
            for src in members:
                for dst in members:
                    key = (src.kernel, dst.kernel)
                    if src is dst:
                        cells[key] = Cell(NA, "same list")
                        continue
                    if refused:
                        cells[key] = Cell(NA, f"outside {machine.name}'s promise: "
                                          f"{refused[0].message}")
                        continue
                    if src.kernel < machine.min_kernel or dst.kernel < machine.min_kernel:
                        cells[key] = Cell(NA, f"outside {machine.name}'s promise (Linux "
                                          f"{machine.min_kernel} and later)")
                        continue
                    pairs += 1
                    if sim.passes(cpreg[id(src)], cpreg[id(dst)], rule_set, src, dst):
                        extra = visible[id(src)] - visible[id(dst)]
                        cells[key] = Cell(OK, "passes" if not extra else
                                          f"passes: tolerates {_names(sim, extra)}")
                        continue
                    result = sim.simulate(src, dst, rule_set)
                    reason = "; ".join([f"{f.name or f.qemu_name}: {f.qemu_error}"
                                        for f in result.failures] + list(result.depends_on))
                    cells[key] = Cell(FAIL, reason, result)
            matrices.append(Matrix(machine, host, kernels, cells, members[0].vcpu_class))
    min_kernels = [m.min_kernel for m in versions]
    return AuditReport(tuple(lists), tuple(matrices),
                       _uncovered(by_host, cpreg, sim, min_kernels), pairs, rules)


def _names(sim: Simulator, indices) -> str:
    return ", ".join(sim.name_of(i) or codec.format_index(i) for i in sorted(indices))


def _group(lists: Sequence[RegList]) -> dict[str, list[RegList]]:
    """Lists by host and vCPU class (the vCPU features: a nested vCPU's list
    is compared only with nested ones), each group sorted by kernel; errors
    for unusable input.  A host whose lists have several classes is named
    ``HOST [FEATURES]``."""
    classes: dict[str, set[str]] = defaultdict(set)
    for r in lists:
        if r.host:
            classes[r.host].add(r.vcpu_class)
    problems = []
    by_host: dict[str, list[RegList]] = defaultdict(list)
    for r in lists:
        if not r.host:
            problems.append(Diagnostic(
                Location(r.path), "cannot tell which host this register list is from",
                hint="add a '# host: NAME' header, name the file HOST-linux-KERNEL.reglist "
                "or pass --host"))
            continue
        label = r.host if len(classes[r.host]) == 1 else f"{r.host} [{r.vcpu_class}]"
        by_host[label].append(r)
    for host, members in by_host.items():
        seen: dict[Version, RegList] = {}
        for r in members:
            if r.kernel in seen:
                problems.append(Diagnostic(
                    Location(r.path), f"a second register list for host {host}, Linux "
                    f"{r.kernel} (the first is {seen[r.kernel].path})",
                    hint="give each host and kernel one list, or name the hosts differently"))
            seen[r.kernel] = r
        members.sort(key=lambda r: r.kernel)
    if problems:
        raise CompatError(problems)
    return dict(sorted(by_host.items()))


def _uncovered(by_host: dict[str, list[RegList]], cpreg: dict[int, frozenset[int]],
               sim: Simulator, min_kernels=()) -> tuple[Uncovered, ...]:
    """Registers that vary within a host and that the registry lacks."""
    found: dict[int, list[tuple[str, Version, list[str], list[str]]]] = defaultdict(list)
    for host, members in by_host.items():
        sets = [cpreg[id(r)] for r in members]
        if len(sets) < 2:
            continue
        varying = frozenset.union(*sets) - frozenset.intersection(*sets)
        for index in varying:
            if index in sim.by_index:
                continue
            present = [r for r, s in zip(members, sets) if index in s]
            absent = [r for r, s in zip(members, sets) if index not in s]
            first = index in sets[0]
            change_at = next(r for r, s in zip(members, sets) if (index in s) != first)
            change = "removed" if first else "added"
            promised = any(len({index in s for r, s in zip(members, sets)
                                if r.kernel >= low}) == 2 for low in min_kernels)
            found[index].append((host, change, change_at.kernel,
                                 [r.name for r in present], [r.name for r in absent], promised))
    out = []
    for index, seen in sorted(found.items()):
        seen.sort(key=lambda s: (s[2], s[0]))
        change, kernel = seen[0][1], seen[0][2]
        out.append(Uncovered(index, change, kernel, tuple(sorted({s[0] for s in seen})),
                             tuple(n for s in seen for n in s[3]),
                             tuple(n for s in seen for n in s[4]),
                             any(s[5] for s in seen) or not min_kernels))
    return tuple(out)
