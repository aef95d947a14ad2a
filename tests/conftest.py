"""Shared fixtures: paths to real inputs and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings

# -- hypothesis profiles ------------------------------------------------------
# "ci" (the default): deterministic (derandomized, no example database) and
# bounded, so the fast set takes the same time and finds the same things on
# every run.  "thorough": each test's own number of examples as written in
# its @settings, randomized where the test does not pin derandomize, with
# the example database: for hunting new failures (save what it finds under
# tests/corpus/).  Choose with HYPOTHESIS_PROFILE=thorough.
CI_MAX_EXAMPLES = 40
settings.register_profile("ci", max_examples=CI_MAX_EXAMPLES, derandomize=True,
                          database=None, deadline=None)
settings.register_profile("thorough", max_examples=100_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def examples(wanted: int) -> int:
    """A test's number of examples under the loaded profile: ``wanted``,
    capped by the profile's ``max_examples`` (an explicit ``max_examples``
    in ``@settings`` would otherwise override the profile)."""
    return min(wanted, settings.default.max_examples)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A ``lab`` test (boots a kernel, or asks the package archive) and a
    ``browser`` test (starts Chromium) is ``slow`` too, so the fast set
    ``-m "not slow"`` reaches neither the network nor a browser."""
    for item in items:
        if item.get_closest_marker("lab") or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)


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
