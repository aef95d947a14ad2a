"""Which Debian arm64 kernels the archive offers, and where their image is.

Debian names a kernel by its ABI string (``6.1.0-50``, ``6.12.117+deb13``,
``7.3.4+deb13``).  Up to 6.18 ``linux-image-VER-arm64`` carries
``/boot/vmlinuz-VER-arm64``; from 6.19 the image is in
``linux-binary-VER-arm64`` (and ``linux-image-VER-arm64`` is a small package
depending on it); its path there is ``/boot/vmlinuz-VER-arm64`` in the
packages seen so far, ``/usr/lib/modules/VER-arm64/vmlinuz`` is looked for too.  The file is a
plain arm64 ``Image`` that QEMU's ``-kernel`` loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from compat.lab.apt import PrivateApt
from compat.lab.errors import lab_error

_NAME = re.compile(r"^linux-(?P<kind>image|binary)-(?P<abi>[0-9][^ ]*?)-arm64$")
_FLAVOURS = ("-cloud", "-rt", "-16k")


def release_of(abi: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", abi)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _sort_key(abi: str) -> tuple:
    return tuple(int(x) if x.isdigit() else -1 for x in re.split(r"[.+\-~a-z]+", abi) if x)


@dataclass(frozen=True)
class Kernel:
    abi: str                 # 7.3.4+deb13: what `compat lab collect` takes
    package: str             # the package holding the vmlinuz
    version: str             # the Debian package version
    suite: str               # where the archive has it

    @property
    def release(self) -> tuple[int, int]:
        return release_of(self.abi)

    @property
    def release_text(self) -> str:
        return "%d.%d" % self.release

    @property
    def vmlinuz_paths(self) -> tuple[str, ...]:
        """Where the image may be inside the package (Debian's 6.19
        ``linux-binary`` packages still carry it in /boot)."""
        return (f"boot/vmlinuz-{self.abi}-arm64", f"usr/lib/modules/{self.abi}-arm64/vmlinuz")


def package_for(abi: str) -> str:
    kind = "binary" if release_of(abi) >= (6, 19) else "image"
    return f"linux-{kind}-{abi}-arm64"


def available(apt: PrivateApt) -> list[Kernel]:
    """Every arm64 kernel (generic flavour) the archive offers, oldest first."""
    apt.update()
    names = []
    for line in apt.cache_query("pkgnames", "linux-").splitlines():
        m = _NAME.match(line.strip())
        if not m or any(m.group("abi").endswith(f) for f in _FLAVOURS):
            continue
        if line.strip() == package_for(m.group("abi")):
            names.append(line.strip())
    if not names:
        return []
    out: dict[str, Kernel] = {}
    for line in apt.cache_query("madison", *names).splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 3:
            continue
        m = _NAME.match(parts[0])
        if not m or m.group("abi") in out:
            continue
        words = parts[2].split()
        suite = words[1].split("/")[0] if len(words) > 1 else "?"
        out[m.group("abi")] = Kernel(m.group("abi"), parts[0], parts[1], suite)
    return [out[a] for a in sorted(out, key=_sort_key)]


def find(apt: PrivateApt, abi: str, kernels: list[Kernel] | None = None) -> Kernel:
    """The kernel ``abi``, or an error listing the nearest the archive has."""
    kernels = available(apt) if kernels is None else kernels
    for k in kernels:
        if k.abi == abi:
            return k
    want = release_of(abi)
    same = [k.abi for k in kernels if k.release == want]
    if not same:
        ranked = sorted(kernels, key=lambda k: abs((k.release[0] * 100 + k.release[1])
                                                    - (want[0] * 100 + want[1])))
        same = sorted({k.abi for k in ranked[:4]}, key=_sort_key)
    hint = ("nearest: " + ", ".join(same)) if same else "the archive offers no arm64 kernel"
    raise lab_error(f"no Debian arm64 kernel '{abi}' in the archive",
                    hint + "; 'compat lab kernels' lists them all")


def extract_vmlinuz(apt: PrivateApt, kernel: Kernel) -> Path:
    """Download the kernel's package (cached) and unpack its image; the path."""
    import subprocess
    from compat.lab.errors import need_tool
    dest = apt.cache / "kernels" / f"{kernel.abi}_{kernel.version}"
    image = dest / "vmlinuz"
    if image.exists():
        return image
    deb = apt.download([f"{kernel.package}={kernel.version}"])[0]
    tmp = dest.with_name(dest.name + ".tmp")
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dpkg = need_tool("dpkg-deb")
    proc = subprocess.run([dpkg, "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise lab_error(f"dpkg-deb could not read {deb}:",
                        detail=proc.stderr.decode(errors='replace').strip())
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        members = {m.name.lstrip("./"): m for m in tar.getmembers() if m.isfile()}
        member = next((members[p] for p in kernel.vmlinuz_paths if p in members), None)
        if member is None:
            raise lab_error(f"{deb.name} has no kernel image ({' or '.join(kernel.vmlinuz_paths)})")
        data = tar.extractfile(member).read()
    (tmp / "vmlinuz").write_bytes(data)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return image
