"""tomli (the compiled parser loading uses) and tomllib (its fallback) read
every registry the same way: same data, or the same error at the same
position, and so the same ``file:line:col: error`` from ``compat``."""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clirun import run_compat

from conftest import BUNDLED, ROOT, examples
from test_hostile import mutated_text

from compat.core.diagnostics import CompatError
from compat.load import source

CORPORA = sorted([*(ROOT / "tests" / "broken").glob("*.toml"),
                  *(ROOT / "tests" / "corpus").glob("*.toml"), BUNDLED])
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN (TOML's ``nan`` is a float NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def _parse(module, text: str):
    try:
        return "data", module.loads(text)
    except module.TOMLDecodeError as exc:
        return "error", str(exc)
    except RecursionError:
        return "error", "too deep"


def _compat_answer(parser, text: str) -> str:
    """What loading ``text`` says with ``parser`` in place."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(source, "toml_parser", parser)
        patch.setattr(source, "TOMLDecodeError", parser.TOMLDecodeError)
        try:
            return repr(sorted(source.load_toml_text(text, "r.toml").data))
        except CompatError as exc:
            return str(exc)


def _assert_agree(text: str) -> None:
    fast, reference = _parse(tomli, text), _parse(tomllib, text)
    assert fast[0] == reference[0], (fast, reference)
    if fast[0] == "data":
        assert _same(fast[1], reference[1])
    else:
        assert fast[1] == reference[1]
    assert _compat_answer(tomli, text) == _compat_answer(tomllib, text)


def test_loading_uses_tomli():
    """The dependency is installed and loading picks it (compiled where a
    wheel exists: that is the point of it)."""
    assert source.toml_parser is tomli
    assert tomli.__version__.split(".")[0] == "2"


@pytest.mark.parametrize("path", CORPORA, ids=lambda p: p.name)
def test_parsers_agree_on_corpora(path):
    text = path.read_bytes().decode("utf-8", errors="replace")
    _assert_agree(text)


def test_corpora_include_syntax_errors():
    """The corpora hold documents both parsers refuse, so agreeing on errors
    is tested, not only agreeing on data."""
    refused = [p.name for p in CORPORA if _parse(tomllib, p.read_text(errors="replace"))[0] == "error"]
    assert "toml-syntax.toml" in refused


@settings(max_examples=examples(150), **SETTINGS)
@given(text=mutated_text())
def test_parsers_agree_on_mutated_registries(text):
    _assert_agree(text)


_TOML_BITS = st.sampled_from([
    "a", "b.c", '"q"', "'l'", " ", "=", "\n", "[", "]", "[[", "]]", "{", "}", ",", ".",
    "1", "-0", "+1_000", "0x1F", "0o7", "0b1", "1e3", "inf", "nan", "true", "false",
    '"""', "'''", "\\", "\\e", "\\x41", "\\u00e9", "#", "\t", "\r\n",
    "1979-05-27", "T07:32", ":00", "Z", "+01:00", ".5",
])


@settings(max_examples=examples(300), **SETTINGS)
@given(parts=st.lists(st.one_of(_TOML_BITS, st.text(max_size=3)), max_size=30))
def test_parsers_agree_on_generated_toml(parts):
    """Token soup around TOML's corners, including TOML 1.1's (escapes
    ``\\e`` and ``\\x``, times without seconds, newlines in inline tables),
    which neither parser may accept."""
    _assert_agree("".join(parts))


@pytest.mark.parametrize("text", [
    'a = {x = 1,\n y = 2}\n',
    'a = {x = 1, }\n',
    'a = "\\e"\n',
    'a = "\\x41"\n',
    'a = 12:30\n',
    'a = 1979-05-27T07:32Z\n',
])
def test_toml_1_1_is_refused_by_both(text):
    """tomli 2.4 reads TOML 1.1; pyproject.toml keeps it below 2.4 so that a
    registry means the same whichever parser is installed."""
    with pytest.raises(tomli.TOMLDecodeError):
        tomli.loads(text)
    _assert_agree(text)


@pytest.mark.process("the TOML parser is chosen once, when compat is first imported")
def test_fallback_without_tomli(tmp_path: Path):
    """Without tomli, loading falls back to tomllib and reports the same
    located syntax error."""
    bad = ROOT / "tests" / "broken" / "toml-syntax.toml"
    code = ("import sys; sys.modules['tomli'] = None\n"
            "from compat.load import source\n"
            "print(source.toml_parser.__name__)\n"
            "from compat.cli import main\n"
            f"sys.exit(main(['validate', '-r', {str(bad)!r}]))\n")
    fallback = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=tmp_path)
    normal = run_compat("validate", "-r", str(bad), cwd=tmp_path)
    assert fallback.stdout.splitlines()[0] == "tomllib"
    assert fallback.returncode == normal.returncode == 1
    assert "toml-syntax.toml:" in normal.stderr and "TOML syntax" in normal.stderr
    assert fallback.stderr == normal.stderr


def _nested(kind: str, depth: int) -> str:
    if kind == "arrays":
        return "a = " + "[" * depth + "]" * depth + "\n"
    return "a = " + "{x = " * depth + "1" + "}" * depth + "\n"


@pytest.mark.parametrize("kind", ["arrays", "tables"])
@pytest.mark.parametrize("depth", [1, 50, 300, 450, 600, 2000])
def test_compat_agrees_on_nesting(kind, depth):
    """compat reads nesting the same with either parser: tomli stops after
    400 levels, where loading asks tomllib (which reads arrays 496 deep);
    past 500, both refuse with the same located error.  (The one difference
    left: tomli reads inline tables nested 331-400 deep, which tomllib
    refuses; a registry nests 4 deep.)"""
    text = _nested(kind, depth)
    assert _compat_answer(tomli, text) == _compat_answer(tomllib, text)
    if depth >= 600:
        assert "TOML nesting is too deep to read" in _compat_answer(tomli, _nested(kind, depth))


def test_thousands_of_dotted_key_parts_load():
    """tomli runs out of stack on 3000 dotted parts (tomllib reads them:
    loading asks it then), and a key path deeper than Python's recursion
    loads as parsed."""
    text = "a." * 3000 + "b = 1\n"
    assert _compat_answer(tomli, text) == _compat_answer(tomllib, text)
    doc = source.load_toml_text(text, "r.toml")
    node = doc.data
    for _ in range(3000):
        node = node["a"]
    assert node == {"b": 1}
