"""``compat lab collect``: real register lists of Debian arm64 kernels under QEMU.

For each kernel: download its package (cached), take its ``vmlinuz``, boot
it with the collector's initramfs under QEMU TCG with EL2 emulated (so KVM
runs inside the guest), read the list between the collector's markers on the
console, and write ``<host>-linux-<abi>.reglist`` with provenance headers.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from compat import collector
from compat.lab import boot as boot_mod
from compat.lab import grammar, initramfs, kernels
from compat.lab.apt import PrivateApt, default_cache, progress
from compat.lab.errors import lab_error
from compat.output import write_file

DEFAULT_FEATURES = "psci-0.2,pmu-v3"
_INDEX = re.compile(r"^0x[0-9a-f]{16}$")


@dataclass
class Collected:
    kernel: kernels.Kernel
    path: Path
    entries: int
    seconds: float


def default_host(qemu_version: str, cpu: str) -> str:
    m = re.match(r"(\d+)\.(\d+)", qemu_version)
    short = f"{m.group(1)}.{m.group(2)}" if m else qemu_version.split()[0]
    return f"qemu{short}-{cpu}"


def parse_console(console: str, *, where: str, tail: str, seconds: float,
                  timed_out: bool, timeout: float) -> tuple[list[str], list[int]]:
    """The header lines and indices the collector printed, or a clear error."""
    text = console.replace("\r", "")
    lines = text.splitlines()
    errors = [l for l in lines if l.startswith("compat-collector: ")]
    if errors:
        raise lab_error(f"{where}: the collector failed in the guest:", detail=tuple(errors))
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


def collect_one(kernel: kernels.Kernel, vmlinuz: Path, initrd: Path, out_dir: Path, *,
                qemu: str, qemu_ver: str, cpu: str, host: str, timeout: float,
                env: dict | None = None, command_prefix=(),
                extra_headers: dict | None = None, extra_args=()) -> Collected:
    where = f"linux {kernel.abi}"
    progress(f"booting {kernel.abi} (QEMU {qemu_ver}, -cpu {cpu})")
    result = boot_mod.boot(vmlinuz, initrd, qemu=qemu, cpu=cpu, timeout=timeout,
                           stop_marker=collector.END, env=env, command_prefix=command_prefix,
                           extra_args=extra_args)
    headers, indices = parse_console(result.console, where=where, tail=result.tail(),
                                     seconds=result.seconds, timed_out=result.timed_out,
                                     timeout=timeout)
    got = dict(h[2:].split(": ", 1) for h in headers if ": " in h)
    text = collector.format_list(
        indices, kernel=got.get("kernel", f"{kernel.abi}-arm64"),
        host=f"{host} (QEMU {qemu_ver.split()[0]} TCG -cpu {cpu}, virt with EL2)",
        cpu=got.get("cpu"), features=got.get("vcpu-features", "").split(","),
        extra={"debian-package": f"{kernel.package} {kernel.version} ({kernel.suite})",
               "qemu": qemu_ver, **(extra_headers or {}), "qemu-cpu": cpu,
               "collected-by": "compat lab collect (compat/collector.py in the guest)"})
    out = Path(out_dir) / f"{host}-linux-{kernel.abi}.reglist"
    write_file(out, text)
    progress(f"{kernel.abi}: {len(indices)} entries in {result.seconds:.1f} s -> {out}")
    return Collected(kernel, out, len(indices), result.seconds)


def collect(versions, out_dir: Path, *, cpu: str = "max", qemu: str | None = None,
            features: str = DEFAULT_FEATURES, host: str | None = None,
            cache: Path | None = None, timeout: float = 300, jobs: int = 2,
            env: dict | None = None, command_prefix=(),
            qemu_suite: str | None = None) -> list[Collected]:
    """Collect the list of each kernel ``versions`` (Debian ABI strings).
    ``qemu_suite``: run ``qemu-system-arm`` of that Debian suite (downloaded
    and unpacked into the cache, see :mod:`compat.lab.debian_qemu`) instead
    of the system's."""
    # --host names the output files and --cpu goes into it and the header
    if host is not None:
        grammar.check("host", host, "--host")
    grammar.check("cpu", cpu, "--cpu")
    out_dir = Path(out_dir)
    cache = Path(cache) if cache else default_cache()
    apt = PrivateApt(cache)
    extra: dict = {}
    extra_args: tuple = ()
    if qemu_suite:
        if qemu:
            raise lab_error("--qemu and --qemu-suite name two QEMUs; give one")
        from compat.lab import debian_qemu
        debian_qemu.check_suite(qemu_suite)
        dq = debian_qemu.fetch(qemu_suite, cache)
        qemu, env, command_prefix = str(dq.binary), dq.env, dq.command_prefix
        extra_args = dq.extra_args
        extra["qemu-package"] = dq.provenance
    out_dir.mkdir(parents=True, exist_ok=True)
    qemu_path = boot_mod.qemu_binary(qemu)
    qemu_ver = boot_mod.qemu_version(qemu_path, env=env, command_prefix=command_prefix)
    host = host or default_host(qemu_ver, cpu)
    feats = ",".join(collector.parse_features(features)) or "none"
    progress("reading the archive's kernel list")
    offered = kernels.available(apt)
    wanted = [kernels.find(apt, v, offered) for v in versions]
    images = []
    for k in wanted:
        progress(f"downloading {k.package} {k.version}")
        images.append(kernels.extract_vmlinuz(apt, k))
    initrd = initramfs.collector_initramfs(cache, apt, feats)
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(collect_one, k, img, initrd, out_dir, qemu=qemu_path,
                                   qemu_ver=qemu_ver, cpu=cpu, host=host, timeout=timeout,
                                   env=env, command_prefix=command_prefix,
                                   extra_headers=extra, extra_args=extra_args)
                       for k, img in zip(wanted, images)]
            return [f.result() for f in futures]
    finally:
        boot_mod.kill_all()
