"""A built (or any) arm64 ``qemu-system-aarch64`` as ``lab migrate``'s inner QEMU.

``--inner-qemu LABEL|PATH`` names the binary (:func:`compat.lab.qemubuild.build.find_build`);
the guest's base initramfs then holds busybox and that binary alone: a
static QEMU needs no library closure.  ``--compat on,off,...`` sets
``COMPAT_RULES`` (read by the patch series' glue: :data:`SETTINGS`) for
the inner QEMU on both ends of a case, so control and treatment run the
same binary; the case's name and ``case.json`` say which.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

from compat.core.diagnostics import COMMAND_LINE, CompatError
from compat.lab import guest, initramfs
from compat.lab.apt import PrivateApt, progress
from compat.lab.cases import Case
from compat.lab.guest import GUEST_INIT, GUEST_RAM
from compat.lab.qemubuild.build import Built

#: COMPAT_RULES values the patch series' glue reads: on (compat's tables and
#: tolerances), tables, tolerances, stock (the tolerances QEMU 11.1 ships), off
SETTINGS = ("off", "on", "tables", "tolerances", "stock")


def compat_settings(text: str) -> tuple[str, ...]:
    """``--compat``: a comma list of :data:`SETTINGS` (``both`` = ``off,on``), in order."""
    words = [w for w in text.replace("both", "off,on").split(",") if w]
    bad = [w for w in words if w not in SETTINGS]
    if bad or not words:
        raise CompatError.at(COMMAND_LINE, f"--compat {text!r}: not a list of "
                             + ", ".join(SETTINGS), hint="e.g. --compat off,on or --compat both")
    return tuple(dict.fromkeys(words))

def label(built: Built) -> str:
    """The QEMU field of a build's cases: the upstream version of its source
    (``10.2.2+ds-1`` -> ``10.2.2``), ``inner`` for a binary of unknown origin."""
    source = built.info.get("source")
    return source.split(":", 1)[-1].split("+")[0].split("-")[0] if source else "inner"


def provenance(built: Built) -> dict:
    """What ``case.json`` records under ``qemu``: the build (source, patch series,
    outputs hash, registry) or the binary's path and digest."""
    digest = hashlib.sha256(built.binary.read_bytes()).hexdigest()
    if "source" not in built.info:
        return {"binary": {"path": str(built.binary), "sha256": digest}}
    i = built.info
    patches = dict(i["patches"])
    # a build.json of an older compat named the project's series by its path here
    head, sep, tail = patches["directory"].partition("/compat/data/qemu-patches/")
    if sep:
        patches["directory"] = "compat/data/qemu-patches/" + tail
    return {"build": {"source": i["source"], "patches": patches, "outputs_hash": i["outputs_hash"],
                      "outputs": i.get("outputs", []), "registry": i["registry"], "key": i["key"],
                      "sha256": digest}}


def inner_cases(cases: list[Case], texts: list[str], built: Built, compat: str) -> list[Case]:
    """``cases`` run with ``built``: each once per COMPAT_RULES setting of ``compat``
    (:func:`compat_settings`).
    A CASE naming a QEMU version of its own (not ``-``) is refused: the inner QEMU is
    the build."""
    for text in texts:
        parts = text.split(":")
        if len(parts) > 2 and parts[2] not in ("", "-"):
            raise CompatError.at(COMMAND_LINE, f"CASE {text!r}: QEMU {parts[2]!r} with --inner-qemu",
                                 hint="write '-' for the QEMU field: --inner-qemu names the QEMU")
    name = label(built)
    return [dataclasses.replace(c, qemu=name, compat=setting)
            for c in cases for setting in compat_settings(compat)]


def inner_base(apt: PrivateApt, built: Built) -> tuple[Path, dict]:
    """The cached base initramfs: busybox (bookworm's busybox-static), ``built``'s
    binary as /usr/bin/qemu-system-aarch64, the migrate guest's /init."""
    prov = provenance(built)
    key = hashlib.sha256(GUEST_INIT.encode() + str(GUEST_RAM).encode()
                         + repr(sorted(prov.items())).encode()).hexdigest()[:16]
    out = apt.cache / "initramfs" / f"migrate-inner-{key}.cpio"
    if out.exists():
        return out, prov
    out.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building the guest initramfs (inner QEMU {built.binary})")
    return initramfs.build_initramfs(out, apt=apt, packages=("busybox-static",),
                                     files={"/usr/bin/qemu-system-aarch64": built.binary},
                                     init=guest.init_text()), prov
