"""The claim itself, in CI: Debian's QEMU 10.2 with the project's patch series
and compat's generated C (``compat lab qemu build``, cached) migrates a KVM
vCPU from Linux 7.3 to 7.2 on ``virt-10.2`` only with compat's rules on.
Compat off (``COMPAT_RULES=off``, the same binary): QEMU refuses PMMIR_EL1,
which 7.2 lacks; on: the destination loads the stream and runs after ``cont``.

Slow: the first build takes 7 minutes or more on 2 cores (later runs reuse
the cached binary); each migration boots two kernels under TCG.  Set
``COMPAT_LAB_CACHE`` to share a lab cache (kernels, sources, builds) and
``COMPAT_LAB_QEMU_SUITE`` (``trixie-backports``: QEMU 11.1) to boot the guests
with another host QEMU than the system's (docs/lab.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compat.lab.qemubuild import series, toolchain

ROOT = Path(__file__).resolve().parents[1]
PMMIR_EL1 = 0x603000000013C4F6
CASE = "7.3.4+deb13:7.2.13+deb14:-:virt-10.2"


def _compat(*args, timeout):
    return subprocess.run([sys.executable, "-m", "compat", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.lab
def test_compat_turns_7_3_to_7_2_from_fail_into_pass(tmp_path):
    missing = [t for t in ("qemu-system-aarch64", "cpio", "apt-get", "dpkg", "readelf",
                           *toolchain.BUILD_TOOLS) if shutil.which(t) is None]
    if missing or toolchain.meson_version() is None:
        pytest.skip(f"not installed: {', '.join(missing) or 'meson'} (.ci/run installs them)")
    if not (series.project_series("10.2") / "series").exists():
        pytest.skip("the project's QEMU 10.2 patch series is not in this tree")
    cache = os.environ.get("COMPAT_LAB_CACHE")
    where = ["--cache", cache] if cache else []
    built = _compat("lab", "qemu", "build", *where, timeout=7200)
    assert built.returncode == 0, built.stderr
    binary = Path(built.stdout.strip().splitlines()[-1])
    assert binary.is_file() and "done:" in built.stderr
    # a second build with nothing changed builds nothing and names the same binary
    again = _compat("lab", "qemu", "build", *where, timeout=600)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == str(binary)
    assert "nothing changed" in again.stderr

    out = tmp_path / "out"
    suite = os.environ.get("COMPAT_LAB_QEMU_SUITE")
    host = ["--qemu-suite", suite] if suite else []
    run = _compat("lab", "migrate", CASE, "--inner-qemu", "build", "--compat", "both",
                  "-o", str(out), "-j", "1", *where, *host, timeout=3600)
    assert run.returncode == 0, run.stderr
    # the name ends in _host-qemuX.Y unless the lab host is QEMU 7.2
    (off_dir,) = out.glob("7.3-to-7.2_qemu10.2.2-compat-off_virt-10.2*")
    (on_dir,) = out.glob("7.3-to-7.2_qemu10.2.2-compat-on_virt-10.2*")
    off = json.loads((off_dir / "case.json").read_text())
    on = json.loads((on_dir / "case.json").read_text())
    for info, compat in ((off, False), (on, True)):
        assert info["qemu"]["compat"] is compat
        assert info["qemu"]["build"]["source"] == "10.2.2+ds-1"
        assert set(info["qemu"]["build"]) >= {"patches", "outputs_hash", "registry"}
    assert off["verdict"] == "fail", off["qemu_messages"]
    said = " ".join(off["qemu_messages"])
    assert f"0x{PMMIR_EL1:016x}" in said or "op0:3 op1:0 crn:9 crm:14 op2:6" in said, said
    # pass: loaded, and running after 'cont' (the guest's verdict line reports the status)
    assert on["verdict"] == "pass" and on["status"] == "running", on
