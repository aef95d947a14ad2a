"""Rules modes: which QEMU a migration verdict assumes.

Every verdict compat gives (``check``, ``audit``, ``diff``) is a prediction
for one QEMU.  A *rules mode* names that QEMU; this table is the one place
that says, in words, what each mode stands for, so the verdict line, the
JSON output, the HTML report and ``--help`` cannot word it differently.

``qemu-10.0``
    QEMU 10.0 as shipped (and 10.x, 11.0): no cpreg migration rule at all,
    so the two lists must match (a longer incoming list fails on its
    length, an unknown register fails the load); no ``kvm-psci-version``
    CPU property (QEMU 11.0's).  ``none`` is an alias.
``qemu-11.1``
    QEMU 11.1 as shipped: the cpreg migration tolerances merged in April
    2026 (tag ``pull-target-arm-20260427``), only those it ships
    (:data:`compat.qemu.tolerance.SHIPPED`).
``tolerances``
    a QEMU >= 11.1 whose ``kvm_arm_set_cpreg_mig_tolerances()`` is compat's
    generated ``arm-cpreg-mig-tolerances.c.inc``.
``compat-props``
    a QEMU carrying the x-mig CPU properties series and compat's generated
    compat tables and guards for the machine type (the default with
    ``--machine``): the guards stop the VM at start on a refused feature, a
    refused vCPU with EL2, or a host whose ID fields break the promise
    (``compat.qemu.id_rules``).
``qemu-10.2-patched``
    QEMU 10.2.2 with compat's patch set (``compat/data/qemu-patches/10.2``)
    and its rules switched off (``COMPAT_RULES=off``): no cpreg migration
    rule, but the patch set's loading (a longer incoming list is let in and
    each register only the stream has is named) and its CPU properties
    ``kvm-psci-version`` and ``SYSREG_<REG>_<FIELD>``.
``qemu-10.2-compat``
    the same binary with compat's rules on (``COMPAT_RULES=on`` or
    ``tables``): ``compat-props`` for the machine type, plus what the patch
    set adds, so the tables' ``SYSREG_*`` ID field pins act.

Wording: QEMU 11.1 (``qemu-11.1``, ``tolerances``) and the lab's QEMU built
from compat's patch set with its rules off (``qemu-10.2-patched``) let a
longer incoming list in and name each register only the stream has, as
``cpu_post_load()`` prints it (:data:`UNKNOWN_REGISTER`); QEMU 10.x as
shipped fails a longer list on its length and names no register
(:attr:`RulesMode.names_registers`).  ``compat-props`` keeps the 10.x
wording: it stands for any QEMU with the x-mig series, and the audit, the
HTML report and their tests read its length failures.
"""

from __future__ import annotations

from dataclasses import dataclass

from compat.core.diagnostics import COMMAND_LINE, CompatError, did_you_mean


@dataclass(frozen=True)
class RulesMode:
    """One rules mode and the QEMU it stands for."""

    name: str
    qemu: str                       # the QEMU, in words, for a verdict line
    pick_when: str                  # for --help: which QEMU to pick it for
    #: the oldest QEMU release the mode stands for: a CPU property (such as
    #: ``kvm-psci-version``, QEMU 11.0) exists under the mode from that release on
    release: str = "10.0"
    aliases: tuple[str, ...] = ()
    #: the QEMU carries compat's tables and guards for a machine type (so a
    #: verdict needs one)
    needs_machine: bool = False
    #: the QEMU sizes its incoming cpreg arrays for the stream and names each
    #: register only the stream has (QEMU 11.1, compat's patch set); else a
    #: longer list fails on its length and no register is named (QEMU 10.x)
    names_registers: bool = False

    def unknown_register_error(self, index: int) -> str | None:
        """What this QEMU prints for register ``index`` in the stream that the
        destination lacks; ``None`` where it names no register."""
        if not self.names_registers:
            return None
        return UNKNOWN_REGISTER.format(name=qemu_register_name(index))

    #: the QEMU has the proposed host-model properties (-cpu host,SYSREG_<REG>_<FIELD>)
    #: that compat's tables use to lower ID fields (compat.qemu.id_rules): no release
    id_properties: bool = False

    def describe(self, machine: str | None = None) -> str:
        """The QEMU this mode assumes, in words; ``machine`` where it matters."""
        if self.needs_machine and machine:
            return self.qemu.replace("the machine type", machine)
        return self.qemu

    def short(self, machine: str | None = None) -> str:
        """:meth:`describe` without its parenthesis, for a sentence ("QEMU 11.1
        as shipped does not apply ...")."""
        return self.describe(machine).split(" (", 1)[0]

    def has_property(self, since) -> bool:
        """Whether the QEMU of this mode has a CPU property that QEMU
        ``since`` (a :class:`~compat.core.versions.Version`) introduced."""
        from compat.core.versions import Version
        return Version.parse(self.release) >= since

    def to_json(self, machine: str | None = None) -> dict:
        """``{"name": ..., "description": ...}`` for ``--json`` outputs."""
        return {"name": self.name, "description": self.describe(machine)}


#: QEMU 11.1's cpu_post_load() (and compat's patch set, in the same words) on a
#: register only the incoming stream has
UNKNOWN_REGISTER = ("handle_cpreg_only_in_incoming_stream: {name} in the incoming stream "
                    "but unknown on the destination: fail migration")


def qemu_register_name(index: int) -> str:
    """A register as QEMU 11.1 names it in messages: ``system register op0:3
    op1:0 crn:9 crm:14 op2:6``, ``fw reg 0``, ``fw feat reg 3``."""
    from compat.core import codec
    decoded = codec.decode(index)
    if decoded.group == "sysreg":
        return "system register " + decoded.qemu_name
    return decoded.qemu_name


QEMU_10_0 = RulesMode(
    "qemu-10.0",
    "QEMU 10.0 as shipped (no cpreg migration rules: the lists must match)",
    "stock QEMU 10.x and 11.0 (Debian trixie's 10.0; as in 10.0, "
    "--cpu-option kvm-psci-version is refused)",
    release="10.0", aliases=("none",))
QEMU_11_1 = RulesMode(
    "qemu-11.1",
    "QEMU 11.1 as shipped (its cpreg migration tolerances)",
    "stock QEMU 11.1 or newer (Debian sid's 11.1)",
    release="11.1", names_registers=True)
TOLERANCES = RulesMode(
    "tolerances",
    "a QEMU >= 11.1 carrying compat's generated tolerances "
    "(arm-cpreg-mig-tolerances.c.inc)",
    "a QEMU built with compat's arm-cpreg-mig-tolerances.c.inc",
    release="11.1", names_registers=True)
COMPAT_PROPS = RulesMode(
    "compat-props",
    "a QEMU carrying compat's generated tables and guards for the machine type (needs "
    "the x-mig-hidden-regs series; kvm-psci-version from QEMU 11.0)",
    "a QEMU built with compat's arm-virt-kernel-compat.c.inc",
    release="11.0", needs_machine=True)
QEMU_10_2_PATCHED = RulesMode(
    "qemu-10.2-patched",
    "QEMU 10.2.2 with compat's patch set and its rules off (COMPAT_RULES=off: "
    "no cpreg migration rules; unknown registers named, kvm-psci-version and the SYSREG_* "
    "ID field properties there)",
    "the lab's QEMU built by compat lab qemu build, run with COMPAT_RULES=off "
    "(the control of a compat on/off pair)",
    release="11.0", names_registers=True, id_properties=True)
QEMU_10_2_COMPAT = RulesMode(
    "qemu-10.2-compat",
    "QEMU 10.2.2 with compat's patch set and its rules on (COMPAT_RULES=on: compat's tables "
    "and guards for the machine type, the SYSREG_* ID field pins acting; unknown registers "
    "named, kvm-psci-version there)",
    "the lab's QEMU built by compat lab qemu build, run with COMPAT_RULES=on or tables "
    "(the treatment of a compat on/off pair)",
    release="11.0", needs_machine=True, names_registers=True, id_properties=True)

#: every mode, in the order --help lists them
MODES: tuple[RulesMode, ...] = (QEMU_10_0, QEMU_11_1, TOLERANCES, COMPAT_PROPS,
                                QEMU_10_2_PATCHED, QEMU_10_2_COMPAT)
#: every name a user may type (aliases included)
NAMES: tuple[str, ...] = tuple(n for m in MODES for n in (m.name, *m.aliases))


def resolve(name: str) -> RulesMode:
    """The mode called ``name`` (or one of its aliases); a usage error if none."""
    for mode in MODES:
        if name == mode.name or name in mode.aliases:
            return mode
    raise CompatError.at(COMMAND_LINE, f"unknown rules '{name}'" + did_you_mean(name, NAMES),
                         hint="use one of " + ", ".join(m.name for m in MODES))


def help_text(default: str | None = None) -> str:
    """The ``rules:`` paragraph of ``check``/``audit``/``diff`` --help;
    ``default`` says which mode the command uses without ``--rules``."""
    width = max(len(m.name) for m in MODES) + 2
    lines = ["rules (--rules MODE: pick the QEMU that runs the migration):"]
    import textwrap
    for mode in MODES:
        alias = f" (alias: {', '.join(mode.aliases)})" if mode.aliases else ""
        lines += textwrap.wrap(mode.pick_when + alias, 78, initial_indent=f"  {mode.name:<{width}}",
                               subsequent_indent=" " * (width + 2))
    if default:
        lines += [f"  {line}" for line in default.splitlines()]
    return "\n".join(lines)


__all__ = ["RulesMode", "MODES", "NAMES", "QEMU_10_0", "QEMU_11_1", "TOLERANCES",
           "COMPAT_PROPS", "QEMU_10_2_PATCHED", "QEMU_10_2_COMPAT", "UNKNOWN_REGISTER", "qemu_register_name",
           "resolve", "help_text"]
