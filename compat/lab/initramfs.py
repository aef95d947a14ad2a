"""Build a newc cpio initramfs from Debian arm64 packages, files and an init.

``build_initramfs`` is generic: a later tool passes more packages (say a
QEMU for inside the guest), more files and its own init script.  Archives
can also be concatenated (the kernel unpacks one after another):
:func:`compat.lab.boot.boot` takes a list of initrds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

from compat.lab.apt import PrivateApt, progress
from compat.lab.errors import lab_error, need_tool

#: busybox + Python 3.11 (minimal) for the collector, all arm64, from bookworm
GUEST_PACKAGES = ("busybox-static", "python3.11-minimal", "libpython3.11-minimal",
                  "libc6", "zlib1g", "libexpat1")
GUEST_SUITE = "bookworm"
COLLECTOR_PATH = "/compat/collector.py"

#: The start of every guest's /init: busybox's applets, /proc, /sys, /dev.
INIT_PROLOGUE = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/sbin /usr/bin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
"""

COLLECT_INIT = INIT_PROLOGUE + """echo "compat-guest: init reached"
/usr/bin/python3.11 -S -E {collector} --guest {args}
echo "compat-guest: collector exited $?"
poweroff -f
"""


def unpack_debs(debs, root: Path) -> None:
    """``dpkg -x`` each deb into ``root``."""
    dpkg = need_tool("dpkg")
    for deb in debs:
        proc = subprocess.run([dpkg, "-x", str(deb), str(root)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise lab_error(f"dpkg -x {Path(deb).name} failed:", detail=proc.stderr.strip())


def write_cpio(root: Path, out: Path) -> Path:
    """``cpio -o -H newc`` of everything under ``root`` (sorted, owned by root)."""
    cpio = need_tool("cpio")
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            names.append(rel)
        names += [os.path.normpath(os.path.join(rel, f)) for f in sorted(filenames)]
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as f:
        proc = subprocess.run([cpio, "-o", "-H", "newc", "-R", "0:0", "--quiet"], cwd=root,
                              input="\n".join(names).encode() + b"\n", stdout=f,
                              stderr=subprocess.PIPE)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise lab_error("cpio failed:", detail=proc.stderr.decode(errors='replace').strip())
    tmp.replace(out)
    return out


def build_initramfs(out: Path, *, apt: PrivateApt | None = None, packages=GUEST_PACKAGES,
                    suite: str | None = GUEST_SUITE, debs=(), files=None,
                    init: str | None = None) -> Path:
    """Write a newc initramfs to ``out`` holding the unpacked ``packages``
    (downloaded through ``apt`` from ``suite``, cached), extra ``debs``
    (paths), ``files`` ({guest path: host Path or bytes or str}) and ``/init``."""
    out = Path(out)
    root = out.with_name(out.name + ".root")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        all_debs = list(debs)
        if packages:
            if apt is None:
                raise ValueError("packages need an apt")
            specs = [f"{p}/{suite}" if suite else p for p in packages]
            progress(f"downloading guest packages ({', '.join(packages)})")
            all_debs = apt.download(specs) + all_debs
        unpack_debs(all_debs, root)
        for guest, content in (files or {}).items():
            dest = root / guest.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, Path):
                shutil.copy(content, dest)  # keeps the mode (executables)
            else:
                dest.write_bytes(content.encode() if isinstance(content, str) else content)
        if init is not None:
            (root / "init").write_text(init)
            (root / "init").chmod(0o755)
        return write_cpio(root, out)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def collector_initramfs(cache: Path, apt: PrivateApt, features: str, idregs: bool = False) -> Path:
    """The collector's initramfs (cached by content: collector source, init,
    features, and whether it reads the feature ID registers)."""
    from compat import collector as module
    collector = Path(module.__file__)
    args = f"--features {features}" + (" --idregs" if idregs else "")
    init = COLLECT_INIT.format(collector=COLLECTOR_PATH, args=args)
    key = hashlib.sha256(collector.read_bytes() + init.encode()
                         + ",".join(GUEST_PACKAGES).encode()).hexdigest()[:16]
    out = Path(cache) / "initramfs" / f"collect-{key}.cpio"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    progress("building the guest initramfs")
    return build_initramfs(out, apt=apt, files={COLLECTOR_PATH: collector}, init=init)
