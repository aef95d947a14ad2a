"""``compat lab migrate``: real QEMU migrations of a KVM vCPU between two real kernels.

Each case boots two Debian arm64 kernels under the host's QEMU (TCG, EL2
emulated, so KVM runs inside the guest) with an initramfs of busybox, an
arm64 ``qemu-system-aarch64`` from a Debian suite and the closure of its
shared libraries (``readelf -d`` NEEDED entries resolved through arm64 debs
of the same suite, that suite's ``libc6`` included):

* guest A (source kernel) starts ``qemu-system-aarch64 -M virt-X.Y -accel kvm
  -cpu host[,OPTS] -S``, runs ``migrate "exec:cat > FILE"`` and prints the
  stream on the console (``gzip -9 | base64`` between markers);
* guest B (destination kernel) gets that stream as an extra cpio archive
  appended to the initramfs, runs ``-incoming "exec:cat FILE"``, polls
  ``info status`` until it leaves ``inmigrate`` (or QEMU exits), prints the
  verdict and QEMU's messages, then writes its own outgoing stream (the
  destination's cpreg list) with the destination's options.

Each case's results go to ``OUT/CASE/``: ``case.json`` (verdict, exit code,
status, QEMU messages, provenance), ``source.cpregs`` / ``destination.cpregs``
(index and value per line, read with :mod:`compat.analysis.readers.stream`)
and the two streams gzipped (``*.qevm.gz``, named so that ``compat check``
finds their kernels).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from compat.core.diagnostics import CompatError
from compat.lab import boot as boot_mod
from compat.lab import initramfs, kernels
from compat.lab.apt import PrivateApt, default_cache, progress
from compat.lab.errors import lab_error, need_tool

#: QEMU version -> Debian suite of its arm64 qemu-system-arm
QEMU_SUITES = {"11.1": "sid", "10.0": "trixie"}
#: 11.1 has the merged cpreg tolerances and their trace events
TRACE_EVENTS = ("tolerate_cpreg_*", "cpu_post_load")
#: packages never needed inside the guest (firmware, data, systemd)
_SKIP = re.compile(r"^(qemu-system-(data|common|gui)|ipxe-qemu|seabios|systemd.*|opensysusers|"
                   r"sysuser-helper|libc-gconv-modules-extra|gcc-\d+-base|.*-modules(-db)?)$")
#: RAM of the inner VM (MiB): the source QEMU reads every page of it when it migrates,
#: which under TCG is most of a source guest's time (64 MiB: ~85 s on a busy 2-core host)
GUEST_RAM = 16
BEGIN, END = "=====COMPAT-STREAM-BEGIN", "=====COMPAT-STREAM-END"
SELF_BEGIN, SELF_END = "=====COMPAT-SELF-BEGIN", "=====COMPAT-SELF-END"
VERDICT = "compat-migrate: verdict"
DONE = "compat-migrate: done"
_LIB_DIRS = ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib")

GUEST_INIT = initramfs.INIT_PROLOGUE + r"""echo "compat-guest: init reached $(uname -r)"
stamp() { echo "compat-migrate: t=$(cut -d' ' -f1 /proc/uptime) $1"; }
export LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu:/lib/aarch64-linux-gnu
. /compat/case.sh
Q=/usr/bin/qemu-system-aarch64
COMMON="-M $MACHINE -accel kvm -smp 1 -m $GUEST_RAM -display none -nodefaults -S -monitor stdio"

# feed_source OUT: monitor commands for a source QEMU (migrate, wait, quit)
feed_source() {
  echo "migrate \"exec:cat > $1\""
  i=0
  while [ $i -lt 500 ]; do
    sleep 0.2
    echo "info migrate"
    if grep -qE "tatus:[[:space:]]*completed" /tmp/src.out 2>/dev/null; then break; fi
    if grep -qE "tatus:[[:space:]]*failed" /tmp/src.out 2>/dev/null; then break; fi
    i=$((i+1))
  done
  sleep 0.2
  echo quit
}

# run_source CPU OUT: start QEMU, migrate to OUT, quit
run_source() {
  rm -f /tmp/src.out /tmp/src.err "$2"
  feed_source "$2" | timeout -s KILL $GUARD $Q $COMMON -cpu "$1" > /tmp/src.out 2> /tmp/src.err
  src_rc=$?
}

# feed_dest: poll 'info status' until the VM leaves inmigrate, then quit
feed_dest() {
  i=0
  while [ $i -lt 500 ]; do
    sleep 0.2
    echo "info status"
    last=$(grep "VM status" /tmp/dst.out 2>/dev/null | tr -d '\r' | tail -n 1)
    case "$last" in
      *inmigrate*|"") ;;
      *) echo "$last" | sed 's/.*VM status: //' > /tmp/dst.status; break ;;
    esac
    i=$((i+1))
  done
  sleep 0.2
  echo quit
}

print_stream() {
  echo "$1"
  gzip -9 < "$3" | base64
  echo "$2 $(wc -c < "$3")"
}

if [ "$MODE" = source ]; then
  stamp source-qemu-start
  run_source "$CPU" /tmp/out.stream
  stamp source-qemu-end
  echo "compat-migrate: source qemu exit $src_rc"
  sed 's/^/compat-migrate: source stderr: /' /tmp/src.err
  grep -a "tatus:" /tmp/src.out | tr -d '\r' | sed 's/.*\(tatus:\)/S\1/' | sort -u | sed 's/^/compat-migrate: source monitor: /'
  if [ "$src_rc" != 0 ]; then
    tr -d '\r' < /tmp/src.out | grep -av "^(qemu) *info migrate *$" | tail -n 4 | sed 's/^/compat-migrate: source monitor tail: /'
  fi
  if [ -s /tmp/out.stream ]; then print_stream $BEGIN $END /tmp/out.stream; fi
else
  rm -f /tmp/dst.status
  stamp dest-qemu-start
  feed_dest | timeout -s KILL $GUARD $Q $COMMON -cpu "$CPU" $TRACE -incoming "exec:cat /compat/in.stream" > /tmp/dst.out 2> /tmp/dst.err
  rc=$?
  status=exited
  [ -s /tmp/dst.status ] && status=$(cat /tmp/dst.status)
  sed 's/^/compat-migrate: dest stderr: /' /tmp/dst.err
  echo "$VERDICT status=$status exit=$rc"
  stamp dest-qemu-end
  # the destination's own stream, unless a source run of the same options already gave it
  if [ "$SELF" != 0 ]; then
    run_source "$CPU" /tmp/self.stream
    if [ -s /tmp/self.stream ]; then print_stream $SELF_BEGIN $SELF_END /tmp/self.stream; fi
  fi
fi
stamp done
echo "$DONE"
poweroff -f
"""


@dataclass(frozen=True)
class Case:
    source: str                   # Debian kernel ABI (6.16.12+deb13)
    destination: str
    qemu: str = "11.1"            # 11.1 (sid) or 10.0 (trixie)
    machine: str = "virt-11.0"
    source_cpu: str = "host"      # -cpu value on the source (host,kvm-psci-version=1.1)
    destination_cpu: str = "host"

    @property
    def name(self) -> str:
        def short(abi):
            return kernels.release_of(abi) and "%d.%d" % kernels.release_of(abi)

        def opts(cpu):
            rest = cpu.split(",", 1)[1] if "," in cpu else ""
            return re.sub(r"[^A-Za-z0-9.=]+", "_", rest)
        base = f"{short(self.source)}-to-{short(self.destination)}_qemu{self.qemu}_{self.machine}"
        so, do = opts(self.source_cpu), opts(self.destination_cpu)
        if so and so == do:
            base += f"_{so}"
        else:
            if so:
                base += f"_src-{so}"
            if do:
                base += f"_dst-{do}"
        return base


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


def parse_case(text: str, default_qemu: str = "11.1", default_machine: str = "virt-11.0") -> Case:
    """``SRC:DST[:QEMU[:MACHINE[:SRC_CPU[:DST_CPU]]]]`` (``-`` keeps a default)."""
    parts = text.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise lab_error(f"bad case '{text}'", "write SRC:DST[:QEMU[:MACHINE[:SRC_CPU[:DST_CPU]]]], "
                        "e.g. 6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0:host,kvm-psci-version=1.1")
    vals = parts + ["-"] * (6 - len(parts))
    q = vals[2] if vals[2] != "-" else default_qemu
    m = vals[3] if vals[3] != "-" else default_machine
    sc = vals[4] if vals[4] != "-" else "host"
    dc = vals[5] if vals[5] != "-" else "host"
    if q not in QEMU_SUITES:
        raise lab_error(f"unknown QEMU version '{q}'", "known: " + ", ".join(QEMU_SUITES))
    return Case(vals[0], vals[1], q, m, sc, dc)


K612, K616, K72, K73 = "6.12.117+deb13", "6.16.12+deb13", "7.2.13+deb14", "7.3.4+deb13"
PSCI11 = "host,kvm-psci-version=1.1"


def matrix(name: str) -> list[Case]:
    """The named matrix (``oracle``: the cases of tests/data/real-migrations),
    most informative first (results come in as cases finish): QEMU 10.0,
    QEMU 11.1 on virt-11.0, the PSCI pin, pmu=off, same-kernel controls, then
    the other machine types of 11.1."""
    cases: list[Case] = []
    pairs = [(K612, K616), (K616, K612), (K72, K73), (K73, K72)]
    for s, d in pairs:
        cases.append(Case(s, d, "10.0", "virt-10.0"))
    cases.append(Case(K612, K612, "10.0", "virt-10.0"))
    cases.append(Case(K616, K612, "10.0", "virt-10.0", PSCI11))
    for s, d in pairs:
        cases.append(Case(s, d, "11.1", "virt-11.0"))
    cases.append(Case(K616, K612, "11.1", "virt-11.0", PSCI11))
    cases.append(Case(K616, K612, "11.1", "virt-10.0", PSCI11))
    for s, d in pairs:
        cases.append(Case(s, d, "11.1", "virt-11.0", "host,pmu=off", "host,pmu=off"))
    for k in (K612, K616, K73):
        cases.append(Case(k, k, "11.1", "virt-11.0"))
    for machine in ("virt-10.0", "virt-11.1"):
        for s, d in pairs:
            cases.append(Case(s, d, "11.1", machine))
    return cases


# -- the guest QEMU --------------------------------------------------------------------------

def _deb_field(deb: Path, name: str) -> str:
    proc = subprocess.run([need_tool("dpkg-deb"), "-f", str(deb), name], capture_output=True, text=True)
    return proc.stdout.strip()


def _depends(deb: Path) -> list[str]:
    out = []
    for alt in _deb_field(deb, "Depends").split(","):
        first = alt.split("|")[0].strip()
        name = first.split("(")[0].strip().split(":")[0]
        if name:
            out.append(name)
    return out


def _needed(path: Path) -> list[str]:
    proc = subprocess.run([need_tool("readelf"), "-d", str(path)], capture_output=True, text=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", proc.stdout)


def _suite_versions(apt: PrivateApt, names: list[str], suite: str) -> dict:
    """{name: version} of each package in ``suite`` (apt-cache madison)."""
    out = {}
    for line in apt.cache_query("madison", *names).splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 3 and parts[0] not in out:
            words = parts[2].split()
            if len(words) > 1 and words[1].split("/")[0] == suite:
                out[parts[0]] = parts[1]
    return out


def qemu_bundle(apt: PrivateApt, qemu: str) -> tuple[dict, dict]:
    """Files for the guest: busybox, qemu-system-aarch64 and its library closure
    from the suite of ``qemu``; ({guest path: host Path}, provenance)."""
    suite = QEMU_SUITES[qemu]
    root = apt.cache / "migrate" / f"qemu-{suite}"
    manifest = root / "manifest.json"
    if manifest.exists():
        info = json.loads(manifest.read_text())
        return {g: root / "tree" / real for g, real in info["files"].items()}, info["provenance"]
    shutil.rmtree(root, ignore_errors=True)
    tree = root / "tree"
    tree.mkdir(parents=True)
    progress(f"downloading qemu-system-arm and its libraries ({suite})")
    # the Depends closure restricted to libraries, from the same suite
    queue, seen, debs = ["qemu-system-arm", "busybox-static"], set(), {}
    while queue:
        batch = [p for p in dict.fromkeys(queue) if p not in seen and not _SKIP.match(p)]
        queue = []
        if not batch:
            break
        seen.update(batch)
        versions = _suite_versions(apt, batch, suite)
        lost = [p for p in batch if p not in versions]
        if lost:
            raise lab_error(f"not in {suite} (arm64): {', '.join(lost)}")
        paths = apt.download([f"{p}={versions[p]}" for p in batch])
        for p in batch:
            deb = apt.find_deb(f"{p}={versions[p]}", apt.root / "debs")
            debs[p] = deb
            if p == "busybox-static":
                continue
            queue += [d for d in _depends(deb) if "lib" in d and d not in seen]
    initramfs.unpack_debs(debs.values(), tree)
    qbin = tree / "usr/bin/qemu-system-aarch64"
    if not qbin.exists():
        raise lab_error(f"qemu-system-arm from {suite} has no usr/bin/qemu-system-aarch64")
    keep = {"/usr/bin/qemu-system-aarch64"}
    todo, done, missing = [qbin], set(), []
    while todo:
        f = todo.pop()
        for so in _needed(f):
            if so in done:
                continue
            done.add(so)
            hit = next((tree / d / so for d in _LIB_DIRS if (tree / d / so).exists()), None)
            if hit is None:
                missing.append(so)
                continue
            keep.add("/" + str(hit.relative_to(tree)))
            todo.append(hit.resolve())
    if missing:
        raise lab_error(f"shared libraries of qemu-system-aarch64 ({suite}) not found in its "
                        f"dependencies: {', '.join(sorted(missing))}")
    interp = [p for p in tree.glob("usr/lib/ld-linux-aarch64.so.1")] + \
        [p for p in tree.glob("lib/ld-linux-aarch64.so.1")] + \
        list(tree.glob("usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"))
    if not interp:
        raise lab_error(f"libc6 ({suite}) has no ld-linux-aarch64.so.1")
    # resolve symlinks: the guest gets real files at every kept path
    files = {"/lib/ld-linux-aarch64.so.1": str(interp[0].resolve().relative_to(tree.resolve()))}
    bb = next((p for p in (tree / "bin/busybox", tree / "usr/bin/busybox") if p.exists()), None)
    if bb is None:
        raise lab_error(f"busybox-static ({suite}) has no busybox")
    files["/bin/busybox"] = str(bb.relative_to(tree))
    for g in sorted(keep):
        p = tree / g.lstrip("/")
        files[g] = str(p.resolve().relative_to(tree.resolve()))
    prov = {"suite": suite,
            "qemu-system-arm": _deb_field(debs["qemu-system-arm"], "Version"),
            "busybox-static": _deb_field(debs["busybox-static"], "Version"),
            "libc6": _deb_field(debs["libc6"], "Version") if "libc6" in debs else None,
            "debs": len(debs), "guest-files": len(files)}
    manifest.write_text(json.dumps({"files": files, "provenance": prov}, indent=1))
    return {g: tree / real for g, real in files.items()}, prov


def guest_base(apt: PrivateApt, qemu: str) -> tuple[Path, dict]:
    """The cached base initramfs for ``qemu`` (busybox, QEMU, libraries, /init)."""
    files, prov = qemu_bundle(apt, qemu)
    key = hashlib.sha256(GUEST_INIT.encode() + str(GUEST_RAM).encode()
                         + json.dumps(prov, sort_keys=True).encode()).hexdigest()[:16]
    out = apt.cache / "initramfs" / f"migrate-{prov['suite']}-{key}.cpio"
    if out.exists():
        return out, prov
    out.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building the guest initramfs (QEMU {prov['qemu-system-arm']})")
    init = GUEST_INIT.replace("$BEGIN", BEGIN).replace("$END", END) \
        .replace("$SELF_BEGIN", SELF_BEGIN).replace("$SELF_END", SELF_END) \
        .replace("$VERDICT", VERDICT).replace("$DONE", DONE).replace("$GUEST_RAM", str(GUEST_RAM))
    return initramfs.build_initramfs(out, files=dict(files), init=init, packages=()), prov


def _case_cpio(work: Path, mode: str, case: Case, cpu: str, stream: bytes | None,
               self_stream: bool = True, guard: float = 150) -> Path:
    trace = " ".join(f"-trace {t}" for t in TRACE_EVENTS) if case.qemu != "10.0" else ""
    script = (f"MODE={mode}\nMACHINE='{case.machine}'\nCPU='{cpu}'\nTRACE='{trace}'\n"
              f"SELF={1 if self_stream else 0}\nGUARD={int(guard)}\n")
    files = {"/compat/case.sh": script}
    if stream is not None:
        files["/compat/in.stream"] = stream
    out = work / f"{mode}.cpio"
    return initramfs.build_initramfs(out, files=files, packages=())


def _streams(console: str, begin: str, end: str) -> bytes | None:
    text = console.replace("\r", "")
    i = text.find(begin + "\n")
    if i < 0:
        return None
    j = text.find(end, i)
    if j < 0:
        return None
    body = "".join(l.strip() for l in text[i + len(begin):j].splitlines()
                   if re.fullmatch(r"[A-Za-z0-9+/=]+", l.strip()))
    try:
        return gzip.decompress(base64.b64decode(body))
    except Exception:  # noqa: BLE001 - reported as a clean lab error by the caller
        return None


def _lines(console: str, prefix: str) -> list[str]:
    return [l[len(prefix):].rstrip() for l in console.replace("\r", "").splitlines()
            if l.startswith(prefix)]


def _stamps(lines: list[str]) -> dict[str, float]:
    """{phase: guest uptime} from the guest's ``t=SECONDS PHASE`` lines."""
    out = {}
    for line in lines:
        m = re.fullmatch(r"t=([0-9.]+) (\S+)", line.strip())
        if m:
            out[m.group(2)] = float(m.group(1))
    return out


def cpregs_text(stream: bytes, label: str, header: dict) -> str:
    from compat.analysis.readers.stream import read_stream
    s = read_stream(stream, name=label)
    lines = [f"# {k}: {v}" for k, v in header.items()]
    lines.append(f"# cpregs: {len(s.indexes)} (cpu vmstate version {s.vmstate_version}, "
                 f"machine {s.machine})")
    lines += [f"0x{i:016x} 0x{s.values[i]:x}" for i in s.indexes]
    return "\n".join(lines) + "\n"


# -- one case ----------------------------------------------------------------------------------

class _Ctx:
    def __init__(self, apt, images, bases, qemu_host, qemu_host_ver, timeout, out):
        self.apt, self.images, self.bases = apt, images, bases
        self.qemu_host, self.qemu_host_ver, self.timeout, self.out = qemu_host, qemu_host_ver, timeout, out


def _boot(ctx: _Ctx, abi: str, initrds, where: str):
    k, image = ctx.images[abi]
    res = boot_mod.boot(image, initrds, qemu=ctx.qemu_host, cpu="max", timeout=ctx.timeout,
                        stop_marker=DONE)
    if DONE not in res.console:
        what = (f"timed out after {ctx.timeout:g} s" if res.timed_out
                else f"QEMU ended (exit {res.returncode}) before the guest finished")
        raise lab_error(f"{where}: {what}; last console lines:\n{res.tail()}",
                        "raise --timeout" if res.timed_out else None)
    return res


def _guard(ctx: _Ctx) -> float:
    """Seconds the guest gives its inner QEMU: the boot's timeout less the time to
    reach init and print the stream (QEMU runs on 7.x kernels took up to ~190 s)."""
    return max(60.0, ctx.timeout - 120)


def source_stream(ctx: _Ctx, case: Case, work: Path) -> tuple[bytes, float, list[str]]:
    base, _ = ctx.bases[case.qemu]
    extra = _case_cpio(work, "source", case, case.source_cpu, None, guard=_guard(ctx))
    res = _boot(ctx, case.source, [base, extra], f"{case.name}: source ({case.source})")
    data = _streams(res.console, BEGIN, END)
    msgs = _lines(res.console, "compat-migrate: ")
    return data, res.seconds, msgs


def run_case(ctx: _Ctx, case: Case, stream: bytes | None, src_seconds: float, src_msgs,
             own: bytes | None = None) -> Outcome:
    """Migrate ``stream`` into the destination; ``own`` is the destination's own
    outgoing stream when a source run with the destination's options already
    made it (the destination guest then skips making it again)."""
    d = ctx.out / case.name
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
        info = {"case": case.name, "verdict": "error" if lab else "source-error", "status": "none",
                "exit_code": None,
                "qemu_messages": msgs, "source": {"kernel": case.source, "cpu": case.source_cpu},
                "destination": {"kernel": case.destination, "cpu": case.destination_cpu},
                "qemu": {"version": case.qemu, "machine": case.machine, **prov},
                "seconds": {"source_boot": round(src_seconds, 1)}, "made_by": "compat lab migrate"}
        (d / "case.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
        return Outcome(case, False, "none", None, msgs, d, src_seconds, info)
    extra = _case_cpio(d, "dest", case, case.destination_cpu, stream, self_stream=own is None,
                       guard=_guard(ctx))
    progress(f"{case.name}: destination {case.destination}")
    res = _boot(ctx, case.destination, [base, extra], f"{case.name}: destination ({case.destination})")
    for f in d.glob("*.cpio"):
        f.unlink()
    verdict = _lines(res.console, VERDICT + " ")
    if not verdict:
        raise lab_error(f"{case.name}: the destination printed no verdict; last lines:\n{res.tail()}")
    m = re.match(r"status=(.*) exit=(\d+)", verdict[-1])
    status, rc = (m.group(1).strip(), int(m.group(2))) if m else ("unknown", None)
    ok = rc == 0 and status not in ("exited", "unknown", "inmigrate")
    messages = _lines(res.console, "compat-migrate: dest stderr: ")
    ks, kd = ctx.images[case.source][0], ctx.images[case.destination][0]
    src_name = f"source-linux-{kernels.release_of(case.source)[0]}.{kernels.release_of(case.source)[1]}.qevm.gz"
    dst_name = f"destination-linux-{kernels.release_of(case.destination)[0]}.{kernels.release_of(case.destination)[1]}.qevm.gz"
    (d / src_name).write_bytes(gzip.compress(stream, 9, mtime=0))
    if own is None:
        own = _streams(res.console, SELF_BEGIN, SELF_END)
    stamps = _stamps(_lines(res.console, "compat-migrate: "))
    src_stamps = _stamps(src_msgs or [])
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
        "lab": {"host_qemu": ctx.qemu_host_ver, "host_cpu": "max",
                "machine": boot_mod.DEFAULT_MACHINE},
        "seconds": {"source_boot": round(src_seconds, 1), "destination_boot": round(res.seconds, 1),
                    "guest_uptime": {"source": src_stamps, "destination": stamps}},
        "made_by": "compat lab migrate",
    }
    (d / "source.cpregs").write_text(cpregs_text(stream, src_name, {
        "kernel": case.source, "qemu": f"{case.qemu} {case.machine}", "cpu": case.source_cpu}))
    if own:
        (d / dst_name).write_bytes(gzip.compress(own, 9, mtime=0))
        (d / "destination.cpregs").write_text(cpregs_text(own, dst_name, {
            "kernel": case.destination, "qemu": f"{case.qemu} {case.machine}",
            "cpu": case.destination_cpu}))
    (d / "case.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    (d / "console.txt").write_text("\n".join(l for l in res.console.replace("\r", "").splitlines()
                                             if not re.fullmatch(r"[A-Za-z0-9+/=]{20,}", l)) + "\n")
    return Outcome(case, ok, status, rc, messages, d, src_seconds + res.seconds, info)


def _first_line(exc: CompatError) -> str:
    return exc.diagnostics[0].message.splitlines()[0] if exc.diagnostics else str(exc).splitlines()[0]


def _lab_failure(ctx: _Ctx, case: Case, exc) -> Outcome:
    """A destination guest that did not finish: recorded as verdict ``error``."""
    d = ctx.out / case.name
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob("*.cpio"):
        f.unlink()
    msgs = ["lab error: " + _first_line(exc)]
    info = {"case": case.name, "verdict": "error", "status": "none", "exit_code": None,
            "qemu_messages": msgs, "source": {"kernel": case.source, "cpu": case.source_cpu},
            "destination": {"kernel": case.destination, "cpu": case.destination_cpu},
            "qemu": {"version": case.qemu, "machine": case.machine}, "made_by": "compat lab migrate"}
    (d / "case.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    return Outcome(case, False, "none", None, msgs, d, 0.0, info)


def migrate(cases: list[Case], out: Path, *, cache: Path | None = None, qemu: str | None = None,
            timeout: float = 600, jobs: int = 2, report=print) -> list[Outcome]:
    """Run every case (sources first, shared where equal, then destinations), ``jobs`` at once."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    apt = PrivateApt(Path(cache) if cache else default_cache())
    qemu_host = boot_mod.qemu_binary(qemu)
    host_ver = boot_mod.qemu_version(qemu_host)
    need_tool("readelf")
    offered = kernels.available(apt)
    images = {}
    for abi in dict.fromkeys([c.source for c in cases] + [c.destination for c in cases]):
        k = kernels.find(apt, abi, offered)
        images[abi] = (k, kernels.extract_vmlinuz(apt, k))
    bases = {q: guest_base(apt, q) for q in dict.fromkeys(c.qemu for c in cases)}
    ctx = _Ctx(apt, images, bases, qemu_host, host_ver, timeout, out)
    work = out / ".work"
    work.mkdir(exist_ok=True)
    keys = {c: (c.source, c.qemu, c.machine, c.source_cpu) for c in cases}
    # a destination's own outgoing stream (its cpreg list) comes from a source run
    # with the destination's options: one more guest, but it runs beside the
    # source's instead of after the migration inside the destination's guest
    uniq = list(dict.fromkeys(list(keys.values()) + [
        (c.destination, c.qemu, c.machine, c.destination_cpu) for c in cases]))
    t0 = time.monotonic()
    results: list[Outcome] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            def src(key):
                c = next((c for c in cases if keys[c] == key), None) or next(
                    Case(c.destination, c.destination, c.qemu, c.machine, c.destination_cpu)
                    for c in cases if (c.destination, c.qemu, c.machine, c.destination_cpu) == key)
                w = work / f"src{uniq.index(key)}"
                w.mkdir(exist_ok=True)
                try:
                    r = source_stream(ctx, c, w)
                except CompatError as exc:
                    r = (None, 0.0, ["lab error: " + _first_line(exc)])
                size = f"stream of {len(r[0])} bytes" if r[0] else "NO stream (source QEMU failed)"
                report(f"source {key[0]} QEMU {key[1]} {key[2]} -cpu {key[3]}: {size} ({r[1]:.1f} s)")
                return r

            def dkey(c):
                key = (c.destination, c.qemu, c.machine, c.destination_cpu)
                return key if key in uniq else None

            # sources in the order the cases need them (a case's own source, then the
            # source run that gives its destination's stream); a case whose streams
            # are there goes before the next source, so results come in all along
            order = list(dict.fromkeys(k for c in cases for k in (keys[c], dkey(c)) if k))
            streams: dict = {}
            waiting = list(cases)
            running: dict = {}
            while order or waiting or running:
                while len(running) < max(1, jobs):
                    ready = next((c for c in waiting if keys[c] in streams
                                  and (dkey(c) is None or dkey(c) in streams)), None)
                    if ready is not None:
                        waiting.remove(ready)
                        own = streams[dkey(ready)][0] if dkey(ready) else None
                        running[pool.submit(run_case, ctx, ready, *streams[keys[ready]], own)] = ready
                    elif order:
                        key = order.pop(0)
                        running[pool.submit(src, key)] = key
                    else:
                        break
                if not running:
                    break
                done_now, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in done_now:
                    what = running.pop(f)
                    if isinstance(what, tuple):
                        streams[what] = f.result()
                        continue
                    try:
                        o = f.result()
                    except CompatError as exc:
                        o = _lab_failure(ctx, what, exc)
                    results.append(o)
                    first = next((m for m in o.messages if "error" in m.lower()
                                  or "could not" in m.lower() or "failed" in m.lower()), "")
                    report(f"[{len(results)}/{len(cases)}] {o.case.name}: {o.data['verdict'].upper()} "
                           f"(status {o.status}, exit {o.exit_code}) {first}".rstrip())
    finally:
        boot_mod.kill_all()
        shutil.rmtree(work, ignore_errors=True)
    report(f"{len(results)} case(s) in {time.monotonic() - t0:.1f} s -> {out}")
    return results
