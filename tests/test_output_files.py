"""The tests that check how output files are written take the list of files
from the plugins, so a new output is covered without editing them."""

from __future__ import annotations

import ast

import pytest

from conftest import ROOT
from output_files import bundled_output_files, golden_files


def test_the_derived_files_are_the_golden_files():
    files = bundled_output_files()
    assert files and len(set(files)) == len(files)
    assert set(files) == golden_files()


@pytest.mark.parametrize("test", ["test_output_safety.py", "test_meson.py"])
def test_no_hand_list_of_output_files(test):
    """No list, set or tuple literal names three or more output files (a
    test may still name the one file it is about)."""
    files = set(bundled_output_files())
    tree = ast.parse((ROOT / "tests" / test).read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Set, ast.Tuple)):
            named = {e.value for e in node.elts
                     if isinstance(e, ast.Constant) and e.value in files}
            assert len(named) < 3, f"{test}:{node.lineno}: a hand list of outputs {named}"
