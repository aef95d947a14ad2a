"""The guest's QEMU: an arm64 ``qemu-system-aarch64`` from a Debian suite, its
library closure and busybox, unpacked and cached; the base initramfs built
from them (see :mod:`compat.lab.guest` for what it runs)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

from compat.lab import guest, initramfs
from compat.lab.apt import PrivateApt, progress
from compat.lab.cases import QEMU_SUITES
from compat.lab.errors import lab_error, need_tool
from compat.lab.guest import GUEST_INIT, GUEST_RAM
from compat.output import atomic_write

#: packages never needed inside the guest (firmware, data, systemd)
_SKIP = re.compile(r"^(qemu-system-(data|common|gui)|ipxe-qemu|seabios|systemd.*|opensysusers|"
                   r"sysuser-helper|libc-gconv-modules-extra|gcc-\d+-base|.*-modules(-db)?)$")
_LIB_DIRS = ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib")


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
    try:
        info = json.loads(manifest.read_text())
        return {g: root / "tree" / real for g, real in info["files"].items()}, info["provenance"]
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        pass  # absent, or not whole (written by an older compat): build it again
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
    # written last, whole (temp + rename): its presence says the tree is complete
    atomic_write(manifest, json.dumps({"files": files, "provenance": prov}, indent=1))
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
    return initramfs.build_initramfs(out, files=dict(files), init=guest.init_text(),
                                     packages=()), prov
