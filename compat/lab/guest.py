"""What runs inside a ``compat lab migrate`` guest: its /init (the inner QEMU's
source or destination run), the per-case script beside it, and reading what
the guest prints on the console (markers, verdict, streams, time stamps)."""

from __future__ import annotations

import base64
import gzip
import re
import shlex
from pathlib import Path

from compat.lab import initramfs
from compat.lab.cases import Case

#: 11.1 has the merged cpreg tolerances and their trace events
TRACE_EVENTS = ("tolerate_cpreg_*", "cpu_post_load")
#: RAM of the inner VM (MiB): the source QEMU reads every page of it when it migrates,
#: which under TCG is most of a source guest's time (64 MiB: ~85 s on a busy 2-core host)
GUEST_RAM = 16
BEGIN, END = "=====COMPAT-STREAM-BEGIN", "=====COMPAT-STREAM-END"
SELF_BEGIN, SELF_END = "=====COMPAT-SELF-BEGIN", "=====COMPAT-SELF-END"
VERDICT = "compat-migrate: verdict"
DONE = "compat-migrate: done"

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
    if grep -q "migration blocked" /tmp/src.out 2>/dev/null; then break; fi
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
  # a migration blocker: QEMU's reason, on the lines after its "... migration blocked:"
  # (repeated by every 'info migrate': each line once)
  tr -d '\r' < /tmp/src.out | grep -a -A 4 "migration blocked" | grep -av "^(qemu)\|^--$" | sed 's/^ *//' | awk '!seen[$0]++' | sed 's/^/compat-migrate: source monitor: /'
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


def init_text() -> str:
    """The guest's /init: :data:`GUEST_INIT` with the markers and the RAM size filled in."""
    return GUEST_INIT.replace("$BEGIN", BEGIN).replace("$END", END) \
        .replace("$SELF_BEGIN", SELF_BEGIN).replace("$SELF_END", SELF_END) \
        .replace("$VERDICT", VERDICT).replace("$DONE", DONE).replace("$GUEST_RAM", str(GUEST_RAM))


def case_script(mode: str, machine: str, cpu: str, trace: str, self_stream: bool,
                guard: float) -> str:
    """``/compat/case.sh``, which the guest's /init sources: every value quoted
    for the shell (``shlex.quote``), whatever the case's grammar let through."""
    values = {"MODE": mode, "MACHINE": machine, "CPU": cpu, "TRACE": trace,
              "SELF": "1" if self_stream else "0", "GUARD": str(int(guard))}
    return "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())


def case_cpio(work: Path, mode: str, case: Case, cpu: str, stream: bytes | None,
              self_stream: bool = True, guard: float = 150) -> Path:
    trace = " ".join(f"-trace {t}" for t in TRACE_EVENTS) if case.qemu != "10.0" else ""
    script = case_script(mode, case.machine, cpu, trace, self_stream, guard)
    files = {"/compat/case.sh": script}
    if stream is not None:
        files["/compat/in.stream"] = stream
    out = work / f"{mode}.cpio"
    return initramfs.build_initramfs(out, files=files, packages=())


def streams(console: str, begin: str, end: str) -> bytes | None:
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


def lines(console: str, prefix: str) -> list[str]:
    return [l[len(prefix):].rstrip() for l in console.replace("\r", "").splitlines()
            if l.startswith(prefix)]


def stamps(lines: list[str]) -> dict[str, float]:
    """{phase: guest uptime} from the guest's ``t=SECONDS PHASE`` lines."""
    out = {}
    for line in lines:
        m = re.fullmatch(r"t=([0-9.]+) (\S+)", line.strip())
        if m:
            out[m.group(2)] = float(m.group(1))
    return out

