"""A third-party plugin installed from its own package (tests/plugin_pkg).

The package ``compat-rhel-example`` declares the entry point ``rhel`` in
group ``compat.plugins``.  Installed into a virtual environment, it must be
listed by ``compat plugins``, ignored by builds that do not name it, and
used by builds that do (``--plugin rhel`` or ``plugins = ["rhel"]``).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUNDLED, ROOT

PKG = ROOT / "tests" / "plugin_pkg"
C_TABLES = "arm-virt-kernel-compat.c.inc"
MATRIX = "rhel-support-matrix.txt"


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONHASHSEED"] = "0"
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=600, env=env, **kw)


def _site_dirs() -> list[str]:
    """The running interpreter's site-packages directories (a venv's own, plus
    the base interpreter's only if that venv includes them, plus the user's)."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(dirs) if os.path.isdir(d)]


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory) -> Path:
    """A venv with the rhel plugin that sees the compat this test runs.

    The venv has no system site-packages (those would be the *base*
    interpreter's when pytest itself runs in a venv); instead a .pth file adds
    the running interpreter's site-packages with site.addsitedir(), which also
    honours the .pth files there (an editable install's finder)."""
    import compat

    base = tmp_path_factory.mktemp("thirdparty")
    src = base / "plugin_pkg"
    shutil.copytree(PKG, src, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                            "__pycache__"))
    env_dir = base / "venv"
    proc = _run([sys.executable, "-m", "venv", env_dir])
    assert proc.returncode == 0, proc.stderr
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    proc = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    assert proc.returncode == 0, proc.stderr
    own = Path(proc.stdout.strip())
    line = "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in _site_dirs())
    (own / "zz_compat_test_parent_site.pth").write_text(line + "\n")

    proc = _run([python, "-c", "import compat; print(compat.__file__)"], cwd=base)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve() == Path(compat.__file__).resolve(), \
        (proc.stdout, compat.__file__, _site_dirs())

    proc = _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", src],
                cwd=base)
    if proc.returncode != 0:
        # The setuptools in sight may lack bdist_wheel (no 'wheel'); let pip
        # fetch build requirements from its configured indexes.
        proc = _run([python, "-m", "pip", "install", "-q", "--no-deps", src], cwd=base)
    assert proc.returncode == 0, proc.stderr
    # The plugin went into the nested venv, not into the running interpreter's.
    proc = _run([python, "-c", "from importlib.metadata import distribution as d; "
                 "print(d('compat-rhel-example').locate_file(''))"], cwd=base)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()).resolve() == own.resolve(), proc.stdout
    return python


@pytest.fixture
def work(tmp_path) -> Path:
    """An empty working directory (so the bundled registry is the default)."""
    return tmp_path


def compat(python: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    return _run([python, "-m", "compat", *args], cwd=cwd)


@pytest.mark.slow
def test_plugin_is_listed(venv_python, work):
    proc = compat(venv_python, "plugins", "--json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    rhel = rows["rhel"]
    assert rhel["version"] == "0.3.0"
    assert rhel["source"].startswith("entry point")
    assert "compat-rhel-example" in rhel["source"]
    assert "compat_registry_fragments" in rhel["hooks"]
    assert [o["name"] for o in rhel["outputs"]] == ["rhel-support-matrix"]
    assert rows["compat-props"]["source"] == "builtin"


@pytest.mark.slow
def test_build_without_plugin_ignores_it(venv_python, work):
    proc = compat(venv_python, "build", "-o", "out", cwd=work)
    assert proc.returncode == 0, proc.stderr
    out = work / "out"
    assert not (out / MATRIX).exists()
    tables = (out / C_TABLES).read_text()
    assert "arm_virt_kernel_compat_10_1" in tables
    assert "rhel" not in tables


@pytest.mark.slow
def test_build_with_plugin_option_uses_it(venv_python, work):
    proc = compat(venv_python, "build", "--plugin", "rhel", "-o", "out2", cwd=work)
    assert proc.returncode == 0, proc.stderr
    out = work / "out2"
    matrix = (out / MATRIX).read_text()
    assert "rhel-10.0.0: Linux >= 6.12" in matrix
    assert "rhel-9.6.0: Linux >= 6.6" in matrix
    tables = (out / C_TABLES).read_text()
    assert "arm_rhel_kernel_compat_10_0_0" in tables
    assert "arm_rhel_kernel_compat_9_6_0" in tables
    assert "arm_virt_kernel_compat_10_1" in tables


@pytest.mark.slow
def test_registry_plugins_list_loads_it(venv_python, work):
    text = BUNDLED.read_text().replace("schema-version = 1\n",
                                       'schema-version = 1\nplugins = ["rhel"]\n', 1)
    (work / "registry.toml").write_text(text)
    proc = compat(venv_python, "build", "-o", "out3", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert (work / "out3" / MATRIX).is_file()
    assert "arm_rhel_kernel_compat_10_0_0" in (work / "out3" / C_TABLES).read_text()
    # The merged machine types are visible to every command.
    proc = compat(venv_python, "validate", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "7 machine types" in proc.stdout


@pytest.mark.slow
def test_schema_fragment_only_with_plugin(venv_python, work):
    """The plugin's schema fragment allows 'rhel-release' on machine versions."""
    text = BUNDLED.read_text().replace('{ version = "10.0", min-kernel = "6.6",',
                                       '{ version = "10.0", min-kernel = "6.6", '
                                       'rhel-release = "RHEL 9.6",', 1)
    assert "rhel-release" in text
    (work / "registry.toml").write_text(text)
    proc = compat(venv_python, "validate", cwd=work)
    assert proc.returncode == 1
    assert "unknown key 'rhel-release'" in proc.stderr
    proc = compat(venv_python, "validate", "--plugin", "rhel", cwd=work)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_unknown_plugin_is_a_clear_error(venv_python, work):
    proc = compat(venv_python, "build", "--plugin", "nope", "-o", "out4", cwd=work)
    assert proc.returncode == 2  # a command-line mistake
    assert "<command line>: error: unknown plugin 'nope'" in proc.stderr
    assert "rhel" in proc.stderr            # the hint lists what is installed
    assert "Traceback" not in proc.stderr
    assert not (work / "out4").exists()


def test_broken_entry_point_is_listed_not_fatal(monkeypatch, capsys):
    """An installed plugin that fails to import is shown; the others still are."""
    import argparse
    from importlib.metadata import EntryPoint

    from compat.commands import plugins as command
    from compat.plugin.host import PluginHost

    broken = EntryPoint("broken", "compat_no_such_module_xyz", "compat.plugins")
    monkeypatch.setattr(PluginHost, "entry_points", staticmethod(lambda: {"broken": broken}))
    assert command.run(argparse.Namespace(json=True)) == 0
    captured = capsys.readouterr()
    rows = {row["name"]: row for row in json.loads(captured.out)}
    assert "failed to load" in rows["broken"]["error"]
    assert "compat_no_such_module_xyz" in rows["broken"]["error"]
    assert rows["compat-props"]["outputs"]
    assert "plugin 'broken' failed to load" in captured.err
