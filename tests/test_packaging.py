"""Packaging: the wheel carries every package, plugin and data file, and the
installed ``compat`` works in a fresh virtual environment (no system
site-packages), away from the checkout: every subcommand's ``--help`` and one
real run of each, from an empty directory.

Nothing here lists packages or commands by hand: the expected package folders
are read from the checkout (every folder of ``compat/`` and ``plugins/`` with
Python files; ``plugins/X`` installs as ``compat/plugins/X``) and the commands
from ``compat.cli.COMMANDS``, so a new subpackage or command is covered, and
one left out of the wheel fails here.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import REGLISTS, ROOT

pytestmark = pytest.mark.slow

#: checkout path -> path in the wheel of the data files setup.py bundles
DATA_FILES = {
    "registry.toml": "compat/data/registry.toml",
    "schemas/registry.schema.json": "compat/data/schemas/registry.schema.json",
}
#: checkout folder -> the folder it installs as
PACKAGE_ROOTS = {"compat": "compat", "plugins": "compat/plugins"}
SKIP_DIRS = {"__pycache__"}


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=600, **kw)


def _isolated_env() -> dict[str, str]:
    """The caller's environment minus anything that could point Python at the
    checkout or another interpreter's packages."""
    drop = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _checkout_files() -> dict[str, Path]:
    """Every file the wheel must carry from ``compat/`` and ``plugins/``:
    wheel path -> checkout path (Python modules and any package data)."""
    files: dict[str, Path] = {}
    for source, target in PACKAGE_ROOTS.items():
        base = ROOT / source
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames
                                 if d not in SKIP_DIRS and not d.startswith("."))
            rel = Path(dirpath).relative_to(base)
            for name in filenames:
                if name.endswith((".pyc", ".pyo")) or name.startswith("."):
                    continue
                files[(Path(target) / rel / name).as_posix()] = Path(dirpath) / name
    return files


def _checkout_packages() -> dict[str, str]:
    """Every package folder of the checkout: wheel folder -> checkout folder.
    A folder counts if it holds any Python file (so a subpackage that forgot
    its ``__init__.py`` is caught too, not silently skipped)."""
    packages = {}
    for wheel_path, path in _checkout_files().items():
        if wheel_path.endswith(".py"):
            folder = wheel_path.rsplit("/", 1)[0]
            packages[folder] = path.parent.relative_to(ROOT).as_posix()
    return dict(sorted(packages.items()))


def _module_names() -> list[str]:
    """Every importable module of the checkout, by its installed name."""
    names = []
    for wheel_path in _checkout_files():
        if not wheel_path.endswith(".py"):
            continue
        parts = wheel_path[:-3].split("/")
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(parts))
    return sorted(names)


def _checkout_commands() -> list[str]:
    """The command names of ``compat.cli.COMMANDS`` in the checkout, read from
    its source (no import, so the checkout's list, whatever is installed)."""
    tree = ast.parse((ROOT / "compat" / "cli.py").read_text())
    for node in ast.walk(tree):
        target = (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
                  else node.target if isinstance(node, ast.AnnAssign) else None)
        if isinstance(target, ast.Name) and target.id == "COMMANDS" and node.value is not None:
            return list(ast.literal_eval(node.value))
    raise AssertionError("compat/cli.py defines no COMMANDS")


COMMANDS = _checkout_commands()


# -- the wheel ----------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built (pip wheel --no-deps) from a copy of the checkout, so
    neither a stale build/ nor *.egg-info of the checkout leaks into it and the
    build writes nothing into the working tree."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", "generated",
        ".pytest_cache", ".hypothesis", "tests"))
    out = base / "dist"
    proc = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, src])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = sorted(out.glob("compat-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_names(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_checkout_layout_is_discovered():
    """The discovery below sees the layout (guards the test itself)."""
    packages = _checkout_packages()
    assert "compat" in packages
    assert "compat/plugins" in packages
    assert any(p.startswith("compat/plugins/") for p in packages), packages
    assert len(packages) > 4, packages


def test_wheel_has_every_package_of_the_checkout(wheel_names):
    packages = _checkout_packages()
    missing = [f"{folder} (from {source}/)" for folder, source in packages.items()
               if f"{folder}/__init__.py" not in wheel_names]
    assert not missing, "package folders missing from the wheel (no __init__.py, or not " \
        "discovered by setup.py): " + ", ".join(missing)


def test_wheel_has_every_file_of_the_checkout(wheel_names):
    """Every module and every package data file of compat/ and plugins/."""
    missing = sorted(set(_checkout_files()) - wheel_names)
    assert not missing, f"files missing from the wheel: {missing}"


def test_wheel_has_nothing_else(wheel_names):
    tops = {n.split("/")[0] for n in wheel_names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"compat"}, f"unexpected top-level entries (a generic 'plugins'?): {tops}"
    assert not any(n.startswith(("plugins/", "tests/", "compat/tests/")) for n in wheel_names)
    extra = sorted(n for n in wheel_names
                   if n.startswith("compat/") and n not in _checkout_files()
                   and n not in DATA_FILES.values())
    assert not extra, f"files in the wheel that the checkout does not have (stale?): {extra}"


def test_wheel_data_is_the_checkout_data(wheel):
    with zipfile.ZipFile(wheel) as zf:
        for source, target in DATA_FILES.items():
            assert zf.read(target) == (ROOT / source).read_bytes(), target


def test_wheel_declares_script_and_dependencies(wheel, wheel_names):
    with zipfile.ZipFile(wheel) as zf:
        info = next(n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
        assert re.search(r"^compat\s*=\s*compat\.cli:main$", zf.read(info).decode(), re.M)
        meta = next(n for n in wheel_names if n.endswith(".dist-info/METADATA"))
        requires = [line for line in zf.read(meta).decode().splitlines()
                    if line.startswith("Requires-Dist:")]
    assert any("pluggy" in r for r in requires), requires
    assert any("jsonschema" in r for r in requires), requires


# -- installed in a fresh venv -----------------------------------------------

@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv WITHOUT system site-packages, the wheel installed with its
    dependencies from the package index; returns the venv's bin directory."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, symlinks=os.name != "nt",
                    ).create(env_dir)
    cfg = (env_dir / "pyvenv.cfg").read_text()
    assert re.search(r"include-system-site-packages\s*=\s*false", cfg), cfg
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    proc = _run([bindir / "python", "-m", "pip", "install", "-q", wheel],
                env=_isolated_env(), cwd=env_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return bindir


@pytest.fixture
def empty(tmp_path) -> Path:
    """An empty working directory, outside the checkout."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    assert ROOT.resolve() not in cwd.resolve().parents
    return cwd


@pytest.fixture(scope="module")
def reglists(tmp_path_factory) -> Path:
    """The register lists, copied out of the checkout."""
    dest = tmp_path_factory.mktemp("reglists") / "reglists"
    shutil.copytree(REGLISTS, dest)
    return dest


def _compat(bindir: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    """Run the venv's own ``compat`` script; never a traceback or internal error."""
    proc = _run([bindir / ("compat.exe" if os.name == "nt" else "compat"), *args],
                cwd=cwd, env=_isolated_env())
    for marker in ("Traceback", "internal error"):
        assert marker not in proc.stderr, f"compat {' '.join(map(str, args))}:\n{proc.stderr}"
    return proc


def _show(proc: subprocess.CompletedProcess) -> str:
    return f"rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def test_installed_compat_is_the_venvs(installed, empty):
    code = ("import sys, compat, compat.cli, compat.plugins; "
            "print(compat.__file__); print(compat.plugins.__file__); print(sys.flags.no_user_site)")
    proc = _run([installed / "python", "-c", code], cwd=empty, env=_isolated_env())
    assert proc.returncode == 0, proc.stderr
    env_dir = installed.parent.resolve()
    for line in proc.stdout.splitlines()[:2]:
        where = Path(line).resolve()
        assert env_dir in where.parents, where
        assert ROOT.resolve() not in where.parents, where


def test_installed_venv_has_no_system_site_packages(installed, empty):
    code = "import json, sys; print(json.dumps(sys.path))"
    proc = _run([installed / "python", "-c", code], cwd=empty, env=_isolated_env())
    assert proc.returncode == 0, proc.stderr
    env_dir = str(installed.parent.resolve())
    leaks = [p for p in json.loads(proc.stdout)
             if "site-packages" in p and not str(Path(p).resolve()).startswith(env_dir)]
    assert not leaks, leaks


def test_installed_imports_every_module(installed, empty):
    """Every module of the checkout imports from the installed package (a
    subpackage left out of the wheel fails here by name)."""
    names = _module_names()
    code = ("import importlib, json, sys\n"
            "bad = {}\n"
            "for name in json.loads(sys.argv[1]):\n"
            "    try:\n"
            "        mod = importlib.import_module(name)\n"
            "        if not mod.__file__.startswith(sys.prefix):\n"
            "            bad[name] = 'imported from ' + mod.__file__\n"
            "    except Exception as exc:\n"
            "        bad[name] = f'{type(exc).__name__}: {exc}'\n"
            "print(json.dumps(bad))\n")
    proc = _run([installed / "python", "-c", code, json.dumps(names)], cwd=empty,
                env=_isolated_env())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {}, proc.stdout


def test_installed_commands_are_the_checkouts(installed, empty):
    code = "import json; from compat.cli import COMMANDS; print(json.dumps(list(COMMANDS)))"
    proc = _run([installed / "python", "-c", code], cwd=empty, env=_isolated_env())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == COMMANDS


def test_installed_top_level_help(installed, empty):
    proc = _compat(installed, "--help", cwd=empty)
    assert proc.returncode == 0, _show(proc)
    for name in COMMANDS:
        assert re.search(rf"^\s+{re.escape(name)}\s", proc.stdout, re.M), (name, proc.stdout)
    proc = _compat(installed, "--version", cwd=empty)
    assert proc.returncode == 0 and proc.stdout.startswith("compat "), _show(proc)
    proc = _compat(installed, cwd=empty)
    assert proc.returncode == 2, _show(proc)
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_installed_command_help(installed, empty, command):
    proc = _compat(installed, command, "--help", cwd=empty)
    assert proc.returncode == 0, _show(proc)
    assert proc.stdout.startswith(f"usage: compat {command}"), proc.stdout
    assert proc.stderr == ""
    assert list(empty.iterdir()) == []


# One real run of each command, from an empty directory (so the bundled
# registry is the default).  Each returns nothing; it asserts.

def _validate(bindir, cwd, lists):
    proc = _compat(bindir, "validate", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    # the report's last line (warnings of promises no rule keeps may come first)
    assert re.search(r"^<bundled>/registry\.toml: valid: \d+ registers, .*machine types",
                     proc.stdout, re.M), proc.stdout


def _build(bindir, cwd, lists):
    out = cwd.parent / "out"
    proc = _compat(bindir, "build", "-o", out, cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert re.search(r"wrote (\d+) of \1 files", proc.stdout), proc.stdout
    names = {p.name for p in out.iterdir()}
    assert {"registry.json", "arm-virt-kernel-compat.c.inc"} <= names, names
    registry = json.loads((out / "registry.json").read_text())
    assert registry, "empty registry.json"
    proc = _compat(bindir, "build", "-o", out, "--check", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert "up to date" in proc.stdout, proc.stdout
    # The installed package generates exactly what the checkout does.
    ref = cwd.parent / "ref"
    env = _isolated_env()
    env["PYTHONPATH"] = str(ROOT)
    proc = _run([sys.executable, "-m", "compat", "build", "-o", ref], cwd=cwd, env=env)
    assert proc.returncode == 0, _show(proc)
    for path in sorted(ref.iterdir()):
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name
    assert names == {p.name for p in ref.iterdir()}


def _check(bindir, cwd, lists):
    old, new = lists / "n1-linux-6.12.reglist", lists / "n1-linux-6.16.reglist"
    proc = _compat(bindir, "check", "--machine", "virt-10.1", old, new, cwd=cwd)
    assert proc.returncode == 0, _show(proc)       # documented: 0 the migration passes
    assert "n1 6.12 -> n1 6.16" in proc.stdout and ": ok" in proc.stdout, proc.stdout
    proc = _compat(bindir, "check", old, new, cwd=cwd)
    assert proc.returncode == 1, _show(proc)       # documented: 1 it fails
    assert "FAILS" in proc.stdout and "cpreg_vmstate_array_len" in proc.stdout, proc.stdout


def _audit(bindir, cwd, lists):
    files = sorted(lists.glob("*.reglist"))
    proc = _compat(bindir, "audit", *files, cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert re.search(rf"audited \d+ migrations among {len(files)} register lists", proc.stdout), \
        proc.stdout
    assert "ok:" in proc.stdout, proc.stdout


def _diff(bindir, cwd, lists):
    proc = _compat(bindir, "diff", lists / "n1-linux-6.12.reglist",
                   lists / "n1-linux-6.16.reglist", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert re.search(r"^- 0x603000000013c103 TCR2_EL1", proc.stdout, re.M), proc.stdout
    assert "breaks forward migration" in proc.stdout, proc.stdout


def _decode(bindir, cwd, lists):
    proc = _compat(bindir, "decode", "0x603000000013c103", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert "op0:3 op1:0 crn:2 crm:0 op2:3" in proc.stdout and "TCR2_EL1" in proc.stdout


def _encode(bindir, cwd, lists):
    proc = _compat(bindir, "encode", "ARM64_SYS_REG(3,0,10,2,3)", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert proc.stdout == "0x603000000013c513\n", proc.stdout


def _explain(bindir, cwd, lists):
    proc = _compat(bindir, "explain", "KVM_REG_ARM_VENDOR_HYP_BMAP_2", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert "0x6030000000160003" in proc.stdout and "compat: hide" in proc.stdout, proc.stdout


def _plugins(bindir, cwd, lists):
    proc = _compat(bindir, "plugins", "--json", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["compat-props"]["source"] == "builtin", rows
    assert all(row["source"] == "builtin" and not row.get("error") for row in rows.values()), rows
    assert any(o["name"] == "compat-props" for o in rows["compat-props"]["outputs"]), rows
    proc = _compat(bindir, "plugins", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert "compat-props" in proc.stdout and "(builtin)" in proc.stdout


def _new_register(bindir, cwd, lists):
    proc = _compat(bindir, "new-register", "--kernel", "6.17", "ARM64_SYS_REG(3,0,10,2,3)",
                   cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert "[registers.PIR_EL1]" in proc.stdout, proc.stdout
    assert '"0x603000000013c513"' in proc.stdout, proc.stdout


def _collect(bindir, cwd, lists):
    proc = _compat(bindir, "collect", cwd=cwd)
    if platform.machine() not in ("aarch64", "arm64"):
        assert proc.returncode == 1, _show(proc)     # a clear refusal, not a crash
        assert "needs an arm64 host" in proc.stderr and "compat lab collect" in proc.stderr
    else:   # an arm64 host: a list where KVM is usable, a clear refusal where not
        usable = os.access("/dev/kvm", os.R_OK | os.W_OK)
        assert proc.returncode == (0 if usable else 1), _show(proc)


def _lab(bindir, cwd, lists):
    if shutil.which("apt-get") is None:
        pytest.skip("the lab reaches Debian's archive through apt")
    proc = _compat(bindir, "lab", "kernels", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert re.search(r"^7\.3\S*\s+7\.3\s", proc.stdout, re.M), proc.stdout


def _samples(bindir, cwd, lists):
    """The README's tour on the bundled lists: no checkout needed."""
    proc = _compat(bindir, "samples", cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    assert "compat/data/samples" in proc.stdout and "Linux 7.3, 332 entries" in proc.stdout
    out = cwd.parent / "samples"
    proc = _compat(bindir, "samples", "-o", out, cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    old, new = out / "qemu7.2-max-linux-7.2.13+deb14.reglist", \
        out / "qemu7.2-max-linux-7.3.4+deb13.reglist"
    assert "PMMIR_EL1" in (out / "README.md").read_text()
    proc = _compat(bindir, "check", old, new, cwd=cwd)
    assert proc.returncode == 0, _show(proc)
    proc = _compat(bindir, "check", new, old, "--rules", "qemu-11.1", cwd=cwd)
    assert proc.returncode == 1 and "PMMIR_EL1" in proc.stdout, _show(proc)


REAL_RUNS = {
    "collect": _collect,
    "lab": _lab,
    "validate": _validate,
    "build": _build,
    "check": _check,
    "audit": _audit,
    "diff": _diff,
    "decode": _decode,
    "encode": _encode,
    "explain": _explain,
    "plugins": _plugins,
    "new-register": _new_register,
    "samples": _samples,
}


def test_every_command_has_a_real_run():
    """A new command in compat.cli.COMMANDS needs a real run here too."""
    assert sorted(REAL_RUNS) == sorted(COMMANDS), \
        f"commands without a real run: {sorted(set(COMMANDS) - set(REAL_RUNS))}; " \
        f"runs of commands that do not exist: {sorted(set(REAL_RUNS) - set(COMMANDS))}"


@pytest.mark.parametrize("command", sorted(REAL_RUNS))
def test_installed_real_run(installed, empty, reglists, command):
    REAL_RUNS[command](installed, empty, reglists)
    assert list(empty.iterdir()) == [], "the command wrote into its working directory"


def test_installed_python_dash_m(installed, empty):
    proc = _run([installed / "python", "-m", "compat", "encode", "TCR2_EL1"], cwd=empty,
                env=_isolated_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0x603000000013c103\n"
