"""One ``compat lab migrate`` case: the source guest's stream, the destination
guest's verdict, and the case's files under ``OUT/CASE/``."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from compat.collector import header_value
from compat.core.diagnostics import CompatError
from compat.lab import boot as boot_mod
from compat.lab import guest, kernels, nested
from compat.lab.apt import progress
from compat.lab.cases import Case
from compat.lab.errors import lab_error
from compat.lab.guest import BEGIN, DONE, END, GUEST_RAM, SELF_BEGIN, SELF_END, VERDICT
from compat.output import write_files


@dataclass
class Outcome:
    case: Case
    ok: bool
    status: str
    exit_code: int | None
    messages: list[str]
    directory: Path
    seconds: float
    data: dict = field(default_factory=dict)


def cpregs_text(stream: bytes, label: str, header: dict) -> str:
    from compat.analysis.readers.stream import read_stream
    s = read_stream(stream, name=label)
    # header_value: the stream's machine name comes from the guest; on one line
    lines = [f"# {k}: {header_value(v)}" for k, v in header.items()]
    lines.append(f"# cpregs: {len(s.indexes)} (cpu vmstate version {s.vmstate_version}, "
                 f"machine {header_value(s.machine)})")
    lines += [f"0x{i:016x} 0x{s.values[i]:x}" for i in s.indexes]
    return "\n".join(lines) + "\n"


def case_dir(out: Path, case: Case) -> Path:
    """``OUT/CASE``: a directory directly under ``out``, or an error (the case's
    directory is emptied with ``rmtree``, which must never reach outside ``-o``).
    :func:`compat.lab.cases.parse_case` already refuses names with a path in them;
    this also catches a :class:`Case` built in code and a symlink planted in ``out``."""
    name = case.name
    d = Path(out) / name
    if ("/" in name or "\0" in name or name in ("", ".", "..") or d.is_symlink()
            or d.resolve().parent != Path(out).resolve()):
        raise lab_error(f"case directory {str(d)!r} is not a directory of its own under {str(out)!r}",
                        "case names come from kernel ABIs, machine types and -cpu options; "
                        "remove a symbolic link there")
    return d


def _json(info: dict) -> str:
    return json.dumps(info, indent=1, sort_keys=True) + "\n"


def _write_bytes(path: Path, data: bytes) -> None:
    """A binary file (a gzipped stream) by temp file + rename: compat/output.py
    writes text only (docs/architecture.md)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- one case ----------------------------------------------------------------------------------

class Context:
    """What every case of a run shares.  ``host``: the host QEMU
    (:class:`compat.lab.hostqemu.HostQemu`; None: the binary ``qemu_host``);
    ``cpu``: its ``-cpu`` value (``max``, with ``pauth-impdef=on`` by default)."""

    def __init__(self, apt, images, bases, qemu_host, qemu_host_ver, timeout, out, *,
                 host=None, cpu: str = "max"):
        self.apt, self.images, self.bases = apt, images, bases
        self.qemu_host, self.qemu_host_ver, self.timeout, self.out = qemu_host, qemu_host_ver, timeout, out
        self.host, self.cpu = host, cpu

    def boot_kwargs(self) -> dict:
        return self.host.boot_kwargs() if self.host else {"qemu": self.qemu_host}


def _boot(ctx: Context, abi: str, initrds, where: str, el2: bool = False):
    k, image = ctx.images[abi]
    res = boot_mod.boot(image, initrds, cpu=ctx.cpu, timeout=ctx.timeout,
                        append=nested.append(boot_mod.DEFAULT_APPEND, ["el2"] if el2 else []),
                        stop_marker=DONE, **ctx.boot_kwargs())
    if DONE not in res.console:
        what = (f"timed out after {ctx.timeout:g} s" if res.timed_out
                else f"QEMU ended (exit {res.returncode}) before the guest finished")
        raise lab_error(f"{where}: {what}; last console lines:",
                        "raise --timeout" if res.timed_out else None, detail=res.tail())
    return res


def _guard(ctx: Context) -> float:
    """Seconds the guest gives its inner QEMU: the boot's timeout less the time to
    reach init and print the stream (QEMU runs on 7.x kernels took up to ~190 s)."""
    return max(60.0, ctx.timeout - 120)


def source_stream(ctx: Context, case: Case, work: Path) -> tuple[bytes, float, list[str]]:
    base, _ = ctx.bases[case.qemu]
    extra = guest.case_cpio(work, "source", case, case.source_cpu, None, guard=_guard(ctx))
    res = _boot(ctx, case.source, [base, extra], f"{case.name}: source ({case.source})",
                case.el2)
    data = guest.streams(res.console, BEGIN, END)
    msgs = guest.lines(res.console, "compat-migrate: ")
    if case.el2:
        msgs.append(KVM_MODE + nested.kernel_mode(res.console))
    return data, res.seconds, msgs


def run_case(ctx: Context, case: Case, stream: bytes | None, src_seconds: float, src_msgs,
             own: bytes | None = None) -> Outcome:
    """Migrate ``stream`` into the destination; ``own`` is the destination's own
    outgoing stream when a source run with the destination's options already
    made it (the destination guest then skips making it again)."""
    d = case_dir(ctx.out, case)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    base, prov = ctx.bases[case.qemu]
    if stream is None:
        # the source QEMU itself refused (e.g. an unknown -cpu property): no migration
        msgs = [m[len("source stderr: "):] if m.startswith("source stderr: ") else m
                for m in src_msgs if m.startswith(("source stderr: ", "source monitor",
                                                   "source qemu exit", "lab error: "))]
        lab = any(m.startswith("lab error: ") for m in msgs)
        if "source qemu exit 137" in msgs:
            # killed at the guest's guard: the source QEMU hung, it refused nothing
            lab = True
            msgs.append("lab error: the source QEMU did not finish within its guard (killed; raise --timeout)")
        # "blocked": the source QEMU refused to migrate at all (a migration blocker)
        blocked = any("migration blocked" in m for m in msgs)
        info = {"case": case.name, "status": "none",
                "verdict": "error" if lab else "blocked" if blocked else "source-error",
                "exit_code": None,
                "qemu_messages": msgs, "source": {"kernel": case.source, "cpu": case.source_cpu},
                "destination": {"kernel": case.destination, "cpu": case.destination_cpu},
                "qemu": {"version": case.qemu, "machine": case.machine, **prov},
                "seconds": {"source_boot": round(src_seconds, 1)}, "made_by": "compat lab migrate"}
        if case.el2:
            info["lab"] = _lab(ctx)
            info["nested"] = _nested_setup(case, ctx, src_msgs, None)
        write_files(d, {"case.json": _json(info)})
        return Outcome(case, False, "none", None, msgs, d, src_seconds, info)
    extra = guest.case_cpio(d, "dest", case, case.destination_cpu, stream, self_stream=own is None,
                       guard=_guard(ctx))
    progress(f"{case.name}: destination {case.destination}")
    res = _boot(ctx, case.destination, [base, extra], f"{case.name}: destination ({case.destination})",
                case.el2)
    for f in d.glob("*.cpio"):
        f.unlink()
    verdict = guest.lines(res.console, VERDICT + " ")
    if not verdict:
        raise lab_error(f"{case.name}: the destination printed no verdict; last lines:",
                        detail=res.tail())
    m = re.match(r"status=(.*) exit=(\d+)", verdict[-1])
    status, rc = (m.group(1).strip(), int(m.group(2))) if m else ("unknown", None)
    ok = rc == 0 and status not in ("exited", "unknown", "inmigrate")
    messages = guest.lines(res.console, "compat-migrate: dest stderr: ")
    ks, kd = ctx.images[case.source][0], ctx.images[case.destination][0]
    src_name = f"source-linux-{kernels.release_of(case.source)[0]}.{kernels.release_of(case.source)[1]}.qevm.gz"
    dst_name = f"destination-linux-{kernels.release_of(case.destination)[0]}.{kernels.release_of(case.destination)[1]}.qevm.gz"
    _write_bytes(d / src_name, gzip.compress(stream, 9, mtime=0))
    if own is None:
        own = guest.streams(res.console, SELF_BEGIN, SELF_END)
    stamps = guest.stamps(guest.lines(res.console, "compat-migrate: "))
    src_stamps = guest.stamps(src_msgs or [])
    info = {
        "case": case.name, "verdict": "pass" if ok else "fail", "status": status, "exit_code": rc,
        "qemu_messages": messages,
        "source": {"kernel": case.source, "package": f"{ks.package} {ks.version} ({ks.suite})",
                   "cpu": case.source_cpu, "stream": src_name},
        "destination": {"kernel": case.destination, "package": f"{kd.package} {kd.version} ({kd.suite})",
                        "cpu": case.destination_cpu, "stream": dst_name if own else None},
        "qemu": {"version": case.qemu, "machine": case.machine, **prov,
                 "command": f"qemu-system-aarch64 -M {case.machine} -accel kvm -cpu CPU -smp 1 -m {GUEST_RAM} "
                            "-display none -nodefaults -S -monitor stdio"},
        "lab": _lab(ctx),
        "seconds": {"source_boot": round(src_seconds, 1), "destination_boot": round(res.seconds, 1),
                    "guest_uptime": {"source": src_stamps, "destination": stamps}},
        "made_by": "compat lab migrate",
    }
    if case.el2:
        info["nested"] = _nested_setup(case, ctx, src_msgs, res.console)
    files = {"source.cpregs": cpregs_text(stream, src_name, {
        "kernel": case.source, "qemu": f"{case.qemu} {case.machine}", "cpu": case.source_cpu})}
    if own:
        _write_bytes(d / dst_name, gzip.compress(own, 9, mtime=0))
        files["destination.cpregs"] = cpregs_text(own, dst_name, {
            "kernel": case.destination, "qemu": f"{case.qemu} {case.machine}",
            "cpu": case.destination_cpu})
    files["case.json"] = _json(info)
    files["console.txt"] = "\n".join(l for l in res.console.replace("\r", "").splitlines()
                                     if not re.fullmatch(r"[A-Za-z0-9+/=]{20,}", l)) + "\n"
    write_files(d, files)
    return Outcome(case, ok, status, rc, messages, d, src_seconds + res.seconds, info)


def _lab(ctx: Context) -> dict:
    """The lab host of a case: the host QEMU, its -cpu and machine."""
    return {"host_qemu": ctx.qemu_host_ver, "host_cpu": ctx.cpu,
            "machine": boot_mod.DEFAULT_MACHINE, **(ctx.host.headers if ctx.host else {})}


#: how :func:`source_stream` passes a nested source kernel's KVM mode on
KVM_MODE = "kernel kvm mode: "


def _nested_setup(case: Case, ctx: Context, src_msgs, console: str | None) -> dict:
    """What a nested case ran: the guest kernels' command line and KVM modes
    (as each kernel said it), the inner vCPU's features and machine options."""
    src_mode = next((m[len(KVM_MODE):] for m in src_msgs or () if m.startswith(KVM_MODE)), None)
    return {"kernel_command_line": nested.append(boot_mod.DEFAULT_APPEND, ["el2"]),
            "source_kvm_mode": src_mode,
            "destination_kvm_mode": nested.kernel_mode(console) if console is not None else None,
            "vcpu_features": "psci-0.2,pmu-v3,el2 (-cpu host with virtualization=on)",
            "machine_options": case.machine.split(",", 1)[1], "host_cpu": ctx.cpu}


def first_line(exc: CompatError) -> str:
    return exc.diagnostics[0].message.splitlines()[0] if exc.diagnostics else str(exc).splitlines()[0]


def lab_failure(ctx: Context, case: Case, exc) -> Outcome:
    """A destination guest that did not finish: recorded as verdict ``error``."""
    d = case_dir(ctx.out, case)
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob("*.cpio"):
        f.unlink()
    msgs = ["lab error: " + first_line(exc)]
    info = {"case": case.name, "verdict": "error", "status": "none", "exit_code": None,
            "qemu_messages": msgs, "source": {"kernel": case.source, "cpu": case.source_cpu},
            "destination": {"kernel": case.destination, "cpu": case.destination_cpu},
            "qemu": {"version": case.qemu, "machine": case.machine}, "made_by": "compat lab migrate"}
    write_files(d, {"case.json": _json(info)})
    return Outcome(case, False, "none", None, msgs, d, 0.0, info)
