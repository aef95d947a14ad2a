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

import dataclasses
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from compat.core.diagnostics import CompatError
from compat.lab import boot as boot_mod
from compat.lab import hostqemu, kernels
from compat.lab.apt import PrivateApt, default_cache
from compat.lab.bundle import guest_base, qemu_bundle  # noqa: F401 - public here too
from compat.lab.cases import (K612, K616, K72, K73, PSCI11, QEMU_SUITES,  # noqa: F401
                              Case, host_label, matrix, parse_case)
from compat.lab.errors import lab_error, need_tool
from compat.lab.shard import Shard, split, write_marker
from compat.lab.runcase import (Outcome, Context, first_line, lab_failure,  # noqa: F401
                                cpregs_text, run_case, source_stream)


class LabRunner:
    """The real case runner: kernels, guest QEMUs and the host QEMU set up once
    for ``cases``; :func:`schedule` calls ``source``, ``run`` and ``failure``."""

    def __init__(self, cases: list[Case], out: Path, *, cache: Path | None, qemu: str | None,
                 qemu_suite: str | None, pauth_impdef: str, timeout: float,
                 host: hostqemu.HostQemu | None = None, inner=None):
        cache = Path(cache) if cache else default_cache()
        apt = PrivateApt(cache)
        host = host or hostqemu.resolve(qemu, qemu_suite, cache)
        if any(c.el2 for c in cases):
            from compat.lab import nested
            nested.require_nv2(host.version, host.binary, "max")
        cpu = hostqemu.tcg_cpu(host, "max", pauth_impdef, cache)
        need_tool("readelf")
        offered = kernels.available(apt)
        images = {}
        for abi in dict.fromkeys([c.source for c in cases] + [c.destination for c in cases]):
            k = kernels.find(apt, abi, offered)
            images[abi] = (k, kernels.extract_vmlinuz(apt, k))
        bases = {q: guest_base(apt, q) for q in dict.fromkeys(c.qemu for c in cases if not c.compat)}
        if inner is not None:  # --inner-qemu: a built QEMU, the same base for both settings
            from compat.lab.qemubuild.inner import inner_base
            bases.update({q: inner_base(apt, inner) for q in {c.qemu for c in cases if c.compat}})
        self.ctx = Context(apt, images, bases, host.binary, host.version, timeout, out,
                           host=host, cpu=cpu)

    def source(self, case: Case, work: Path):
        return source_stream(self.ctx, case, work)

    def run(self, case: Case, stream, seconds: float, msgs, own):
        return run_case(self.ctx, case, stream, seconds, msgs, own)

    def failure(self, case: Case, exc) -> Outcome:
        return lab_failure(self.ctx, case, exc)


def migrate(cases: list[Case], out: Path, *, cache: Path | None = None, qemu: str | None = None,
            qemu_suite: str | None = None, pauth_impdef: str = "auto", timeout: float = 600,
            jobs: int = 2, report=print, shard: Shard | None = None,
            runner=None, inner=None) -> list[Outcome]:
    """Run every case (sources first, shared where equal, then destinations), ``jobs`` at once.
    ``shard``: only this shard's cases (:mod:`compat.lab.shard`), recorded beside the
    results.  ``runner``: what runs the cases (default :class:`LabRunner`; tests
    give a fake one, whose ``host_label`` attribute, if any, stands for the host).
    ``inner``: the built QEMU (:class:`compat.lab.qemubuild.build.Built`)
    that cases with a ``compat`` setting run inside the guests.

    The host QEMU is resolved first: a case's name records it
    (:func:`compat.lab.cases.host_label`), and the names decide the shards."""
    out = Path(out)
    host = None
    if runner is None and qemu and qemu_suite:
        raise lab_error("--qemu and --qemu-suite name two QEMUs; give one")
    if runner is None and qemu_suite:
        from compat.lab import debian_qemu
        debian_qemu.check_suite(qemu_suite)
    elif runner is None:
        boot_mod.qemu_binary(qemu)  # a missing QEMU is named before the archive is asked
    if runner is None:
        host = hostqemu.resolve(qemu, qemu_suite, Path(cache) if cache else default_cache())
        label = host_label(host.short_version)
    else:
        label = getattr(runner, "host_label", "")
    cases = [c if c.host else dataclasses.replace(c, host=label) for c in cases]
    every = {c.name: c for c in cases}
    mine = [every[name] for name in split(list(every), shard)]
    out.mkdir(parents=True, exist_ok=True)
    results: list[Outcome] = []
    if mine:
        if runner is None:
            runner = LabRunner(mine, out, cache=cache, qemu=qemu, qemu_suite=qemu_suite,
                               pauth_impdef=pauth_impdef, timeout=timeout, host=host,
                               inner=inner)
        results = schedule(mine, out, runner, jobs=jobs, report=report)
    elif shard is not None:
        report(f"shard {shard}: no case of the {len(every)} falls to this shard")
    if shard is not None:
        files = [str(p.relative_to(out)) for o in results for p in sorted(o.directory.rglob("*"))
                 if p.is_file()]
        write_marker(out, shard, "lab migrate", list(every), [c.name for c in mine], files)
    return results


def schedule(cases: list[Case], out: Path, runner, *, jobs: int = 2, report=print) -> list[Outcome]:
    """Run ``cases`` with ``runner``: each distinct source run once, a case as soon
    as its streams are there, ``jobs`` at once."""
    work = out / ".work"
    work.mkdir(exist_ok=True)
    # a built QEMU's COMPAT_RULES is part of a guest run: the source hides what
    # compat's tables hide, so runs with another setting give other streams
    keys = {c: (c.source, c.qemu, c.machine, c.source_cpu, c.compat) for c in cases}
    # a destination's own outgoing stream (its cpreg list) comes from a source run
    # with the destination's options: one more guest, but it runs beside the
    # source's instead of after the migration inside the destination's guest
    uniq = list(dict.fromkeys(list(keys.values()) + [
        (c.destination, c.qemu, c.machine, c.destination_cpu, c.compat) for c in cases]))
    t0 = time.monotonic()
    results: list[Outcome] = []
    try:
        with boot_mod.boot_pool(jobs) as pool:
            def src(key):
                c = next((c for c in cases if keys[c] == key), None) or next(
                    Case(c.destination, c.destination, c.qemu, c.machine, c.destination_cpu,
                         host=c.host, compat=c.compat)
                    for c in cases if (c.destination, c.qemu, c.machine, c.destination_cpu,
                                       c.compat) == key)
                w = work / f"src{uniq.index(key)}"
                w.mkdir(exist_ok=True)
                try:
                    r = runner.source(c, w)
                except CompatError as exc:
                    r = (None, 0.0, ["lab error: " + first_line(exc)])
                size = f"stream of {len(r[0])} bytes" if r[0] else "NO stream (source QEMU failed)"
                rules = f" COMPAT_RULES={key[4]}" if key[4] else ""
                report(f"source {key[0]} QEMU {key[1]} {key[2]} -cpu {key[3]}{rules}: {size} "
                       f"({r[1]:.1f} s)")
                return r

            def dkey(c):
                key = (c.destination, c.qemu, c.machine, c.destination_cpu, c.compat)
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
                        running[pool.submit(runner.run, ready, *streams[keys[ready]], own)] = ready
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
                        o = runner.failure(what, exc)
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
