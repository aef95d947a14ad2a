"""Configure, ninja, strip, cache: one QEMU build, keyed by what went into it.

The key is sha256 over the source version, the patch series' digest and the
generated outputs' digest: a build runs only when one of them changes, and
otherwise the cached binary's path is printed.  Everything happens in a
temp directory under the cache (``.work-*``); only the stripped binary and
its ``build.json`` are renamed into ``builds/KEY/`` at the end, so a build
cut short never lands in the cache.  The work tree of a failed build is
kept (``.failed-*``, the newest one only) for its logs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from compat.core.diagnostics import COMMAND_LINE, CompatError
from compat.lab.errors import lab_error
from compat.lab.qemubuild import DEFAULT_SOURCE, source as source_mod, sysroot as sysroot_mod
from compat.lab.qemubuild import toolchain
from compat.lab.qemubuild.series import Series, apply_series
from compat.output import atomic_write

#: configure's options: a static, KVM-only qemu-system-aarch64 without the
#: firmware blobs the +ds tarball lacks (DOMAIN 6d)
CONFIGURE = ("--target-list=aarch64-softmmu", "--enable-kvm", "--disable-tcg",
             "--without-default-features", "--static", "--enable-fdt=system",
             "--disable-docs", "--disable-user", "--disable-install-blobs")
BINARY = "qemu-system-aarch64"
_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


def outputs_digest(files: dict[str, str]) -> str:
    """sha256 over compat's generated files (name and text, sorted by name)."""
    h = hashlib.sha256()
    for name in sorted(files):
        data = files[name].encode()
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def cache_key(source: str, series_digest: str, outputs_hash: str) -> str:
    """The build's directory name under ``builds/``: ``SOURCE-KEY16``."""
    h = hashlib.sha256(f"{source}\n{series_digest}\n{outputs_hash}\n".encode()).hexdigest()
    return f"{source}-{h[:16]}"


def builds_dir(cache: Path) -> Path:
    return Path(cache) / "qemu-build" / "builds"


@dataclass(frozen=True)
class Built:
    """A cached build: the binary, what made it, and whether it was there already."""

    binary: Path
    info: dict
    cached: bool


def _latest(cache: Path, source: str) -> Path:
    return builds_dir(cache) / f"latest-{source}.json"


def find_build(cache: Path, label: str, source: str = DEFAULT_SOURCE) -> Built:
    """``label``: ``build`` (the latest build of ``source``), a build's directory
    name under ``builds/`` (``10.2.2+ds-1-<key>``), or a path to any arm64
    ``qemu-system-aarch64``."""
    if "/" in label:
        path = Path(label)
        if not path.is_file():
            raise CompatError.at(COMMAND_LINE, f"--inner-qemu {label!r}: no such file")
        check_binary(path, f"--inner-qemu {label}")
        return Built(path, {"path": str(path)}, True)
    name = label
    if label == "build":
        try:
            name = json.loads(_latest(cache, source).read_text())["build"]
        except (OSError, ValueError, KeyError, TypeError):
            raise CompatError.at(COMMAND_LINE, f"--inner-qemu build: no QEMU {source} built in "
                                 f"{builds_dir(cache)}", hint="run 'compat lab qemu build' first "
                                 "(with the same --cache)") from None
    d = builds_dir(cache) / name
    if "/" in name or name.startswith(".") or not (d / "build.json").is_file():
        known = sorted(p.name for p in builds_dir(cache).glob("*") if (p / "build.json").is_file())
        raise CompatError.at(COMMAND_LINE, f"--inner-qemu {label!r}: no such build in {builds_dir(cache)}",
                             hint="builds: " + (", ".join(known) or "none") + "; or give a path")
    return Built(d / BINARY, json.loads((d / "build.json").read_text()), True)


def check_binary(path: Path, where: str) -> None:
    """An arm64 ELF executable, or an error (the guest runs it as its inner QEMU)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError as exc:
        raise CompatError.at(COMMAND_LINE, f"{where}: {exc.strerror}") from None
    if head[:4] != b"\x7fELF" or head[4] != 2 or int.from_bytes(head[18:20], "little") != 183:
        raise CompatError.at(COMMAND_LINE, f"{where}: not an arm64 (aarch64) ELF executable",
                             hint="give an arm64 qemu-system-aarch64 (static, or its libraries "
                             "are missing in the guest)")


def build(cache: Path, *, source: str, series: Series, outputs: dict[str, str], registry: str,
          jobs: int, report=print, tools: toolchain.Toolchain | None = None) -> Built:
    """The cached build for (``source``, ``series``, ``outputs``), built if absent.
    ``outputs``: compat's generated files, written to ``<tree>/compat/<file>``."""
    tools = tools or toolchain.check()
    cache = Path(cache)
    out_hash = outputs_digest(outputs)
    key = cache_key(source, series.digest, out_hash)
    dest = builds_dir(cache) / key
    if (dest / "build.json").is_file() and (dest / BINARY).is_file():
        report(f"done: nothing changed, cached {dest / BINARY}")
        _set_latest(cache, source, key)
        return Built(dest / BINARY, json.loads((dest / "build.json").read_text()), True)
    apt = source_mod.build_apt(cache)
    t0 = time.monotonic()
    dsc_dir = source_mod.download(apt, source, report)
    root = sysroot_mod.sysroot(apt, tools["pkg-config"], report)
    t_download = time.monotonic() - t0
    report(f"download: source {dsc_dir.name} and {root.name} ready ({t_download:.0f} s)")
    builds_dir(cache).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=builds_dir(cache)))
    try:
        tree = source_mod.extract(dsc_dir, work / "src", tools["dpkg-source"])
        apply_series(series, tree, lambda m: report(f"source: {m}"))
        gen = tree / "compat"
        gen.mkdir(exist_ok=True)
        for name, text in sorted(outputs.items()):
            (gen / name).write_text(text)
        report(f"source: {len(outputs)} generated file(s) in compat/ ({', '.join(sorted(outputs))})")
        t1 = time.monotonic()
        env = _env(tools, root)
        _configure(tree, work / "build", root, tools, env, report)
        t_configure = time.monotonic() - t1
        t2 = time.monotonic()
        _ninja(work / "build", jobs, env, report)
        t_build = time.monotonic() - t2
        stage = work / "out"
        stage.mkdir()
        _run([tools[f"{toolchain.CROSS}strip"], "-o", str(stage / BINARY),
              str(work / "build" / BINARY)], work, env, "strip")
        check_binary(stage / BINARY, "the built binary")
        info = {"source": source, "patches": {"directory": str(series.directory),
                                              "files": [p.name for p in series.patches],
                                              "sha256": series.digest},
                "outputs_hash": out_hash, "outputs": sorted(outputs), "registry": registry,
                "key": key, "configure": [*CONFIGURE, f"--cross-prefix={toolchain.CROSS}"],
                "meson": tools.meson, "sysroot": root.name, "bytes": (stage / BINARY).stat().st_size,
                "seconds": {"download": round(t_download, 1), "configure": round(t_configure, 1),
                            "build": round(t_build, 1)}}
        atomic_write(stage / "build.json", json.dumps(info, indent=1, sort_keys=True) + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(stage, dest)
    except BaseException:
        for old in builds_dir(cache).glob(".failed-*"):
            shutil.rmtree(old, ignore_errors=True)
        if work.exists():
            os.replace(work, work.with_name(".failed-" + key))
        raise
    shutil.rmtree(work, ignore_errors=True)
    _set_latest(cache, source, key)
    report(f"done: {dest / BINARY} ({info['bytes'] // (1 << 20)} MiB; configure "
           f"{t_configure:.0f} s, build {t_build:.0f} s)")
    return Built(dest / BINARY, info, False)


def _set_latest(cache: Path, source: str, key: str) -> None:
    atomic_write(_latest(cache, source), json.dumps({"build": key}) + "\n")


def _env(tools: toolchain.Toolchain, root: Path) -> dict:
    wrapper = root / "bin" / f"{toolchain.CROSS}pkg-config"
    return dict(os.environ, PATH=os.pathsep.join([str(root / "bin"), toolchain.search_path(tools)]),
                PKG_CONFIG=str(wrapper), LC_ALL="C")


def _run(cmd: list[str], cwd: Path, env: dict, what: str, log: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace")
    if log:
        log.write_text(proc.stdout)
    if proc.returncode != 0:
        raise lab_error(f"{what} failed (exit {proc.returncode})"
                        + (f"; the whole log: {log}" if log else "") + ":",
                        detail=tuple(proc.stdout.strip().splitlines()[-15:]))


def _configure(tree: Path, build: Path, root: Path, tools, env: dict, report) -> None:
    report("configure: cross, static, KVM-only aarch64-softmmu")
    build.mkdir()
    lib = root / "usr/lib" / sysroot_mod.TRIPLET
    cmd = [str(tree / "configure"), f"--cross-prefix={toolchain.CROSS}", *CONFIGURE,
           f"--python={tools.python}", f"--extra-cflags=-I{root / 'usr/include'}",
           # meson's find_library('fdt') (libfdt has no .pc) with prefer_static looks
           # only in the compiler's search directories (-print-search-dirs): -B adds
           # the sysroot's there (-L does not; a cross gcc ignores LIBRARY_PATH)
           f"--extra-cflags=-B{lib}/", f"--extra-ldflags=-L{lib}"]
    _run(cmd, build, env, "configure", build / "compat-configure.log")


def _ninja(build: Path, jobs: int, env: dict, report) -> None:
    """``ninja BINARY``, reporting ``build N/M`` every tenth of the way."""
    log = build / "compat-ninja.log"
    cmd = [shutil.which("ninja", path=env["PATH"]) or "ninja", "-j", str(max(1, jobs)), BINARY]
    shown = -1
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=build, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
        tail: list[str] = []
        for line in proc.stdout:
            f.write(line)
            tail = (tail + [line.rstrip()])[-15:]
            m = _NINJA_STEP.match(line)
            if m:
                n, total = int(m.group(1)), int(m.group(2))
                tenth = n * 10 // max(total, 1)
                if tenth != shown:
                    shown = tenth
                    report(f"build {n}/{total}")
        rc = proc.wait()
    if rc != 0:
        raise lab_error(f"ninja failed (exit {rc}); the whole log: {log}:",
                        detail=tuple(l for l in tail if l))
