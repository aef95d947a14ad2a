"""`-cpu max,pauth-impdef=on` for TCG `max` hosts: decided per QEMU binary,
cached, off on request; the list's host name stays `qemuX.Y-max`.  The slow
lab test boots one real kernel both ways and compares the register lists."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clirun import run_compat

from compat.core.diagnostics import CompatError
from compat.lab import hostqemu
from compat.lab.hostqemu import HostQemu, host_name, tcg_cpu

ROOT = Path(__file__).resolve().parents[1]


def _fake_qemu(tmp_path: Path, version: str, has_impdef: bool) -> Path:
    """A qemu-system-aarch64 that answers --version and refuses unknown CPU
    properties as QEMU does; each probe is counted in calls.log."""
    log = tmp_path / "calls.log"
    qemu = tmp_path / f"qemu-{version}"
    refuse = "" if has_impdef else (
        'case "$*" in *pauth-impdef*) echo "qemu-system-aarch64: can\'t apply global '
        'max-arm-cpu.pauth-impdef=on: Property \'max-arm-cpu.pauth-impdef\' not found"; exit 1;; esac\n')
    qemu.write_text("#!/bin/sh\n"
                    f'[ "$1" = --version ] && {{ echo "QEMU emulator version {version}"; exit 0; }}\n'
                    f'echo "$*" >> {log}\n' + refuse + "cat > /dev/null\nexit 0\n")
    qemu.chmod(0o755)
    return qemu


def _host(qemu: Path) -> HostQemu:
    return hostqemu.resolve(str(qemu), None, Path("unused"))


def _calls(tmp_path) -> int:
    log = tmp_path / "calls.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture(autouse=True)
def _fresh_probes(monkeypatch):
    monkeypatch.setattr(hostqemu, "_PROBES", {})


def test_auto_adds_pauth_impdef_where_the_qemu_has_it(tmp_path):
    host = _host(_fake_qemu(tmp_path, "7.2.22", True))
    assert tcg_cpu(host, "max", "auto", tmp_path / "cache") == "max,pauth-impdef=on"
    assert tcg_cpu(host, "max,sve=off", "auto", tmp_path / "cache") == "max,sve=off,pauth-impdef=on"
    assert host_name(host, "max") == "qemu7.2-max"
    assert host_name(host, "max,pauth-impdef=on") == "qemu7.2-max"


def test_auto_leaves_max_alone_on_a_qemu_without_it(tmp_path):
    host = _host(_fake_qemu(tmp_path, "6.2.0", False))
    assert tcg_cpu(host, "max", "auto", tmp_path / "cache") == "max"
    with pytest.raises(CompatError, match="has no 'pauth-impdef' property"):
        tcg_cpu(host, "max", "on", tmp_path / "cache")


def test_off_other_models_and_explicit_values_are_left_as_given(tmp_path):
    host = _host(_fake_qemu(tmp_path, "7.2.22", True))
    assert tcg_cpu(host, "max", "off", tmp_path) == "max"
    assert tcg_cpu(host, "neoverse-n1", "auto", tmp_path) == "neoverse-n1"
    assert tcg_cpu(host, "max,pauth=off", "auto", tmp_path) == "max,pauth=off"
    assert tcg_cpu(host, "max,pauth-impdef=off", "auto", tmp_path) == "max,pauth-impdef=off"
    assert _calls(tmp_path) == 0  # nothing needed asking
    with pytest.raises(CompatError, match="needs -cpu max"):
        tcg_cpu(host, "neoverse-n1", "on", tmp_path)


def test_the_answer_is_asked_once_per_binary_and_kept_in_the_cache(tmp_path, monkeypatch):
    qemu = _fake_qemu(tmp_path, "7.2.22", True)
    host = _host(qemu)
    cache = tmp_path / "cache"
    for _ in range(3):
        assert tcg_cpu(host, "max", "auto", cache) == "max,pauth-impdef=on"
    assert _calls(tmp_path) == 1
    assert "-cpu max,pauth-impdef=on" in (tmp_path / "calls.log").read_text()
    monkeypatch.setattr(hostqemu, "_PROBES", {})       # a new process: the cache answers
    assert tcg_cpu(host, "max", "auto", cache) == "max,pauth-impdef=on"
    assert _calls(tmp_path) == 1
    # another binary (rebuilt: new size) is asked again
    monkeypatch.setattr(hostqemu, "_PROBES", {})
    qemu.write_text(qemu.read_text() + "# rebuilt\n")
    assert tcg_cpu(_host(qemu), "max", "auto", cache) == "max,pauth-impdef=on"
    assert _calls(tmp_path) == 2


def test_the_real_qemu_has_it_from_7_2(tmp_path):
    if shutil.which("qemu-system-aarch64") is None:
        pytest.skip("qemu-system-aarch64 is not installed (.ci/run installs it)")
    host = hostqemu.resolve(None, None, tmp_path)
    major, minor = map(int, host.short_version.split("."))
    got = tcg_cpu(host, "max", "auto", tmp_path)
    assert got == ("max,pauth-impdef=on" if (major, minor) >= (7, 2) else "max")
    assert not hostqemu.accepts_cpu(host, "max,pauth-no-such-thing=on", tmp_path)


def test_pauth_impdef_option_is_checked(tmp_path):
    proc = run_compat("lab", "collect", "6.1.0-50", "-o", str(tmp_path),
                      "--pauth-impdef", "sometimes", cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "--pauth-impdef" in proc.stderr and "Traceback" not in proc.stderr


CASE = "6.16.12+deb13:6.12.117+deb13:11.1:virt-11.0"


@pytest.mark.parametrize("args, said", [
    (["--qemu-suite", "bookworm-frontports"], "unknown suite 'bookworm-frontports'"),
    (["--qemu-suite", "sid", "--qemu", "/usr/bin/true"], "--qemu and --qemu-suite name two QEMUs"),
    (["--qemu", "/nonexistent/qemu"], "QEMU '/nonexistent/qemu' is not an executable file"),
])
def test_migrate_takes_the_host_qemu_options_of_collect(tmp_path, args, said):
    proc = run_compat("lab", "migrate", CASE, "-o", str(tmp_path / "out"),
                      "--cache", str(tmp_path / "c"), *args, cwd=ROOT, timeout=60)
    assert proc.returncode == 1
    assert said in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "c").exists()


# -- the real thing ------------------------------------------------------------

@pytest.mark.lab
@pytest.mark.slow
def test_pauth_impdef_changes_no_register(tmp_path):
    from compat.analysis.reglist import read_reglist
    for tool in ("apt-get", "dpkg", "cpio", "qemu-system-aarch64"):
        if shutil.which(tool) is None:
            pytest.skip(f"not installed: {tool} (.ci/run installs it)")
    lists = {}
    for mode in ("on", "off"):
        out = tmp_path / mode
        proc = subprocess.run([sys.executable, "-m", "compat", "lab", "collect", "6.12.117+deb13",
                               "--pauth-impdef", mode, "-o", str(out)],
                              cwd=ROOT, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stderr
        (path,) = out.glob("*.reglist")
        assert path.name.startswith("qemu") and "-max-linux-6.12.117+deb13" in path.name
        lists[mode] = (path.name, read_reglist(path), path.read_text())
    assert lists["on"][0] == lists["off"][0]                   # same host name
    assert "# qemu-cpu: max,pauth-impdef=on" in lists["on"][2]
    assert "# qemu-cpu: max\n" in lists["off"][2]
    assert lists["on"][1].indices == lists["off"][1].indices
    assert len(lists["on"][1].indices) > 300
