"""A Debian QEMU build other than the system's, for ``compat lab collect --qemu-suite``.

``qemu-system-arm`` of the machine's own architecture is taken from a Debian
suite (``bookworm-backports`` carries QEMU 10.0 for amd64): apt resolves,
with a private configuration for that architecture and the machine's dpkg
status read (never written), what the machine lacks for it; those packages
are downloaded into the lab cache and unpacked there with ``dpkg -x``.  The
system's apt setup and installed packages are never changed.

A suite of another Debian release than the machine's (``trixie-backports``
carries QEMU 11.1 for amd64; a bookworm machine's C library is too old for
it) is taken whole instead: apt resolves ``qemu-system-arm``'s complete
dependency closure against an empty status, and the unpacked QEMU runs
through the unpacked dynamic loader (``ld-linux-*.so --library-path ...``),
so that it uses its own C library and nothing of the system's.

Running such a QEMU beside the system's own one needs care: QEMU loads its
modules (``accel-tcg-*``, ``hw-display-*``, ...) from the directory compiled
in, ``/usr/lib/<triplet>/qemu``, where the system's build keeps its own, and
aborts on a module of another build ("Only modules from the same build can
be loaded").  So the unpacked QEMU runs in a private mount namespace
(``unshare -m``, plus ``-r`` when not root) with a tmpfs over that directory
and ``QEMU_MODULE_DIR`` naming the unpacked modules.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from compat.lab.apt import SUITES, PrivateApt, progress
from compat.lab.errors import lab_error, need_tool
from compat.output import atomic_write

PACKAGE = "qemu-system-arm"
DPKG_STATUS = Path("/var/lib/dpkg/status")
#: the sh script run by unshare: a tmpfs over each directory given, then QEMU
_HIDE = 'for d do [ "$d" = -- ] && break; mount -t tmpfs compat-lab "$d" || exit 125; shift; done; shift; exec "$@"'
_INST = re.compile(r"^Inst (\S+)(?: \[[^]]*\])? \((\S+) ")


@dataclass
class DebianQemu:
    """An unpacked QEMU: how to run it, and where it came from."""

    suite: str
    version: str               # Debian version of qemu-system-arm
    tree: Path                 # where the packages are unpacked
    binary: Path
    env: dict = field(default_factory=dict)
    hidden: tuple[str, ...] = ()   # system directories a tmpfs covers
    command_prefix: tuple[str, ...] = ()
    extra_args: tuple[str, ...] = ()

    @property
    def provenance(self) -> str:
        return f"{PACKAGE} {self.version} ({self.suite}, unpacked by compat lab)"


def host_architecture() -> str:
    dpkg = need_tool("dpkg")
    out = subprocess.run([dpkg, "--print-architecture"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout.strip()
    if not out:
        raise lab_error("dpkg --print-architecture printed nothing")
    return out


def check_suite(suite: str) -> None:
    if suite not in SUITES:
        raise lab_error(f"unknown suite '{suite}' for --qemu-suite",
                        "one of: " + ", ".join(SUITES))


def system_release(os_release: Path = Path("/etc/os-release")) -> str | None:
    try:
        text = os_release.read_text()
    except OSError:
        return None
    m = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", text, re.M)
    return m.group(1) if m else None


def _apt_suites(suite: str) -> tuple[str, ...]:
    # a backports suite resolves against its base release
    base = suite.split("-")[0]
    return (base, suite) if base != suite and base in SUITES else (suite,)


def resolve(apt: PrivateApt, suite: str) -> list[tuple[str, str]]:
    """(name, version) of every package apt would install or upgrade on this
    machine for ``qemu-system-arm`` from ``suite`` (a simulation: nothing is
    installed)."""
    out = apt._run("apt-get", ["-s", "-q", "install", "--no-install-recommends",
                               "-t", suite, PACKAGE], what=f"install --simulate {PACKAGE}").stdout
    rows = [m.groups() for m in map(_INST.match, out.splitlines()) if m]
    return rows


def system_module_dirs() -> list[str]:
    """The system QEMU's module directories (``/usr/lib/<triplet>/qemu``)."""
    return sorted(d for d in glob.glob("/usr/lib/*-linux-gnu*/qemu") if os.path.isdir(d))


def hide_prefix(hidden) -> tuple[str, ...]:
    """The command prefix that runs a program with a tmpfs over ``hidden``."""
    hidden = list(hidden)
    if not hidden:
        return ()
    unshare = need_tool("unshare")
    sh = need_tool("sh")
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    return (unshare, *flags, sh, "-c", _HIDE, "compat-lab-hide", *hidden, "--")


def check_hiding(prefix, env: dict | None = None) -> None:
    """Run ``true`` under ``prefix``: a clean error if the namespace or the
    mount is refused."""
    if not prefix:
        return
    try:
        proc = subprocess.run([*prefix, "true"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise lab_error(f"cannot run unshare: {exc}") from None
    if proc.returncode != 0:
        said = proc.stdout.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise lab_error(
            "cannot hide the system QEMU's modules from the unpacked QEMU (a tmpfs over "
            f"{', '.join(prefix[prefix.index('compat-lab-hide') + 1:-1])} in a private mount "
            f"namespace): {said[0]}",
            "this needs root, or unprivileged user namespaces (unshare -r -m); "
            "without that, run the suite's QEMU where the system has no qemu-system-arm of "
            "its own (--qemu PATH)")


def fetch(suite: str, cache: Path, *, architecture: str | None = None) -> DebianQemu:
    """``qemu-system-arm`` of ``suite``, downloaded and unpacked into the lab
    cache (once), ready to run beside the system's QEMU."""
    check_suite(suite)
    arch = architecture or host_architecture()
    # the machine's own release: only what it lacks; another release: the whole closure
    own = suite.split("-")[0] == system_release()
    apt = PrivateApt(cache, suites=_apt_suites(suite), architecture=arch,
                     status=DPKG_STATUS if own else None)
    progress(f"reading {suite}'s {arch} package lists")
    apt.update()
    candidates = apt.cache_query("madison", PACKAGE)
    if not any(f" {suite}/" in line or f" {suite} " in line for line in candidates.splitlines()):
        raise lab_error(f"the archive's {suite} offers no {PACKAGE} for {arch}",
                        "bookworm-backports carries QEMU 10.0 for amd64")
    rows = resolve(apt, suite)
    version = dict(rows).get(PACKAGE)
    if version is None:
        raise lab_error(f"apt would not take {PACKAGE} from {suite} on this machine "
                        "(it is installed in that version already, or cannot be installed)",
                        "run the system's QEMU (leave out --qemu-suite)")
    mode = "beside" if own else "whole"
    tree = Path(cache) / "qemu" / f"{suite}-{arch}-{mode}-{version.replace(':', '%3a')}"
    manifest = tree / "manifest.json"
    if not manifest.exists():
        debs = apt.download([f"{n}={v}" for n, v in rows],
                            dest=Path(cache) / "qemu" / "debs")
        if tree.exists():
            shutil.rmtree(tree)
        (tree / "root").mkdir(parents=True)
        dpkg = need_tool("dpkg")
        for deb in debs:
            progress(f"unpacking {deb.name}")
            proc = subprocess.run([dpkg, "-x", str(deb), str(tree / "root")],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if proc.returncode != 0:
                raise lab_error(f"dpkg -x {deb.name} failed:", detail=proc.stdout.strip()[-500:])
        atomic_write(manifest, json.dumps({"suite": suite, "architecture": arch, "version": version,
                                           "mode": mode,
                                           "packages": [f"{n}={v}" for n, v in rows]}, indent=1) + "\n")
    return prepare(tree, suite, version, own_loader=not own)


def _loader(root: Path) -> Path | None:
    for pat in ("usr/lib64/ld-linux*.so*", "lib64/ld-linux*.so*", "usr/lib/*-linux-gnu*/ld-linux*.so*",
                "lib/*-linux-gnu*/ld-linux*.so*", "usr/lib/ld-linux*.so*", "lib/ld-linux*.so*"):
        hits = sorted(glob.glob(str(root / pat)))
        if hits:
            return Path(hits[0])
    return None


def prepare(tree: Path, suite: str, version: str, hidden=None, *,
            own_loader: bool = False) -> DebianQemu:
    root = tree / "root"
    binary = root / "usr" / "bin" / "qemu-system-aarch64"
    if not binary.is_file():
        raise lab_error(f"{PACKAGE} from {suite} has no usr/bin/qemu-system-aarch64 ({tree})")
    libdirs = [d for pat in ("usr/lib/*-linux-gnu*", "lib/*-linux-gnu*")
               for d in sorted(glob.glob(str(root / pat))) if os.path.isdir(d)]
    env = dict(os.environ)
    run_with: tuple[str, ...] = ()
    if own_loader:
        loader = _loader(root)
        if loader is None:
            raise lab_error(f"{PACKAGE} from {suite}: no dynamic loader (ld-linux*.so) among "
                            f"the unpacked packages ({tree})")
        env.pop("LD_LIBRARY_PATH", None)
        run_with = (str(loader), "--library-path", os.pathsep.join(libdirs))
    elif libdirs:
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            libdirs + [p for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p])
    modules = [d for d in libdirs if os.path.isdir(os.path.join(d, "qemu"))]
    if modules:
        env["QEMU_MODULE_DIR"] = os.path.join(modules[0], "qemu")
    hidden = tuple(system_module_dirs() if hidden is None else hidden)
    prefix = hide_prefix(hidden)
    check_hiding(prefix, env)
    data = root / "usr" / "share" / "qemu"
    extra = ("-L", str(data)) if data.is_dir() else ()
    return DebianQemu(suite, version, tree, binary, env, hidden, (*prefix, *run_with), extra)
