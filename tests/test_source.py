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


# -- locations of misspelt headers, and nesting ---------------------------------------

def test_typo_in_a_dotted_header_is_located_at_its_line():
    from compat.load.semantic import load_registry_text
    from compat.core.diagnostics import CompatError
    import pytest
    text = "schema-version = 1\n\n[register.TCR2_EL1]\ndescription = \"x\"\n"
    with pytest.raises(CompatError) as info:
        load_registry_text(text, "r.toml")
    assert "r.toml:3:2: error: unknown key 'register'" in str(info.value)


def test_array_of_tables_header_is_located():
    doc = load_toml_text("schema-version = 1\n\n[[registers.Y]]\nx = 1\n", "r.toml")
    assert str(doc.locate(("registers", "Y"), value=False)) == "r.toml:3:1"
    assert str(doc.locate(("registers", "Y"))) == "r.toml:3:1"
    assert str(doc.locate(("registers",), value=False)) == "r.toml:3:3"


def test_nesting_too_deep_is_located():
    from compat.core.diagnostics import CompatError
    import pytest
    text = "schema-version = 1\n# [[[ in a comment\ns = '[[[['\nx = " + "[" * 2000 + "]" * 2000 + "\n"
    with pytest.raises(CompatError) as info:
        load_toml_text(text, "r.toml")
    assert "r.toml:4:2004: error: TOML nesting is too deep" in str(info.value)


# -- the scanner is linear ---------------------------------------------------------------

def _count_steps(text):
    """Work of a full scan, counted as calls of the scanner's methods (not
    timed: speed belongs to benchmarks/)."""
    import collections
    from compat.load import source
    calls = collections.Counter()
    original = source._Node.child

    def child(self, part):
        calls["child"] += 1
        return original(self, part)

    source._Node.child = child
    try:
        index = source.PositionIndex.scan(text)
    finally:
        source._Node.child = original
    return index, calls["child"]


def test_long_dotted_headers_scan_linearly():
    """100 headers of 3,000 dotted parts: a scan in steps proportional to
    the parts (the old scanner built a tuple per prefix: 450 million parts)."""
    parts = 3000
    text = "".join("[" + ".".join(["a"] * parts) + f".h{j}]\nx = 1\n" for j in range(100))
    index, steps = _count_steps(text)
    assert steps <= 2 * 100 * (parts + 2)
    node = index.find(("a",) * parts + ("h99", "x"))
    assert node is not None and index.line_col(node.key) == (200, 1)


def test_nested_array_of_table_headers_scan_linearly():
    """Headers [[a]], [[a.a]], ... 1,200 deep: steps proportional to the
    text (the old scanner was quadratic per header, cubic in all)."""
    depth = 1200
    text = "".join("[[" + ".".join(["a"] * k) + "]]\n" for k in range(1, depth + 1))
    index, steps = _count_steps(text)
    assert steps <= len(text)
    path = ("a", 0) * depth
    node = index.find(path)
    assert node is not None and index.line_col(node.key) == (depth, 1)


def test_lazy_index_completes_itself_for_a_deep_path():
    text = '[registers.X]\nsources = ["a", "b"]\nchanges = [ { kernel = "6.1" } ]\n'
    from compat.load.source import PositionIndex
    index = PositionIndex.scan(text, entities_only=True)
    assert not index.complete
    assert index.locate("f", ("registers", "X", "changes", 0), value=False).line == 3
    assert not index.complete  # entities are known without the full scan
    assert str(index.locate("f", ("registers", "X", "sources", 1), value=True)) == "f:2:17"
    assert index.complete
