"""Configure, ninja, strip, cache: one QEMU build, keyed by what went into it.

The key is sha256 over the source version, the patch series' digest and the
generated outputs' digest: a build runs only when one of them changes, and
otherwise the cached binary's path is printed.  The source tree and
ninja's build directory live in ``trees/SOURCE-SYSROOT/``, kept between
builds: each build extracts the source afresh (``.fresh``), applies the
series, writes compat's files and copies over only the files that differ,
so ninja recompiles what a changed patch or output touches (a build with a
new series took minutes instead of the first build's quarter hour).  Only
the stripped binary and its ``build.json`` land in ``builds/KEY/``, staged
and renamed at the end, so a build cut short never lands in the cache.
"""

from __future__ import annotations

import fcntl
import filecmp
import hashlib
import json
import os
import re
import shutil
import signal
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
    env = _env(tools, root)
    tree = trees_dir(cache) / f"{source}-{root.name.removeprefix('sysroot-')}"
    tree.mkdir(parents=True, exist_ok=True)
    with open(tree / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # one build at a time in a tree
        fresh = tree / ".fresh"
        shutil.rmtree(fresh, ignore_errors=True)
        source_mod.extract(dsc_dir, fresh, tools["dpkg-source"])
        apply_series(series, fresh, lambda m: report(f"source: {m}"))
        gen = fresh / "compat"
        gen.mkdir(exist_ok=True)
        for name, text in sorted(outputs.items()):
            (gen / name).write_text(text)
        if (tree / "src").exists():
            changed = sync_tree(fresh, tree / "src")
            shutil.rmtree(fresh, ignore_errors=True)
        else:
            changed = sum(len(f) for _, _, f in os.walk(fresh))
            os.replace(fresh, tree / "src")
        report(f"source: {len(outputs)} generated file(s) in compat/ ({', '.join(sorted(outputs))}); "
               f"{changed} file(s) differ from the tree's last build")
        t1 = time.monotonic()
        if not (tree / "build" / "build.ninja").exists():
            shutil.rmtree(tree / "build", ignore_errors=True)
            try:
                _configure(tree / "src", tree / "build", root, tools, env, report)
            except BaseException:
                shutil.rmtree(tree / "build", ignore_errors=True)   # configure again next time
                raise
        else:
            report("configure: done before (ninja reconfigures when a meson.build changed)")
        t_configure = time.monotonic() - t1
        t2 = time.monotonic()
        _ninja(tree / "build", jobs, env, report)
        t_build = time.monotonic() - t2
        stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=builds_dir(cache)))
        try:
            _run([tools[f"{toolchain.CROSS}strip"], "-o", str(stage / BINARY),
                  str(tree / "build" / BINARY)], stage, env, "strip")
            check_binary(stage / BINARY, "the built binary")
            info = {"source": source, "patches": {"directory": series.name,
                                                  "files": [p.name for p in series.patches],
                                                  "sha256": series.digest},
                    "outputs_hash": out_hash, "outputs": sorted(outputs), "registry": registry,
                    "key": key, "configure": [*CONFIGURE, f"--cross-prefix={toolchain.CROSS}"],
                    "meson": tools.meson, "sysroot": root.name,
                    "bytes": (stage / BINARY).stat().st_size,
                    "seconds": {"download": round(t_download, 1), "configure": round(t_configure, 1),
                                "build": round(t_build, 1)}}
            atomic_write(stage / "build.json", json.dumps(info, indent=1, sort_keys=True) + "\n")
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(stage, dest)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    _set_latest(cache, source, key)
    report(f"done: {dest / BINARY} ({info['bytes'] // (1 << 20)} MiB; configure "
           f"{t_configure:.0f} s, build {t_build:.0f} s)")
    return Built(dest / BINARY, info, False)


def trees_dir(cache: Path) -> Path:
    return Path(cache) / "qemu-build" / "trees"


def _same(a: Path, b: Path) -> bool:
    if a.is_symlink() or b.is_symlink():
        return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
    if (a.stat().st_mode & 0o111) != (b.stat().st_mode & 0o111):
        return False
    return filecmp.cmp(a, b, shallow=False)


def sync_tree(fresh: Path, tree: Path) -> int:
    """Make ``tree`` hold exactly ``fresh``'s files, touching only the files that
    differ (their modification time then says to ninja what to rebuild): the
    number of files copied or removed."""
    changed = 0
    tree.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(fresh):
        rel = Path(dirpath).relative_to(fresh)
        here = tree / rel
        if here.is_symlink() or (here.exists() and not here.is_dir()):
            here.unlink()
        here.mkdir(exist_ok=True)
        wanted = set(dirnames) | set(filenames)
        for old in sorted(os.listdir(here)):
            if old not in wanted:
                p = here / old
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
                changed += 1
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            src, dst = Path(dirpath) / name, here / name
            if dst.is_dir() and not dst.is_symlink():
                shutil.rmtree(dst)
            elif os.path.lexists(dst) and _same(src, dst):
                continue
            if os.path.lexists(dst):
                dst.unlink()
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy2(src, dst)
                os.utime(dst)          # newer than every object built before
            changed += 1
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
    return changed


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
                                stderr=subprocess.STDOUT, text=True, errors="replace",
                                start_new_session=True)
        tail: list[str] = []
        try:
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
        except BaseException:
            # interrupted: ninja and the compilers it started go too (their own group)
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
    if rc != 0:
        raise lab_error(f"ninja failed (exit {rc}); the whole log: {log}:",
                        detail=tuple(l for l in tail if l))
