"""The host QEMU the lab boots its guests with, and the ``-cpu`` value it gets.

:func:`resolve` picks the QEMU (``--qemu PATH``, ``--qemu-suite SUITE`` or
the system's ``qemu-system-aarch64``) for ``lab collect`` and ``lab
migrate`` alike.  :func:`tcg_cpu` adds ``pauth-impdef=on`` to a TCG ``max``
CPU where that QEMU has the property: TCG then computes pointer
authentication codes with a cheap implementation-defined function instead
of emulating QARMA, which is most of a ``max`` guest's boot time, and no
register a kernel lists depends on the algorithm (the lab's slow test
compares a list with and without it).  Whether a QEMU has the property is
asked once per binary (its path, size and modification time) and kept in
the lab cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from compat.lab import boot as boot_mod
from compat.lab.errors import lab_error
from compat.output import atomic_write

PAUTH_IMPDEF = "pauth-impdef"
#: --pauth-impdef: auto (where the QEMU has it), on (required), off (never)
PAUTH_MODES = ("auto", "on", "off")
#: CPU options that change no register, left out of the list's default host name
_NEUTRAL = re.compile(r",(?:pauth-impdef)=[^,]*")


@dataclass
class HostQemu:
    """How to run the host QEMU, and where it came from."""

    binary: str
    version: str                       # qemu_version()'s text: "7.2.22 (Debian ...)"
    env: dict | None = None
    command_prefix: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()
    headers: dict = field(default_factory=dict)   # provenance for lists and case.json

    @property
    def short_version(self) -> str:
        m = re.match(r"(\d+)\.(\d+)", self.version)
        return f"{m.group(1)}.{m.group(2)}" if m else self.version.split()[0]

    def boot_kwargs(self) -> dict:
        """The keyword arguments :func:`compat.lab.boot.boot` takes for this QEMU."""
        return {"qemu": self.binary, "env": self.env, "command_prefix": self.command_prefix,
                "extra_args": self.extra_args}


def resolve(qemu: str | None, qemu_suite: str | None, cache: Path) -> HostQemu:
    """The QEMU named by ``--qemu`` / ``--qemu-suite`` (default: the system's);
    a suite's QEMU is downloaded and unpacked into ``cache`` once."""
    env, prefix, extra, headers = None, (), (), {}
    if qemu_suite:
        if qemu:
            raise lab_error("--qemu and --qemu-suite name two QEMUs; give one")
        from compat.lab import debian_qemu
        debian_qemu.check_suite(qemu_suite)
        dq = debian_qemu.fetch(qemu_suite, cache)
        qemu, env, prefix, extra = str(dq.binary), dq.env, dq.command_prefix, dq.extra_args
        headers["qemu-package"] = dq.provenance
    binary = boot_mod.qemu_binary(qemu)
    version = boot_mod.qemu_version(binary, env=env, command_prefix=prefix)
    return HostQemu(binary, version, env, tuple(prefix), tuple(extra), headers)


def host_name(host: HostQemu, cpu: str) -> str:
    """``qemuX.Y-CPU``, the default host name of a list: options that change
    no register (``pauth-impdef``) are left out, so ``max`` stays ``max``."""
    return f"qemu{host.short_version}-{_NEUTRAL.sub('', cpu)}"


def _probe_key(host: HostQemu) -> str:
    try:
        st = os.stat(host.binary)
        ident = f"{os.path.realpath(host.binary)}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        ident = host.binary
    ident += "|" + "\0".join(host.command_prefix) + "|" + host.version
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


_PROBES: dict[tuple[str, str], bool] = {}


def accepts_cpu(host: HostQemu, cpu: str, cache: Path | None = None) -> bool:
    """Whether ``host`` starts a ``virt`` machine with ``-cpu cpu`` (asked once
    per binary and value; the answer is kept under ``cache/probes``)."""
    key = (_probe_key(host), cpu)
    if key in _PROBES:
        return _PROBES[key]
    store = Path(cache) / "probes" / f"{key[0]}.json" if cache else None
    known = {}
    if store is not None:
        try:
            known = json.loads(store.read_text())
        except (OSError, ValueError):
            known = {}
        if isinstance(known, dict) and isinstance(known.get(cpu), bool):
            _PROBES[key] = known[cpu]
            return known[cpu]
    cmd = [*host.command_prefix, host.binary, "-M", "virt", "-accel", "tcg", "-cpu", cpu,
           "-nodefaults", "-display", "none", "-S", "-monitor", "stdio", *host.extra_args]
    try:
        proc = subprocess.run(cmd, input="quit\n", stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60, env=host.env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise lab_error(f"cannot ask {host.binary} about -cpu {cpu}: {exc}") from None
    ok = proc.returncode == 0
    _PROBES[key] = ok
    if store is not None:
        known = dict(known) if isinstance(known, dict) else {}
        known[cpu] = ok
        atomic_write(store, json.dumps(known, indent=1, sort_keys=True) + "\n")
    return ok


def tcg_cpu(host: HostQemu, cpu: str, mode: str = "auto", cache: Path | None = None) -> str:
    """The ``-cpu`` value to run: ``cpu`` plus ``pauth-impdef=on`` for the
    ``max`` model when ``mode`` is ``auto`` (and the QEMU has the property)
    or ``on`` (an error if it has not).  A value that already sets pointer
    authentication (``pauth``, ``pauth-impdef``) is left as given."""
    if mode not in PAUTH_MODES:
        raise lab_error(f"unknown --pauth-impdef '{mode}'", "one of: " + ", ".join(PAUTH_MODES))
    model, _, opts = cpu.partition(",")
    if mode == "off" or re.search(r"(^|,)pauth(-impdef)?=", opts):
        return cpu
    if model != "max":
        if mode == "on":
            raise lab_error(f"--pauth-impdef on needs -cpu max (not '{model}')",
                            "pauth-impdef is a property of QEMU's TCG 'max' CPU")
        return cpu
    wanted = f"{cpu},{PAUTH_IMPDEF}=on"
    if accepts_cpu(host, wanted, cache):
        return wanted
    if mode == "on":
        raise lab_error(f"QEMU {host.version} ({host.binary}) has no '{PAUTH_IMPDEF}' property "
                        "on -cpu max", "leave out --pauth-impdef on (auto uses it where it exists)")
    return cpu
