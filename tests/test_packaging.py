"""Packaging: the wheel carries the plugins and data, and works installed
in a fresh virtual environment, away from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow


def _run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=600, **kw)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from the checkout (offline: pip's local indexes)."""
    out = tmp_path_factory.mktemp("wheel")
    proc = _run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-w", out])
    if proc.returncode != 0:
        proc = _run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps",
                     "--no-build-isolation", "-w", out])
    assert proc.returncode == 0, proc.stderr
    wheels = sorted(out.glob("compat-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; returns its bin directory."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    proc = _run([python, "-m", "pip", "install", "-q", wheel])
    if proc.returncode != 0:
        # Dependencies unavailable offline: let them come from the system,
        # but never compat itself (checked below).
        venv.EnvBuilder(with_pip=True, system_site_packages=True, clear=True).create(env_dir)
        proc = _run([python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
                     wheel])
    assert proc.returncode == 0, proc.stderr
    return bindir


def _isolated_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONHASHSEED"] = "0"
    return env


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "compat/data/registry.toml" in names
    assert "compat/data/schemas/registry.schema.json" in names
    assert "compat/plugins/__init__.py" in names
    plugin_modules = {n for n in names if n.startswith("compat/plugins/") and n.endswith(".py")}
    expected = {f"compat/plugins/{p.name}" for p in (ROOT / "plugins").glob("*.py")}
    assert expected <= plugin_modules, sorted(expected - plugin_modules)
    assert len(plugin_modules) > 1
    assert not any(n.startswith("plugins/") for n in names), "top-level plugins package"
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"compat"}, tops
    assert not any(n.startswith(("tests/", "compat/tests/")) for n in names)


def test_wheel_data_is_the_checkout_data(wheel):
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("compat/data/registry.toml").decode() == (ROOT / "registry.toml").read_text()
        assert zf.read("compat/data/schemas/registry.schema.json").decode() == \
            (ROOT / "schemas" / "registry.schema.json").read_text()


def test_installed_compat_is_the_venvs(installed, tmp_path):
    proc = _run([installed / "python", "-c", "import compat; print(compat.__file__)"],
                cwd=tmp_path, env=_isolated_env())
    assert proc.returncode == 0, proc.stderr
    where = Path(proc.stdout.strip()).resolve()
    assert installed.parent.resolve() in where.parents, where
    assert ROOT.resolve() not in where.parents, where


def test_installed_validate_uses_bundled(installed, tmp_path):
    proc = _run([installed / "compat", "validate"], cwd=tmp_path, env=_isolated_env())
    assert proc.returncode == 0, proc.stderr
    assert "valid: 12 registers" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_installed_build(installed, tmp_path):
    proc = _run([installed / "compat", "build", "-o", "out"], cwd=tmp_path, env=_isolated_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert files, "compat build wrote nothing"


def test_installed_python_dash_m(installed, tmp_path):
    proc = _run([installed / "python", "-m", "compat", "encode", "TCR2_EL1"], cwd=tmp_path,
                env=_isolated_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0x603000000013c103\n"
