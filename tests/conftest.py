"""Shared fixtures: paths to real inputs and the CLI runners.

Running ``compat`` in a test (see tests/README.md):

- ``compat_cli(*args, cwd=, env=, stdin=)`` (or ``run_compat`` imported from
  here) runs the command **in this process** through ``compat.cli.main``:
  the default, for everything a command does (its output, exit status,
  files).  About 0.02-0.04 s of CPU a run, against 0.25-0.4 s for a new
  interpreter that imports compat.
- ``compat_process(...)`` (or ``run_compat_process``) starts ``python -m
  compat``: only where the process is the point (the real entry point's
  exit status and stderr, hash seeds, locales, signals, closed stdout), in a
  test marked ``@pytest.mark.process("why")``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _bytecode_cache() -> None:
    """Keep compiled bytecode between runs, outside the checkout.

    Under ``PYTHONDONTWRITEBYTECODE`` (set on this project's machines) every
    interpreter compiles compat's sources again, and each pytest-xdist
    worker rewrites and compiles every test module again: about 2 s of
    CPU per worker and 0.1 s per ``python -m compat`` a test starts.  The
    tests keep bytecode under ``$XDG_CACHE_HOME/compat-tests/pycache``
    instead (Python's ``PYTHONPYCACHEPREFIX``: never a ``__pycache__`` in
    the tree), for themselves and for every process they start.  A prefix
    the user set is kept."""
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "compat-tests", "pycache")
    os.environ["PYTHONPYCACHEPREFIX"] = prefix
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.pycache_prefix = prefix
    sys.dont_write_bytecode = False


_bytecode_cache()  # before compat and the test modules are imported

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

import clirun  # noqa: E402
from clirun import Result, run_compat, run_compat_process  # noqa: E402,F401 - re-exported

#: pytest's own ``pytester`` fixture: a pytest session inside this one
#: (test_testing_kit.py runs a plugin author's suite with it)
pytest_plugins = ["pytester"]

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


@pytest.fixture(autouse=True)
def _fresh_loads_under_monkeypatch(request):
    """A test that patches something (``monkeypatch``) may have patched
    what loading a registry calls: its in-process runs load every time
    instead of reusing an earlier run's registry (``clirun._reused_loads``)."""
    clirun.REUSE_LOADS = "monkeypatch" not in request.fixturenames
    yield
    clirun.REUSE_LOADS = True


@pytest.fixture
def compat_cli():
    """``compat_cli("validate", "-r", path)`` -> :class:`Result`: ``compat``
    run in this process (:func:`clirun.run_compat`).  The way to test what a
    command does."""
    return run_compat


@pytest.fixture
def compat_process(request):
    """``compat_process("validate")`` -> :class:`Result`: a real ``python -m
    compat`` process (:func:`clirun.run_compat_process`), for a test whose
    point is the process itself; the test must say why with
    ``@pytest.mark.process("why")``."""
    marker = request.node.get_closest_marker("process")
    if marker is None or not marker.args:
        pytest.fail("a test using compat_process needs @pytest.mark.process(\"why\"): "
                    "what only a real process shows (else use compat_cli, in-process)")
    return run_compat_process


@pytest.fixture
def reglists() -> Path:
    """The directory of real ``KVM_GET_REG_LIST`` dumps."""
    return REGLISTS


@pytest.fixture
def bundled_text() -> str:
    """The bundled registry's text."""
    return BUNDLED.read_text()
