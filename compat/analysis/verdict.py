"""The outcome of one simulated migration: its failures and its verdict
(:class:`MigrationResult`), as :mod:`compat.analysis.simulate` finds them and
``check``, ``diff`` and ``audit`` print them."""

from __future__ import annotations

from dataclasses import dataclass

from compat.analysis.reglist import RegList
from compat.core import codec
from compat.qemu import modes
from compat.qemu.modes import RulesMode

LENGTH_ERROR = "failed to load cpu:cpreg_vmstate_array_len"
PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclass(frozen=True)
class Failure:
    """One reason a migration fails, as the user would meet it."""

    index: int
    qemu_name: str
    name: str | None                 # registry name, else the built-in name
    direction: str                   # backward | forward | same-kernel | start
    kind: str                        # length | unknown-register | value-test | value | guard | cpu-option | id-value | id-visibility
    qemu_error: str                  # what QEMU prints
    fix: str                         # what makes it pass, for the QEMU the rules assume
    in_registry: bool

    @property
    def label(self) -> str:
        """``TCR2_EL1 (0x603000000013c103)`` or the QEMU-style name."""
        return f"{self.name or self.qemu_name} ({codec.format_index(self.index)})"

    def to_json(self) -> dict:
        """A JSON-ready description."""
        return {"index": codec.format_index(self.index), "name": self.name,
                "qemu_name": self.qemu_name, "direction": self.direction, "kind": self.kind,
                "qemu_error": self.qemu_error, "fix": self.fix,
                "in_registry": self.in_registry}


@dataclass(frozen=True)
class MigrationResult:
    """The outcome of migrating a vCPU from ``source`` to ``destination``."""

    source: RegList
    destination: RegList
    rules: str                           # the rules mode's name (qemu-10.0, ...)
    machine: str | None
    features: tuple[str, ...]
    failures: tuple[Failure, ...]
    notes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()     # values no input or registry fact gives
    cpu_options: tuple[str, ...] = ()    # -cpu host,NAME=VALUE as given
    #: (incoming, local) cpreg counts when the incoming list is too long
    length: tuple[int, int] | None = None

    @property
    def verdict(self) -> str:
        """``pass``, ``fail``, or ``unknown`` (it depends on a value nothing gives)."""
        return FAIL if self.failures else UNKNOWN if self.depends_on else PASS

    @property
    def ok(self) -> bool:
        return self.verdict == PASS

    @property
    def mode(self) -> RulesMode:
        return modes.resolve(self.rules)

    @property
    def assumes(self) -> str:
        """The QEMU the verdict assumes, in words."""
        return self.mode.describe(self.machine)

    @property
    def direction(self) -> str:
        return direction_of(self.source, self.destination)

    @property
    def qemu_error(self) -> str | None:
        """The first error QEMU would print, if any."""
        return self.failures[0].qemu_error if self.failures else None

    def to_json(self) -> dict:
        """A JSON-ready description."""
        out = {"source": self.source.to_json(), "destination": self.destination.to_json(),
               "direction": self.direction, "rules": self.mode.to_json(self.machine),
               "machine": self.machine, "features": list(self.features),
               "cpu_options": list(self.cpu_options), "verdict": self.verdict, "ok": self.ok,
               "qemu_error": self.qemu_error,
               "failures": [f.to_json() for f in self.failures], "notes": list(self.notes),
               "depends_on": list(self.depends_on)}
        if self.length is not None:
            out["length"] = {"incoming": self.length[0], "destination": self.length[1]}
        return out

    def to_text(self) -> str:
        """A human-readable report; its first line names the QEMU it assumes."""
        context = [self.direction, f"rules {self.rules}"
                   + (f" ({self.machine})" if self.machine else "")]
        if self.features:
            context.append("features " + ", ".join(self.features))
        if self.cpu_options:
            context.append("-cpu host," + ",".join(self.cpu_options))
        verdict = {PASS: "ok", FAIL: "FAILS", UNKNOWN: "UNKNOWN (depends on values)"}[self.verdict]
        lines = [f"{self.source.name} -> {self.destination.name} ({', '.join(context)}): "
                 f"{verdict}, assuming {self.assumes}"]
        for note in self.notes:
            lines.append(f"  note: {note}")
        for warning in self.depends_on:
            lines.append(f"  warning: {warning}")
        if self.length is not None:
            lines.append(f"  {LENGTH_ERROR}: the stream carries {self.length[0]} cpreg "
                         f"registers, the destination has {self.length[1]}; only the source "
                         "has:")
        for f in self.failures:
            lines.append(f"  {f.label}: {f.qemu_error}")
            lines.append(f"    fix: {f.fix}")
        return "\n".join(lines)


def direction_of(source: RegList, destination: RegList) -> str:
    """``backward`` (newer kernel to older), ``forward`` or ``same-kernel``."""
    if source.kernel > destination.kernel:
        return "backward"
    if source.kernel < destination.kernel:
        return "forward"
    return "same-kernel"
