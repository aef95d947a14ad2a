"""Golden files: the bundled registry's outputs, byte for byte.

The golden copies in tests/golden/ are what a reviewer reads to see what a
registry change does to QEMU's sources.  Other tests check what they mean
(test_c_outputs compiles and runs the C, test_docs_outputs parses the rST).
After an intended change, regenerate them with::

    COMPAT_REGEN_GOLDEN=1 python3 -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compat.load import pipeline as build
from conftest import BUNDLED, run_compat, run_compat_process

GOLDEN = Path(__file__).resolve().parent / "golden"


def rendered() -> dict[str, str]:
    loaded = build.load(BUNDLED, "registry.toml")
    return build.render(loaded, build.select_outputs(loaded))


def test_outputs_match_golden_files():
    files = rendered()
    if os.environ.get("COMPAT_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        for old in GOLDEN.iterdir():
            old.unlink()
        for rel, text in files.items():
            (GOLDEN / rel).write_text(text)
        pytest.skip("golden files regenerated")
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(files)
    for rel, text in files.items():
        assert (GOLDEN / rel).read_text() == text, (
            f"{rel} differs from tests/golden/{rel}; if the change is intended, "
            "regenerate with COMPAT_REGEN_GOLDEN=1")


@pytest.mark.process("a hash seed other than the tests' own is chosen when an interpreter starts")
def test_cli_build_is_byte_identical_to_golden(tmp_path: Path):
    result = run_compat_process("build", "-r", str(BUNDLED), "-o", str(tmp_path / "out"),
                        cwd=tmp_path, env={"PYTHONHASHSEED": "4242"})
    assert result.rc == 0, result.err
    for golden in GOLDEN.iterdir():
        assert (tmp_path / "out" / golden.name).read_bytes() == golden.read_bytes()


def test_check_against_golden_directory_is_clean():
    result = run_compat("build", "-r", str(BUNDLED), "-o", str(GOLDEN), "--check")
    assert result.rc == 0, result.out + result.err
