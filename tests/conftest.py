"""Shared fixtures: paths to real inputs and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Copied from the shared data set so a clean clone of the project is enough.
REGLISTS = ROOT / "tests" / "data" / "reglists"
BUNDLED = ROOT / "registry.toml"


@dataclass
class Result:
    """What one ``compat`` run printed and returned."""

    rc: int
    out: str
    err: str


def run_compat(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
               stdin: str | None = None, timeout: float = 120) -> Result:
    """Run ``python -m compat ARGS`` in a subprocess, as a user would."""
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONHASHSEED", "0")
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "compat", *args], cwd=cwd, env=full_env,
                          input=stdin, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def compat_cli():
    """``compat_cli("validate", "-r", path)`` -> :class:`Result`."""
    return run_compat


@pytest.fixture
def reglists() -> Path:
    """The directory of real ``KVM_GET_REG_LIST`` dumps."""
    return REGLISTS


@pytest.fixture
def bundled_text() -> str:
    """The bundled registry's text."""
    return BUNDLED.read_text()
