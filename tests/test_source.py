"""Positions of keys in TOML text (compat/source.py)."""

from compat.load.source import load_toml_text

NESTED = """\
[[a]]
x = 1
[[a.b]]
y = 1
[[a.b]]
y = 2
[[a]]
x = 2
[[a.b]]
y = 3
"""


def test_nested_arrays_of_tables_are_located_per_element():
    doc = load_toml_text(NESTED, "t.toml")
    assert str(doc.locate(("a", 0, "b", 0, "y"))) == "t.toml:4:5"
    assert str(doc.locate(("a", 0, "b", 1, "y"))) == "t.toml:6:5"
    assert str(doc.locate(("a", 1, "x"))) == "t.toml:8:5"
    assert str(doc.locate(("a", 1, "b", 0, "y"))) == "t.toml:10:5"


def test_inline_table_values_and_keys():
    doc = load_toml_text('[registers.X]\nencoding = { group = "sysreg", op0 = 4 }\n', "r.toml")
    assert str(doc.locate(("registers", "X", "encoding", "op0"))) == "r.toml:2:38"
    assert str(doc.locate(("registers", "X"), value=False)) == "r.toml:1:1"
