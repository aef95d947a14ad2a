"""`compat lab`: its apt, download and boot steps fail cleanly, and one real
kernel booted under QEMU with compat's collector inside gives the checked-in list."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from compat.core.diagnostics import CompatError
from compat.lab import boot as boot_mod
from compat.lab import collect as lab_collect
from compat.lab.apt import PrivateApt, default_cache, system_archive_uris
from compat.analysis.reglist import read_reglist

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"
#: the fastest boot measured: -cpu neoverse-n1 (about 6 s; -cpu max emulates
#: pointer authentication and is 3-5x slower), whose lists equal -cpu max's
FAST_KERNEL = "6.1.0-50"
FAST_CPU = "neoverse-n1"
FAST_LIST = REAL / f"qemu7.2-{FAST_CPU}-linux-{FAST_KERNEL}.reglist"


def _compat(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "compat", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (.ci/run installs them)")


# -- apt ---------------------------------------------------------------------

def test_archive_uris_come_from_the_machines_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "a.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n"
        "Components: main\n")
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.invalid/d bookworm main\n")
    assert system_archive_uris(tmp_path) == ["http://mirror.invalid/debian", "http://other.invalid/d"]
    apt = PrivateApt(tmp_path / "cache", etc=tmp_path)
    text = apt.sources_text()
    assert "http://mirror.invalid/debian trixie-backports main" in text
    assert "debian-security" not in text


def test_no_archive_in_the_apt_sources_is_a_clean_error(tmp_path):
    apt = PrivateApt(tmp_path / "cache", etc=tmp_path)
    with pytest.raises(CompatError, match="no Debian archive found"):
        apt.prepare()


def test_missing_apt_is_named_with_its_package(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = _compat("lab", "kernels", "--cache", str(tmp_path / "c"),
                   env=dict(os.environ, PATH=str(empty)))
    assert proc.returncode == 1
    assert "'apt-get' is not installed" in proc.stderr and "apt-get install apt" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_qemu_is_named_with_its_package(tmp_path):
    proc = _compat("lab", "collect", FAST_KERNEL, "-o", str(tmp_path),
                   "--qemu", str(tmp_path / "no-qemu"))
    assert proc.returncode == 1
    assert "qemu-system-arm" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.lab
def test_unknown_version_lists_the_nearest(tmp_path):
    _need("apt-get", "qemu-system-aarch64")
    proc = _compat("lab", "collect", "6.1.0-9999", "-o", str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "no Debian arm64 kernel '6.1.0-9999'" in proc.stderr
    assert "nearest: 6.1.0-" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.lab
def test_lab_kernels_lists_both_package_kinds():
    _need("apt-get")
    proc = _compat("lab", "kernels")
    assert proc.returncode == 0, proc.stderr
    assert "linux-image-6.1." in proc.stdout and "linux-binary-7." in proc.stdout


# -- boot ----------------------------------------------------------------------

def test_console_without_markers_shows_the_tail():
    with pytest.raises(CompatError, match="never reached the collector") as info:
        lab_collect.parse_console("Booting Linux\nKernel panic", where="linux x",
                                  tail="Kernel panic", seconds=3, timed_out=False, timeout=9)
    assert "Kernel panic" in str(info.value)


def test_collector_error_in_the_guest_is_reported():
    with pytest.raises(CompatError, match="KVM_CREATE_VM failed"):
        lab_collect.parse_console("compat-collector: error: KVM_CREATE_VM failed: x\n",
                                  where="linux x", tail="", seconds=3, timed_out=False, timeout=9)


def test_incomplete_list_on_the_console():
    from compat.lab import collector
    text = f"{collector.BEGIN}\r\n0x6030000000130000\r\n{collector.END} 2 ===\r\n"
    with pytest.raises(CompatError, match="incomplete"):
        lab_collect.parse_console(text, where="x", tail="", seconds=1, timed_out=False, timeout=9)
    ok = f"{collector.BEGIN}\r\n# kernel: 6.1\r\n0x6030000000130000\r\n{collector.END} 1 ===\r\n"
    assert lab_collect.parse_console(ok, where="x", tail="", seconds=1, timed_out=False,
                                     timeout=9) == (["# kernel: 6.1"], [0x6030000000130000])


def test_boot_timeout_kills_qemu(tmp_path):
    """A stand-in QEMU that never ends: killed at the timeout, group and all."""
    fake = tmp_path / "qemu-system-aarch64"
    fake.write_text("#!/bin/sh\necho booting\nsleep 300 &\nsleep 300\n")
    fake.chmod(0o755)
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "b").write_bytes(b"y")
    result = boot_mod.boot(tmp_path / "k", [tmp_path / "a", tmp_path / "b"], qemu=str(fake),
                           timeout=1)
    assert result.timed_out and "booting" in result.console
    assert not boot_mod._LIVE
    leftover = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True)
    assert leftover.stdout.strip() == "" or leftover.returncode == 1


@pytest.mark.lab
@pytest.mark.slow
def test_guest_timeout_is_a_clean_error(tmp_path):
    _need("apt-get", "dpkg", "cpio", "qemu-system-aarch64")
    proc = _compat("lab", "collect", FAST_KERNEL, "--cpu", FAST_CPU, "-o", str(tmp_path),
                   "--timeout", "2")
    assert proc.returncode == 1
    assert "timed out after 2 s" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.reglist"))


# -- one real kernel -----------------------------------------------------------

@pytest.mark.lab
@pytest.mark.slow
def test_real_kernel_list_equals_the_checked_in_one(tmp_path):
    _need("apt-get", "dpkg", "cpio", "qemu-system-aarch64")
    proc = _compat("lab", "collect", FAST_KERNEL, "--cpu", FAST_CPU, "-o", str(tmp_path),
                   timeout=900)
    assert proc.returncode == 0, proc.stderr
    got = read_reglist(next(tmp_path.glob("*.reglist")))
    want = read_reglist(FAST_LIST)
    assert got.indices == want.indices
    assert got.kernel == want.kernel and len(got.indices) == 316
