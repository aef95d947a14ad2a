"""``compat build`` as a meson custom_target with a depfile, built by ninja.

The project also compiles a program from the generated guards, as QEMU's
build would, with warnings as errors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BUNDLED
from output_files import bundled_output_files

C_DIR = Path(__file__).resolve().parent / "c"

MESON_BUILD = """\
project('compat-meson-test', 'c',
        default_options: ['c_std=gnu11', 'warning_level=2', 'werror=true'])
compat = find_program('compat')
gen = custom_target('arm-kvm-compat',
  input: 'registry.toml',
  output: {outputs},
  command: [compat, 'build', '-r', '@INPUT@', '-o', '@OUTDIR@',
            '--depfile', '@DEPFILE@'],
  depfile: 'arm-kvm-compat.d')
executable('guards', 'guards_harness.c', {guards},
           include_directories: include_directories('.'))
"""

pytestmark = pytest.mark.slow


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


@pytest.fixture(scope="module")
def outputs() -> list[str]:
    """The files the build writes, in the order the plugins declare them."""
    return list(bundled_output_files())


@pytest.fixture
def project(tmp_path: Path, outputs: list[str]) -> Path:
    tool("gcc")
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(BUNDLED, src / "registry.toml")
    for name in ("guards_harness.c", "qemu_stubs.h"):
        shutil.copy(C_DIR / name, src / name)
    guards = ", ".join(f"gen[{i}]" for i, name in enumerate(outputs)
                       if name.startswith("arm-compat-guards."))
    (src / "meson.build").write_text(MESON_BUILD.format(
        outputs="[" + ", ".join(f"'{o}'" for o in outputs) + "]", guards=guards))
    return src


def ninja(build: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([tool("ninja"), "-C", str(build), *args], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_meson_custom_target_with_depfile(project: Path, tmp_path: Path, outputs: list[str]):
    build = tmp_path / "build"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    setup = subprocess.run([tool("meson"), "setup", str(build), str(project)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert setup.returncode == 0, setup.stdout + setup.stderr

    first = ninja(build)
    assert "Generating arm-kvm-compat" in first
    for name in outputs:
        assert (build / name).is_file()
    guards = subprocess.run([str(build / "guards"), "feature", "virt-10.1", "impl-cpu"],
                            capture_output=True, text=True)
    assert guards.returncode == 1 and "impl-cpu" in guards.stdout

    assert "no work to do" in ninja(build)

    # ninja recorded the depfile: the schema and every plugin module are inputs
    deps = ninja(build, "-t", "deps")
    assert "registry.schema.json" in deps
    for module in ("compat_props.py", "mig_tolerances.py", "guards.py", "rst.py"):
        assert module in deps

    time.sleep(1.1)  # coarse file-system timestamps
    (project / "registry.toml").touch()
    assert "Generating arm-kvm-compat" in ninja(build)
    assert "no work to do" in ninja(build)

    # a real change flows through to the compiled program
    text = (project / "registry.toml").read_text()
    (project / "registry.toml").write_text(
        text.replace('{ version = "11.0", min-kernel = "6.15"', '{ version = "11.0", min-kernel = "6.12"'))
    rebuilt = ninja(build)
    assert "Generating arm-kvm-compat" in rebuilt and "guards" in rebuilt
    guards = subprocess.run([str(build / "guards"), "feature", "virt-11.0", "impl-cpu"],
                            capture_output=True, text=True)
    assert guards.returncode == 1, guards.stdout
