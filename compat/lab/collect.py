"""``compat lab collect``: real register lists of Debian arm64 kernels under QEMU.

For each kernel: download its package (cached), take its ``vmlinuz``, boot
it with the collector's initramfs under QEMU TCG with EL2 emulated (so KVM
runs inside the guest), read the list between the collector's markers on the
console, and write ``<host>-linux-<abi>.reglist`` with provenance headers
and, beside it, ``<host>-linux-<abi>.idregs``: the values and writable masks
of the feature ID registers (format ``compat-idregs 1``, docs/lab.md).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from compat import collector
from compat.lab import boot as boot_mod
from compat.lab import grammar, hostqemu, initramfs, kernels, nested
from compat.lab.apt import PrivateApt, default_cache, progress
from compat.lab.errors import lab_error
from compat.lab.shard import Shard, split, write_marker
from compat.output import write_files

DEFAULT_FEATURES = "psci-0.2,pmu-v3"
_INDEX = re.compile(r"^0x[0-9a-f]{16}$")
_IDROW = re.compile(r"^(0x[0-9a-f]{16}) (0x[0-9a-f]{16}) (0x[0-9a-f]{16}|-)$")


@dataclass
class Collected:
    kernel: kernels.Kernel
    path: Path
    entries: int
    seconds: float
    idregs: Path | None = None


def parse_console(console: str, *, where: str, tail: str, seconds: float,
                  timed_out: bool, timeout: float, notes=()) -> tuple[list[str], list[int]]:
    """The header lines and indices the collector printed, or a clear error
    (a collector's error quoted with ``notes``: the kernel's own words)."""
    text = console.replace("\r", "")
    lines = text.splitlines()
    errors = [l for l in lines if l.startswith("compat-collector: ")]
    if errors:
        raise lab_error(f"{where}: the collector failed in the guest:",
                        detail=tuple(errors) + tuple(notes))
    try:
        begin = lines.index(collector.BEGIN)
    except ValueError:
        if timed_out:
            raise lab_error(f"{where}: timed out after {timeout:g} s before the guest printed "
                            "its register list; last console lines:",
                            "raise --timeout, or check the kernel boots (see above)",
                            detail=tail) from None
        reached = any("compat-guest: init reached" in l for l in lines)
        what = ("the guest reached its init but the collector printed no list"
                if reached else "the guest never reached the collector")
        raise lab_error(f"{where}: {what} (QEMU ran {seconds:.1f} s); last console lines:",
                        detail=tail) from None
    headers, indices, count = [], [], None
    for line in lines[begin + 1:]:
        line = line.strip()
        if line.startswith(collector.END):
            count = int(re.findall(r"\d+", line[len(collector.END):])[0])
            break
        if _INDEX.match(line):
            indices.append(int(line, 16))
        elif line.startswith("# "):
            headers.append(line)
    if count is None or count != len(indices):
        raise lab_error(f"{where}: the register list on the console is incomplete "
                        f"({len(indices)} indices read, {count} announced); last console "
                        "lines:", "console output may have been interleaved; retry", detail=tail)
    return headers, indices


def parse_idregs(console: str, *, where: str, tail: str, indices) -> tuple[str, list]:
    """The ``# writable-masks:`` note and the ``(index, value, mask or None)``
    rows the collector printed before the list, or a clear error.  The rows
    must be exactly the listed registers of the feature ID space."""
    lines = console.replace("\r", "").splitlines()
    try:
        begin = lines.index(collector.ID_BEGIN)
    except ValueError:
        raise lab_error(f"{where}: the collector printed no ID registers; last console lines:",
                        detail=tail) from None
    note, rows, count = None, [], None
    for line in lines[begin + 1:]:
        line = line.strip()
        if line.startswith(collector.ID_END):
            count = int((re.findall(r"\d+", line[len(collector.ID_END):]) or ["-1"])[0])
            break
        m = _IDROW.match(line)
        if m:
            rows.append((int(m.group(1), 16), int(m.group(2), 16),
                         None if m.group(3) == "-" else int(m.group(3), 16)))
        elif line.startswith("# writable-masks: "):
            note = line[len("# writable-masks: "):]
    if count is None or count != len(rows) or note is None:
        raise lab_error(f"{where}: the ID registers on the console are incomplete "
                        f"({len(rows)} read, {count} announced); last console lines:",
                        "console output may have been interleaved; retry", detail=tail)
    listed = {i for i in indices if collector.is_feature_id(i)}
    got = {r[0] for r in rows}
    if got != listed:
        odd = sorted(got ^ listed)
        raise lab_error(f"{where}: the ID registers read are not the listed ones of the feature "
                        f"ID space ({len(odd)} differ, e.g. 0x{odd[0]:016x})")
    return note, rows


def collect_one(kernel: kernels.Kernel, vmlinuz: Path, initrd: Path, out_dir: Path, *,
                host: hostqemu.HostQemu, cpu: str, name: str, timeout: float,
                idregs: bool = True, features=()) -> Collected:
    """Boot one kernel under ``host`` with ``-cpu cpu`` and write its list as
    ``<name>-linux-<abi>.reglist`` in ``out_dir`` (and, with ``idregs``, the
    ID registers as ``<name>-linux-<abi>.idregs``: the initramfs must be the
    collector's with ``--idregs``).  ``features`` with ``el2``: the kernel
    boots with ``kvm-arm.mode=nested`` (:mod:`compat.lab.nested`)."""
    where = f"linux {kernel.abi}"
    append = nested.append(boot_mod.DEFAULT_APPEND, features)
    progress(f"booting {kernel.abi} (QEMU {host.version}, -cpu {cpu})")
    result = boot_mod.boot(vmlinuz, initrd, cpu=cpu, timeout=timeout, append=append,
                           stop_marker=collector.END, **host.boot_kwargs())
    el2 = nested.wants_el2(features)
    mode = nested.kernel_mode(result.console) if el2 else None
    headers, indices = parse_console(result.console, where=where, tail=result.tail(),
                                     seconds=result.seconds, timed_out=result.timed_out,
                                     timeout=timeout,
                                     notes=[f"kernel (booted with {nested.MODE_OPTION}): {l}"
                                            for l in nested.kvm_messages(result.console)]
                                     if el2 else ())
    ids = (parse_idregs(result.console, where=where, tail=result.tail(), indices=indices)
           if idregs else None)
    got = dict(h[2:].split(": ", 1) for h in headers if ": " in h)
    provenance = dict(
        kernel=got.get("kernel", f"{kernel.abi}-arm64"),
        host=f"{name} (QEMU {host.version.split()[0]} TCG -cpu {cpu}, virt with EL2)",
        cpu=got.get("cpu"), features=got.get("vcpu-features", "").split(","),
        extra={"debian-package": f"{kernel.package} {kernel.version} ({kernel.suite})",
               "qemu": host.version, **host.headers, "qemu-cpu": cpu,
               **({"kernel-command-line": append, "kvm-mode": mode} if el2 else {}),
               "collected-by": "compat lab collect (compat/collector.py in the guest)"})
    out = Path(out_dir) / f"{name}-linux-{kernel.abi}.reglist"
    files = {out.name: collector.format_list(indices, **provenance)}
    id_path = None
    if ids is not None:
        id_path = out.with_suffix(".idregs")
        files[id_path.name] = collector.format_idregs(ids[1], masks_note=ids[0], **provenance)
    write_files(Path(out_dir), files)
    progress(f"{kernel.abi}: {len(indices)} entries"
             + (f", {len(ids[1])} ID registers" if ids else "")
             + f" in {result.seconds:.1f} s -> {out}")
    return Collected(kernel, out, len(indices), result.seconds, id_path)


def collect(versions, out_dir: Path, *, cpu: str = "max", qemu: str | None = None,
            features: str = DEFAULT_FEATURES, host: str | None = None,
            cache: Path | None = None, timeout: float = 300, jobs: int = 2,
            qemu_suite: str | None = None, pauth_impdef: str = "auto",
            shard: Shard | None = None, idregs: bool = True) -> list[Collected]:
    """Collect the list of each kernel ``versions`` (Debian ABI strings).
    ``qemu_suite``: run ``qemu-system-arm`` of that Debian suite (downloaded
    and unpacked into the cache, see :mod:`compat.lab.debian_qemu`) instead
    of the system's.  ``pauth_impdef`` (auto, on, off): see
    :func:`compat.lab.hostqemu.tcg_cpu`.  ``shard``: only this shard's
    kernels (:mod:`compat.lab.shard`), recorded beside the lists.
    ``idregs``: also write each kernel's ``.idregs`` (default)."""
    # --host names the output files and --cpu goes into it and the header
    if host is not None:
        grammar.check("host", host, "--host")
    grammar.check("cpu", cpu, "--cpu")
    out_dir = Path(out_dir)
    cache = Path(cache) if cache else default_cache()
    apt = PrivateApt(cache)
    if qemu and qemu_suite:
        raise lab_error("--qemu and --qemu-suite name two QEMUs; give one")
    if qemu_suite:
        from compat.lab import debian_qemu
        debian_qemu.check_suite(qemu_suite)
    else:
        boot_mod.qemu_binary(qemu)  # a missing QEMU is named before the archive is asked
    feats = ",".join(collector.parse_features(features)) or "none"
    resolved = _nested_host(feats, qemu, qemu_suite, cache, cpu)
    progress("reading the archive's kernel list")
    offered = kernels.available(apt)
    every = {k.abi: k for k in (kernels.find(apt, v, offered) for v in versions)}
    wanted = [every[abi] for abi in split(every, shard)]
    out_dir.mkdir(parents=True, exist_ok=True)
    done: list[Collected] = []
    if wanted:
        done = _boot_all(wanted, out_dir, apt=apt, cache=cache, cpu=cpu, qemu=qemu,
                         qemu_suite=qemu_suite, pauth_impdef=pauth_impdef, feats=feats,
                         host=host, timeout=timeout, jobs=jobs, idregs=idregs,
                         resolved=resolved)
    elif shard is not None:
        progress(f"shard {shard}: no kernel of the {len(every)} falls to this shard")
    if shard is not None:
        write_marker(out_dir, shard, "lab collect", list(every), [k.abi for k in wanted],
                     [p.name for c in done for p in (c.path, c.idregs) if p is not None])
    return done


def _nested_host(feats: str, qemu, qemu_suite, cache, cpu) -> hostqemu.HostQemu | None:
    """For vCPUs with EL2: the host QEMU, resolved now and refused unless it
    emulates FEAT_NV2, before the archive is asked or a kernel downloaded."""
    if not nested.wants_el2(feats.split(",")):
        return None
    hq = hostqemu.resolve(qemu, qemu_suite, cache)
    nested.require_nv2(hq.version, hq.binary, cpu)
    return hq


def _boot_all(wanted, out_dir: Path, *, apt, cache, cpu, qemu, qemu_suite, pauth_impdef,
              feats, host, timeout, jobs, idregs, resolved=None) -> list[Collected]:
    hq = resolved or hostqemu.resolve(qemu, qemu_suite, cache)
    features = feats.split(",")
    run_cpu = hostqemu.tcg_cpu(hq, cpu, pauth_impdef, cache)
    name = host or hostqemu.host_name(hq, cpu) + ("-el2" if nested.wants_el2(features) else "")
    images = []
    for k in wanted:
        progress(f"downloading {k.package} {k.version}")
        images.append(kernels.extract_vmlinuz(apt, k))
    initrd = initramfs.collector_initramfs(cache, apt, feats, idregs)
    try:
        with boot_mod.boot_pool(jobs) as pool:
            futures = [pool.submit(collect_one, k, img, initrd, out_dir, host=hq, cpu=run_cpu,
                                   name=name, timeout=timeout, idregs=idregs,
                                   features=features)
                       for k, img in zip(wanted, images)]
            return [f.result() for f in futures]
    finally:
        boot_mod.kill_all()
