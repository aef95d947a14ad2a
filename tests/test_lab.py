"""`compat lab`: its apt, download and boot steps fail cleanly, and one real
kernel booted under QEMU with compat's collector inside gives the checked-in list."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from clirun import run_compat, run_compat_process

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
    return run_compat(*args, cwd=ROOT, env=env, timeout=timeout)


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


def test_console_tail_prints_real_lines_each_escaped():
    """Multi-line diagnostics show real lines (no literal \\n), indented, so a
    console line cannot pass for a diagnostic; control characters in a line
    are escaped (issue 20.10)."""
    console = "Booting Linux\nclear \x1b[2J screen\ncompat lab: error: forged\nKernel panic"
    with pytest.raises(CompatError) as info:
        lab_collect.parse_console(console, where="linux x", tail=console, seconds=3,
                                  timed_out=False, timeout=9)
    text = info.value.format()
    assert "\\n" not in text and "\x1b" not in text
    assert text.splitlines() == [
        "compat lab: error: linux x: the guest never reached the collector (QEMU ran 3.0 s); "
        "last console lines:",
        "    Booting Linux", "    clear \\x1b[2J screen", "    compat lab: error: forged",
        "    Kernel panic"]
    assert info.value.to_json()["diagnostics"][0]["message"].endswith("\nKernel panic")


def test_a_failing_apt_tool_prints_its_stderr_as_lines(tmp_path):
    if not system_archive_uris():
        pytest.skip("this machine's apt sources name no Debian archive")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text("#!/bin/sh\necho 'E: first problem' >&2\n"
                                  "echo 'E: second problem' >&2\nexit 100\n")
    (fake / "apt-get").chmod(0o755)
    proc = _compat("lab", "kernels", "--cache", str(tmp_path / "c"),
                   env=dict(os.environ, PATH=f"{fake}:{os.environ['PATH']}"))
    assert proc.returncode == 1, proc.stderr
    assert "compat lab: error: apt-get update failed (exit 100):\n    E: first problem\n" \
        "    E: second problem\ncompat lab: note: " in proc.stderr, proc.stderr
    assert "\\n" not in proc.stderr


def test_collector_error_in_the_guest_is_reported():
    with pytest.raises(CompatError, match="KVM_CREATE_VM failed"):
        lab_collect.parse_console("compat-collector: error: KVM_CREATE_VM failed: x\n",
                                  where="linux x", tail="", seconds=3, timed_out=False, timeout=9)


def test_incomplete_list_on_the_console():
    from compat import collector
    text = f"{collector.BEGIN}\r\n0x6030000000130000\r\n{collector.END} 2 ===\r\n"
    with pytest.raises(CompatError, match="incomplete"):
        lab_collect.parse_console(text, where="x", tail="", seconds=1, timed_out=False, timeout=9)
    ok = f"{collector.BEGIN}\r\n# kernel: 6.1\r\n0x6030000000130000\r\n{collector.END} 1 ===\r\n"
    assert lab_collect.parse_console(ok, where="x", tail="", seconds=1, timed_out=False,
                                     timeout=9) == (["# kernel: 6.1"], [0x6030000000130000])


def test_boot_timeout_kills_qemu(tmp_path):
    """A stand-in QEMU that never ends: killed at the timeout, group and all."""
    fake = tmp_path / "qemu-system-aarch64"
    # the stand-in's children run a copy of sleep under a name only this test
    # uses, so a check cannot mistake another process (or a reused pid) for them
    sleeper = tmp_path / f"sleep-{os.getpid()}-{tmp_path.name}"
    shutil.copy(shutil.which("sleep"), sleeper)
    fake.write_text(f"#!/bin/sh\necho booting\n{sleeper} 300 &\n{sleeper} 300\n")
    fake.chmod(0o755)
    (tmp_path / "a").write_bytes(b"x")
    (tmp_path / "b").write_bytes(b"y")
    result = boot_mod.boot(tmp_path / "k", [tmp_path / "a", tmp_path / "b"], qemu=str(fake),
                           timeout=1)
    assert result.timed_out and "booting" in result.console
    assert not boot_mod._LIVE
    for _ in range(50):          # SIGKILLed orphans are reaped by init, soon
        alive = subprocess.run(["pgrep", "-f", str(sleeper)], capture_output=True, text=True)
        if alive.returncode == 1:
            break
        time.sleep(0.1)
    assert alive.returncode == 1, f"still running: {alive.stdout}"


def _without_roms():
    """A command prefix running QEMU with its data directories (option ROMs)
    hidden under empty tmpfs mounts, as on a machine where qemu-system-arm came
    without its recommended ROM packages; skips where that cannot be done."""
    _need("qemu-system-aarch64", "unshare", "mount")
    dirs = subprocess.run(["qemu-system-aarch64", "-L", "help"], capture_output=True,
                          text=True).stdout.split()
    dirs = [d for d in dirs if os.path.isdir(d)]
    if not dirs or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("cannot hide QEMU's data directories (needs root: unshare -m, mount)")
    mounts = "; ".join(f"mount -t tmpfs none '{d}' || exit 97" for d in dirs)
    return ("unshare", "-m", "sh", "-c", mounts + '; exec "$@"', "sh")


def test_boot_needs_no_option_rom(tmp_path):
    """virt's default NIC makes QEMU load efi-virtio.rom; the lab boots with
    -nic none, so a QEMU without ROM packages runs (issue 20.10)."""
    prefix = _without_roms()
    kernel, initrd = tmp_path / "Image", tmp_path / "initrd"
    # "wfi; b .-4": the vCPU waits for an interrupt that never comes, so QEMU
    # runs until killed without spending a core (zeros would spin in an
    # exception loop for the whole timeout)
    kernel.write_bytes(struct.pack("<II", 0xD503207F, 0x17FFFFFF).ljust(4096, b"\0"))
    initrd.write_bytes(bytes(512))
    control = subprocess.run([*prefix, "qemu-system-aarch64", "-M", "virt", "-nographic",
                              "-kernel", str(kernel)], capture_output=True, text=True, timeout=30)
    assert 'failed to find romfile "efi-virtio.rom"' in control.stderr, control.stderr
    res = boot_mod.boot(kernel, initrd, timeout=3, command_prefix=prefix)
    assert "romfile" not in res.console, res.console
    assert res.timed_out, res.console


@pytest.mark.lab
@pytest.mark.slow
def test_guest_timeout_is_a_clean_error(tmp_path):
    _need("apt-get", "dpkg", "cpio", "qemu-system-aarch64")
    proc = run_compat_process("lab", "collect", FAST_KERNEL, "--cpu", FAST_CPU,
                              "-o", str(tmp_path), "--timeout", "2", cwd=ROOT)
    assert proc.returncode == 1
    assert "timed out after 2 s" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.reglist"))


# -- one real kernel -----------------------------------------------------------

@pytest.mark.lab
@pytest.mark.slow
def test_real_kernel_list_equals_the_checked_in_one(tmp_path):
    _need("apt-get", "dpkg", "cpio", "qemu-system-aarch64")
    proc = run_compat_process("lab", "collect", FAST_KERNEL, "--cpu", FAST_CPU,
                              "-o", str(tmp_path), cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stderr
    got = read_reglist(next(tmp_path.glob("*.reglist")))
    want = read_reglist(FAST_LIST)
    assert got.indices == want.indices
    assert got.kernel == want.kernel and len(got.indices) == 316


# -- another Debian QEMU (--qemu-suite) ----------------------------------------

def _fake_tree(tmp_path):
    """An unpacked QEMU as fetch() leaves it: a binary, its libraries, its modules."""
    from compat.lab import debian_qemu  # noqa: F401
    root = tmp_path / "tree" / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "lib" / "x86_64-linux-gnu" / "qemu").mkdir(parents=True)
    qemu = root / "usr" / "bin" / "qemu-system-aarch64"
    qemu.write_text("#!/bin/sh\necho 'QEMU emulator version 10.0.2 (Debian 1:10.0.2)'\n")
    qemu.chmod(0o755)
    return tmp_path / "tree"


def _fake_tool(dirpath, name, script):
    dirpath.mkdir(exist_ok=True)
    tool = dirpath / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(0o755)


def test_unknown_qemu_suite_is_a_clean_error(tmp_path):
    proc = _compat("lab", "collect", FAST_KERNEL, "-o", str(tmp_path / "out"),
                   "--qemu-suite", "bookworm-frontports", "--cache", str(tmp_path / "c"))
    assert proc.returncode == 1
    assert "unknown suite 'bookworm-frontports'" in proc.stderr
    assert "bookworm-backports" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "c").exists()


def test_qemu_and_qemu_suite_together_is_a_clean_error(tmp_path):
    proc = _compat("lab", "collect", FAST_KERNEL, "-o", str(tmp_path), "--qemu", "/bin/true",
                   "--qemu-suite", "bookworm-backports", "--cache", str(tmp_path / "c"))
    assert proc.returncode == 1
    assert "--qemu and --qemu-suite" in proc.stderr and "Traceback" not in proc.stderr


def test_no_unshare_permission_is_a_clean_error(tmp_path, monkeypatch):
    """unshare refused (as in a container without CAP_SYS_ADMIN): simulated by
    an unshare on PATH that fails the way util-linux's does."""
    from compat.lab import debian_qemu
    bin_ = tmp_path / "bin"
    _fake_tool(bin_, "unshare", "echo 'unshare: unshare failed: Operation not permitted' >&2\n"
               "exit 1\n")
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    hidden = tmp_path / "system-modules"
    hidden.mkdir()
    with pytest.raises(CompatError) as info:
        debian_qemu.prepare(_fake_tree(tmp_path), "bookworm-backports", "1:10.0.2",
                            hidden=[str(hidden)])
    text = str(info.value)
    assert "cannot hide the system QEMU's modules" in text and str(hidden) in text
    assert "Operation not permitted" in text and "unprivileged user namespaces" in text


def test_no_mount_permission_is_a_clean_error(tmp_path, monkeypatch):
    """unshare works but the tmpfs mount is refused."""
    from compat.lab import debian_qemu
    bin_ = tmp_path / "bin"
    # an unshare that runs its command as is (no namespace), and a mount that refuses
    _fake_tool(bin_, "unshare", 'while [ "$1" = -m ] || [ "$1" = -r ]; do shift; done\nexec "$@"\n')
    _fake_tool(bin_, "mount", "echo 'mount: only root can do that' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", f"{bin_}{os.pathsep}{os.environ['PATH']}")
    hidden = tmp_path / "system-modules"
    hidden.mkdir()
    with pytest.raises(CompatError, match="only root can do that"):
        debian_qemu.prepare(_fake_tree(tmp_path), "bookworm-backports", "1:10.0.2",
                            hidden=[str(hidden)])


def test_missing_unshare_names_its_package(tmp_path, monkeypatch):
    from compat.lab import debian_qemu
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(CompatError, match="apt-get install util-linux"):
        debian_qemu.prepare(_fake_tree(tmp_path), "bookworm-backports", "1:10.0.2",
                            hidden=[str(tmp_path)])


def test_unpacked_qemu_runs_with_the_system_modules_hidden(tmp_path):
    """The real unshare + tmpfs (where permitted): the hidden directory is empty
    for the command, untouched outside; the unpacked modules are named."""
    from compat.lab import debian_qemu
    hidden = tmp_path / "system-modules"
    hidden.mkdir()
    (hidden / "accel-tcg-aarch64.so").write_text("system build")
    tree = _fake_tree(tmp_path)
    try:
        dq = debian_qemu.prepare(tree, "bookworm-backports", "1:10.0.2", hidden=[str(hidden)])
    except CompatError as exc:
        pytest.skip(f"unshare/mount not permitted here: {exc}")
    seen = subprocess.run([*dq.command_prefix, "ls", "-A", str(hidden)], capture_output=True,
                          text=True, env=dq.env)
    assert seen.returncode == 0 and seen.stdout == ""
    assert (hidden / "accel-tcg-aarch64.so").exists()
    assert dq.env["QEMU_MODULE_DIR"].endswith("usr/lib/x86_64-linux-gnu/qemu")
    assert boot_mod.qemu_version(str(dq.binary), env=dq.env,
                                 command_prefix=dq.command_prefix).startswith("10.0.2")


def test_private_apt_for_another_architecture(tmp_path):
    (tmp_path / "sources.list").write_text("deb http://mirror.invalid/debian bookworm main\n")
    apt = PrivateApt(tmp_path / "cache", etc=tmp_path, suites=("bookworm", "bookworm-backports"),
                     architecture="amd64", status=Path("/var/lib/dpkg/status"))
    assert "deb [arch=amd64" in apt.sources_text() and "arch=arm64" not in apt.sources_text()
    opts = apt.options()
    assert "APT::Architecture=amd64" in opts and "Dir::State::status=/var/lib/dpkg/status" in opts
    assert apt.root != PrivateApt(tmp_path / "cache", etc=tmp_path).root


def test_inst_lines_of_an_apt_simulation():
    from compat.lab import debian_qemu
    out = ("Inst libebur128-1 (1.2.6-1+b1 Debian:12.15/oldstable [amd64])\n"
           "Inst qemu-system-arm [1:7.2+dfsg-7] (1:10.0.2+ds-2~bpo12+1 Debian Backports [amd64]) []\n"
           "Conf qemu-system-arm (1:10.0.2+ds-2~bpo12+1 Debian Backports [amd64])\n")
    rows = [m.groups() for m in map(debian_qemu._INST.match, out.splitlines()) if m]
    assert rows == [("libebur128-1", "1.2.6-1+b1"), ("qemu-system-arm", "1:10.0.2+ds-2~bpo12+1")]


def test_the_lab_writes_through_output_py_or_a_stated_exception():
    """Issue 22.5: the lab's outputs go through compat/output.py; the cache's
    staging trees (docs/architecture.md names them) are the only direct writers."""
    import re
    staging = {"initramfs.py", "kernels.py"}   # the initramfs tree, the kernel image's temp dir
    direct = [f"{p.name}:{n}" for p in sorted((ROOT / "compat" / "lab").glob("*.py"))
              if p.name not in staging
              for n, line in enumerate(p.read_text().splitlines(), 1)
              if re.search(r"\.(write_text|write_bytes)\(", line)]
    assert direct == [], direct
    assert "initramfs staging trees" in (ROOT / "docs" / "architecture.md").read_text()
