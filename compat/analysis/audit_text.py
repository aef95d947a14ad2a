"""``compat audit``'s text, for a person: the verdict first, then the failures.

Layout::

    FAIL: 40 of 144 promised migrations fail, on 1 register: X (not in the registry)
    audited 144 migrations among 12 register lists (n1, v2) on 5 machine types
    rules: compat-props: a QEMU carrying compat's generated tables ...

    X (0x...): 40 backward migrations fail (16 kernel pairs)
      QEMU's error:
        virt-10.2, virt-10.1:
          n1 6.15->6.13, 6.16->6.13
      fix: ...
      not in the registry: added in Linux 6.15 on n1, v2. Entry to paste (fill in its FIXMEs):
    [registers.X]
    ...

    15 registers not in the registry vary only outside every machine type's
    promise (reported, not a failure): A, B, C (--suggest prints an entry for each)

One block per failing register, whatever errors it causes.  A register the
registry lacks that breaks a promised migration carries its entry to paste
(that is its fix); those outside every promise are a count and their names,
their entries only with ``suggest``.
"""

from __future__ import annotations

from collections import defaultdict

from compat.analysis.audit import AuditReport, FailureGroup, Uncovered, _error_head, _pairs_text
from compat.core import codec
from compat.core.style import plural
from compat.qemu.modes import resolve


def register_blocks(report: AuditReport) -> list[list[FailureGroup]]:
    """The failure groups of :meth:`AuditReport.failure_groups`, gathered by
    register: one list per failing register, in the groups' order."""
    by_index: dict[int, list[FailureGroup]] = {}
    for group in report.failure_groups():
        by_index.setdefault(group.failure.index, []).append(group)
    return list(by_index.values())


def rules_line(report: AuditReport) -> str:
    """``compat-props: a QEMU carrying ...``: the mode the audit ran with and
    the QEMU it stands for (:mod:`compat.qemu.modes`)."""
    mode = resolve(report.rules)
    return f"{mode.name}: {mode.describe('each machine type')}"


def headline(report: AuditReport) -> str:
    """The verdict line: ``ok: ...`` or ``FAIL: ...``."""
    if report.failures:
        blocks = register_blocks(report)
        missing = {u.index for u in report.uncovered if u.promised}
        names = ", ".join(_short(b[0]) + (" (not in the registry)"
                                          if b[0].failure.index in missing else "")
                          for b in blocks)
        return (f"FAIL: {len(report.failures)} of "
                f"{plural(report.pair_count, 'promised migration')} fail, on "
                f"{plural(len(blocks), 'register')}: {names}")
    if not report.pair_count:
        return ("ok: no promised migration to audit (no two lists of one host are both "
                "inside a machine type's promise)")
    every = "the" if report.pair_count == 1 else "all"
    return f"ok: {every} {plural(report.pair_count, 'promised migration')} pass"


def audit_text(report: AuditReport, *, suggest: bool = False) -> str:
    """The whole text report (see the module docstring)."""
    hosts = sorted({r.host for r in report.lists})
    machines = len({m.machine.name for m in report.matrices})
    out = [headline(report),
           f"audited {plural(report.pair_count, 'migration')} among "
           f"{plural(len(report.lists), 'register list')} ({', '.join(hosts)}) on "
           f"{plural(machines, 'machine type')}",
           f"rules: {rules_line(report)}"]
    missing = {u.index: u for u in report.uncovered if u.promised}
    for groups in register_blocks(report):
        out.append("")
        out += _block(groups, missing.get(groups[0].failure.index))
    # A register the registry lacks that varies inside a promise always
    # fails a pair there; one that does not (a --machine filter) is listed too.
    shown = {g[0].failure.index for g in register_blocks(report)}
    for u in missing.values():
        if u.index not in shown:
            out.append("")
            out += _entry(u)
    outside = [u for u in report.uncovered if not u.promised]
    if outside:
        out.append("")
        out.append(f"{plural(len(outside), 'register')} not in the registry "
                   f"{'varies' if len(outside) == 1 else 'vary'} only outside every machine "
                   "type's promise (reported, not a failure): "
                   + ", ".join(u.name for u in outside)
                   + ("" if suggest else
                      " (--suggest prints a registry entry for "
                      + ("it)" if len(outside) == 1 else "each)")))
        if suggest:
            for u in outside:
                out.append("")
                out += _entry(u)
    return "\n".join(out)


def _short(group: FailureGroup) -> str:
    f = group.failure
    return f.name or f.qemu_name or codec.format_index(f.index)


def _block(groups: list[FailureGroup], missing: Uncovered | None) -> list[str]:
    """One failing register: its migrations by error, machine types and pairs."""
    first = groups[0].failure
    pairs = {(h, s, d) for g in groups for _, h, s, d in g.pairs}
    directions: dict[str, int] = defaultdict(int)
    for g in groups:
        directions[g.failure.direction] += len(g.pairs)
    # "start": a guard stops the VM when it starts, so the migration never runs
    counts = ", ".join(plural(n, "migration") + " refused at VM start" if direction == "start"
                       else plural(n, f"{direction} migration") + " fail"
                       for direction, n in sorted(directions.items()))
    lines = [f"{first.label}: {counts} ({plural(len(pairs), 'kernel pair')})"]
    fixes: list[str] = []
    for g in groups:
        lines.append(f"  {_error_head(g.failure.qemu_error)}:")
        for names, group_pairs in g.by_machines():
            lines.append(f"    {', '.join(names)}:")
            lines += [f"      {row}" for row in _pairs_text(group_pairs)]
        if g.failure.fix not in fixes:
            fixes.append(g.failure.fix)
    if missing is not None:
        lines.append(f"  fix: add it to the registry (it is {missing.change} in Linux "
                     f"{missing.kernel} on {', '.join(missing.hosts)}); the entry to paste, "
                     "FIXMEs to fill in:")
        lines.append(missing.toml().rstrip("\n"))
    else:
        lines += [f"  fix: {fix}" for fix in fixes]
    return lines


def _entry(u: Uncovered) -> list[str]:
    """A register the registry lacks, with its entry to paste."""
    where = "" if u.promised else " (outside every machine type's promise)"
    return [f"{u.name} ({codec.format_index(u.index)}, {u.decoded.qemu_name}) is {u.change} "
            f"in Linux {u.kernel} on {', '.join(u.hosts)} and not in the registry{where}: it "
            f"breaks {u.breaks} migration. Entry to paste, FIXMEs to fill in:",
            u.toml().rstrip("\n")]
