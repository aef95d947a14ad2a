"""The real process and the in-process runner agree, for every command.

Most tests run ``compat`` in the test process (``compat_cli``,
tests/clirun.py); these run each command both ways, once, and require the
same exit status, stdout and stderr: the real entry point (``python -m
compat``: the interpreter's own exit, its final flush, a fresh hash seed)
adds nothing the in-process runs miss, and each command ends cleanly there
(no traceback).  One case per command, an error where the command has one,
since error paths are where a process and a function call differ most.
"""

from __future__ import annotations

import pytest

from compat.cli import COMMANDS
from conftest import BUNDLED, REGLISTS, ROOT

R12, R13 = str(REGLISTS / "n1-linux-6.12.reglist"), str(REGLISTS / "n1-linux-6.13.reglist")

#: command -> (arguments, the exit status the command gives for them)
CASES: dict[str, tuple[list[str], int]] = {
    "validate": (["-r", str(ROOT / "tests" / "broken" / "bad-kernel-version.toml")], 1),
    "build": (["-r", str(BUNDLED), "--check", "-o", "{tmp}/none", "--only", "registry-json"], 1),
    "decode": (["0x603000000013c103", "zz"], 1),
    "encode": (["NO_SUCH_REGISTER"], 1),
    "explain": (["TCR2_EL1"], 0),
    "plugins": (["--json"], 0),
    "check": ([R12, R13, "--no-such-option"], 2),
    "audit": ([R12, R13, "--machine", "virt-10.1"], 0),
    "diff": ([R12, R13], 0),
    "new-register": (["0x603000000013c103", "--kernel", "6.12"], 0),   # the scaffold
    "collect": (["-o", "{tmp}/out.reglist"], 1),   # no /dev/kvm here, or not arm64
    "lab": (["merge", "-o", "{tmp}/merged"], 2),
    "samples": ([], 0),
}


def test_every_command_has_a_case():
    assert set(CASES) == set(COMMANDS)


@pytest.mark.process("the real entry point against the in-process runner, per command")
@pytest.mark.parametrize("command", sorted(CASES))
def test_process_and_in_process_runs_agree(compat_cli, compat_process, tmp_path, command):
    args, status = CASES[command]
    argv = [command, *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    real = compat_process(*argv, cwd=tmp_path)
    here = compat_cli(*argv, cwd=tmp_path)
    assert real.rc == status, real
    assert "Traceback" not in real.err and "internal error" not in real.err, real.err
    assert (here.rc, here.out, here.err) == (real.rc, real.out, real.err)


# -- the in-process runner leaves nothing behind --------------------------------

def test_in_process_runs_restore_what_they_change(compat_cli, tmp_path):
    """Environment, working directory, streams and the --color mode are the
    test's own again after a run, so one run cannot colour the next."""
    import os
    import sys

    from compat.core import style
    before = (dict(os.environ), os.getcwd(), sys.stdout, sys.stderr, sys.stdin, style._mode)
    r12 = str(REGLISTS / "n1-linux-6.12.reglist")
    r13 = str(REGLISTS / "n1-linux-6.13.reglist")
    forced = compat_cli("check", r12, r13, "--color", "always", cwd=tmp_path,
                        env={"COMPAT_TEST_MARK": "1"})
    assert "\033[" in forced.out
    assert (dict(os.environ), os.getcwd(), sys.stdout, sys.stderr, sys.stdin,
            style._mode) == before
    assert "\033[" not in compat_cli("check", r12, r13).out


def test_in_process_runner_answers_like_a_process(compat_cli):
    """argparse's SystemExit is an exit status; a variable only an
    interpreter's start reads is refused rather than silently ignored."""
    assert compat_cli("decode", "--help").rc == 0
    assert compat_cli("decode", "--no-such-option").rc == 2
    with pytest.raises(ValueError, match="PYTHONHASHSEED"):
        compat_cli("validate", env={"PYTHONHASHSEED": "1"})


def test_reused_loads_answer_as_fresh_ones(compat_cli, tmp_path):
    """An in-process run reuses an earlier run's loaded registry only for
    the same bytes (clirun._reused_loads): the build it gives is the fresh
    load's, byte for byte, and a file edited in place is loaded again."""
    import clirun
    from compat.load import pipeline

    registry = tmp_path / "registry.toml"
    registry.write_text(BUNDLED.read_text())
    reused, fresh = tmp_path / "reused", tmp_path / "fresh"
    for out in (reused, reused):  # the second build answers from the first's load
        assert compat_cli("build", "-r", registry, "-o", out).rc == 0
    key = next(k for k in clirun._LOADED if k[0] == str(registry.resolve()))
    assert compat_cli("build", "-r", registry, "-o", fresh,
                      env={"COMPAT_TESTS_FRESH_LOADS": "1"}).rc == 0
    assert {p.name: p.read_bytes() for p in reused.iterdir()} == \
        {p.name: p.read_bytes() for p in fresh.iterdir()}
    assert pipeline.load.__module__ == "compat.load.pipeline"  # put back after each run

    registry.write_text(BUNDLED.read_text().replace("description = ", "descriptio = ", 1))
    edited = compat_cli("validate", "-r", registry)
    assert edited.rc == 1 and "registry.toml:" in edited.err, edited
    assert key in clirun._LOADED
