"""The entities-only position scan steps over runs of one-line ``key = value``
lines in one regex match (``_FLAT_LINES``); what it records must be exactly
what the key-by-key path records, on every valid TOML text: the checked-in
registries, generated ones, the bundled registry with its text and values
mutated (hypothesis), and hand-made lines at the edges of the shortcut."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from compat.load import source
from conftest import BUNDLED, ROOT
from hostile_util import dump_toml
from test_hostile import mutated_data, mutated_text

sys.path.insert(0, str(ROOT / "benchmarks"))
from gen_registry import generate  # noqa: E402


def _tree(node: "source._Node", path: tuple = ()) -> dict:
    out = {path: (node.key, node.value, node.count, node.skipped, node.role)}
    for key, child in (node.children or {}).items():
        out.update(_tree(child, path + (key,)))
    return out


def _scan(text: str, flat: bool) -> dict:
    root = source._Node(source._ROOT)
    scanner = source._Scanner(text, root, entities_only=True)
    scanner.flat_lines = flat
    scanner.run()
    return _tree(root)


def _same_scan(text: str) -> None:
    try:
        source._parse(text)
    except (source.TOMLDecodeError, ValueError, RecursionError):
        return  # positions are only scanned in valid TOML
    assert _scan(text, True) == _scan(text, False)


def test_the_shortcut_is_taken_and_agrees_on_a_generated_registry():
    text = generate(300)
    assert source._FLAT_LINES.match(text, text.index("description =", text.index("[registers.")))
    _same_scan(text)


@pytest.mark.parametrize("path", [BUNDLED, *sorted((ROOT / "tests").rglob("*.toml"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_checked_in_toml_scans_the_same(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return
    _same_scan(text)


EDGES = [
    'a = "x # not a comment" # a comment\nb = 1\n',
    "a = 'it''s'\n",                      # invalid: not scanned
    'a = """\nmulti\n"""\nb = 2\n',      # multi-line string: the slow path
    "a = [\n  1,\n  2,\n]\nb = 3\n",     # multi-line array
    'a = { x = "}", y = [1] }\nb = 4\n',  # nested array: the slow path
    'a = ["]", "[", \'{\']\nb = 5\n',
    "a.b = 1\nc = 2\n",                  # dotted key
    '"quoted" = 1\nd = 2\n',
    "a = 1979-05-27 07:32:00Z\nb = 1979-05-27\nc = 07:32:00\n",
    "a = 1\r\nb = 2\r\n",
    "a = 1\n\n# comment\n   \n  b = 2",    # no final newline
    "a = inf\nb = -nan\nc = +1_000\nd = 0x_ff\ne = true\n",
    'changes = 1\nchanges2 = 2\n',
    'x = "a\\"b" # c\n',
]


@pytest.mark.parametrize("body", EDGES)
@pytest.mark.parametrize("table", ["[registers.R]", "[[registers.R.changes]]",
                                   "[registers.R.encoding]", "[other]", ""])
def test_edge_lines_scan_the_same(table, body):
    _same_scan(f"{table}\n{body}")
    _same_scan(f"{table}\n{body}\n[registers.S]\n{body}")


@given(mutated_text())
def test_mutated_text_scans_the_same(text):
    _same_scan(text)


@given(mutated_data())
def test_mutated_data_scans_the_same(data):
    try:
        text = dump_toml(data)
    except (TypeError, ValueError):
        return
    _same_scan(text)


@given(st.text(alphabet=st.sampled_from(list("ab=\"'#[]{}.,\n \t1-:")), max_size=80))
def test_random_lines_in_a_register_scan_the_same(body):
    _same_scan("[registers.R]\n" + body + "\n[registers.S]\nx = 1\n")
