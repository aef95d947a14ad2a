"""Hostile input: random and mutated registries, indices and expressions.

Every run must end with exit 0, or exit 1 and a clear message (``file:line``
for registry errors): never exit 3 (internal error), never a traceback,
never a hang.  Inputs that once found a bug are kept in ``tests/corpus/``
and replayed by :func:`test_corpus_replays`.
"""

from __future__ import annotations

import copy
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from conftest import BUNDLED, REGLISTS, ROOT, examples
from hostile_util import assert_graceful, dump_toml, run_inproc, toml_string

from compat.core.diagnostics import CompatError

CORPUS = Path(__file__).resolve().parent / "corpus"
BUNDLED_TEXT = BUNDLED.read_text(encoding="utf-8")
BUNDLED_DATA = tomllib.loads(BUNDLED_TEXT)

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

# -- strategies --------------------------------------------------------------

_hostile_strings = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "0x", "0xg", "-1", "18446744073709551616", "0x1" + "0" * 16,
                     "6.12.0", "6", "v6.12", "10.1;x", "A-B", "*/", "??=", "\x00", "\ud7ff",
                     "\u202e", "𝔘nicode", "\\", '"', "virt-10.1", "hide", "tolerate-missing",
                     "added", "removed", "gated", "ungated", "sysreg", "fw", "cp15"]),
)
_hostile_ints = st.one_of(st.integers(-2**70, 2**70),
                          st.sampled_from([0, -1, 2**63, 2**64 - 1, 2**64, -2**63 - 1]))
_scalars = st.one_of(_hostile_strings, _hostile_ints, st.booleans(),
                     st.floats(allow_nan=True, allow_infinity=True))


def _nested(depth: int):
    value = st.integers(0, 3)
    for _ in range(depth):
        value = st.one_of(st.lists(value, max_size=1).map(lambda v: v or [0]),
                          st.dictionaries(st.sampled_from(["a", "x-y"]), value, max_size=1))
    return value


_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=4),
    st.dictionaries(_hostile_strings, _scalars, max_size=3),
    st.integers(1, 60).flatmap(_nested),
)


def _paths(data, prefix=()):
    """Every key path into ``data`` (dicts and lists)."""
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _paths(value, prefix + (i,))


_FREE_TEXT = {"description", "subject", "source", "safe-because", "property"}


def _set(data, path, value):
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _delete(data, path):
    target = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]


@st.composite
def mutated_data(draw):
    """The bundled registry with one to three values replaced, keys added or
    deleted."""
    data = copy.deepcopy(BUNDLED_DATA)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if len(p) > 1 or draw(st.integers(0, 9)) == 0]
        path = draw(st.sampled_from(paths or [("schema-version",)]))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "text", "text"]))
        if action == "text":
            # Free text stays valid: exercises every renderer's escaping.
            texts = [p for p in _paths(data) if p and p[-1] in _FREE_TEXT]
            _set(data, draw(st.sampled_from(texts)), draw(st.text(min_size=1, max_size=60)))
            continue
        try:
            if action == "replace":
                _set(data, path, draw(_values))
            elif action == "delete":
                _delete(data, path)
            else:
                target = data
                for part in path[:-1]:
                    target = target[part]
                if isinstance(target, dict):
                    target[draw(_hostile_strings)] = draw(_values)
                else:
                    target.append(draw(_values))
        except (KeyError, IndexError, TypeError):
            pass
    return data


_TOKENS = ["1", "-1", "0x", "true", "[]", "{}", "1979-05-27", '""', "nan", "[[[1]]]",
           "99999999999999999999", "'''a\n'b'''", '"""\\""""', "-inf", "07:32:00",
           "1979-05-27T07:32:00Z"]


@st.composite
def mutated_text(draw):
    """The bundled text, cut, spliced, with lines duplicated or characters
    inserted: TOML syntax errors, duplicate keys, stray bytes."""
    text = BUNDLED_TEXT
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["truncate", "insert", "dup-line", "drop-line",
                                       "swap-token"]))
        lines = text.split("\n")
        if action == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        elif action == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.one_of(st.text(max_size=8), _hostile_strings)) + text[at:]
        elif action == "dup-line":
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
            text = "\n".join(lines)
        elif action == "drop-line":
            del lines[draw(st.integers(0, len(lines) - 1))]
            text = "\n".join(lines)
        else:
            i = draw(st.integers(0, len(lines) - 1))
            if "=" in lines[i]:
                key = lines[i].split("=", 1)[0]
                lines[i] = f"{key}= {draw(st.sampled_from(_TOKENS))}"
                text = "\n".join(lines)
    return text


# -- the checks ---------------------------------------------------------------


def _try_registry(path: Path, out_dir: Path) -> None:
    """Validate, build, check-build and explain ``path``; all graceful."""
    res = run_inproc("validate", "-r", str(path))
    assert_graceful(res, located=True, context=path.read_bytes()[:4000].decode("utf-8", "replace"))
    res_build = run_inproc("build", "-r", str(path), "-o", str(out_dir))
    assert_graceful(res_build, located=True)
    if res.rc == 0:  # what validate accepts, build builds
        assert res_build.rc == 0, res_build.err
        res = run_inproc("build", "-r", str(path), "-o", str(out_dir), "--check")
        assert res.rc == 0, res.out + res.err
        assert_graceful(run_inproc("explain", "TCR2_EL1", "-r", str(path)))


@settings(max_examples=examples(120), **SETTINGS)
@given(data=mutated_data())
def test_mutated_values(tmp_path_factory, data):
    """Wrong types, huge and negative numbers, unicode, deep nesting."""
    work = tmp_path_factory.mktemp("mut")
    path = work / "registry.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    _try_registry(path, work / "out")


@settings(max_examples=examples(120), **SETTINGS)
@given(text=mutated_text())
def test_mutated_text(tmp_path_factory, text):
    """Syntax errors, duplicate keys and tables, truncation, stray text."""
    work = tmp_path_factory.mktemp("txt")
    path = work / "registry.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _try_registry(path, work / "out")


@settings(max_examples=examples(60), **SETTINGS)
@given(blob=st.binary(max_size=300), keep=st.integers(0, len(BUNDLED_TEXT)))
def test_random_bytes(tmp_path_factory, blob, keep):
    """Arbitrary bytes, alone or appended to a valid prefix."""
    work = tmp_path_factory.mktemp("bin")
    for i, content in enumerate((blob, BUNDLED_TEXT[:keep].encode() + blob)):
        path = work / f"r{i}.toml"
        path.write_bytes(content)
        assert_graceful(run_inproc("validate", "-r", str(path)), located=True)


@settings(max_examples=examples(150), **SETTINGS)
@given(arg=st.one_of(st.text(max_size=40), _hostile_strings,
                     st.integers(-2**80, 2**80).map(hex), st.integers(0, 2**64).map(str),
                     st.builds(lambda a, b: f"ARM64_SYS_REG({a}, {b}, 2, 0, 3)",
                               st.integers(-5, 2**40), st.integers(-5, 9)),
                     st.builds(lambda a: f"KVM_REG_ARM_FW_REG({a})", st.integers(-3, 2**33)),
                     st.builds(lambda a, b: f"{a} | {b}", _hostile_strings, _hostile_strings),
                     st.builds(lambda n, inner: "(" * n + inner + ")" * n,
                               st.integers(1, 3000), st.sampled_from(["1", "", "TCR2_EL1"]))))
def test_decode_encode(arg):
    """Random indices and expressions: answered or refused, never a crash."""
    assume(not arg.startswith("-"))
    for argv in (["decode", arg], ["decode", "--json", arg], ["encode", arg]):
        assert_graceful(run_inproc(*argv), context=repr(argv))


@settings(max_examples=examples(60), **SETTINGS)
@given(lines=st.lists(st.one_of(st.integers(0, 2**64 + 5).map(hex), st.text(max_size=30),
                                st.sampled_from(["# kernel: 6.12", "# kernel: x", "# host:",
                                                 "ARM64_SYS_REG(3, 0, 2, 0, 3),",
                                                 "0x603000000013c103"])), max_size=12),
       machine=st.sampled_from([None, "virt-10.1", "virt-99.0", "virt-", "x"]))
def test_check_random_reglists(tmp_path_factory, lines, machine):
    """``compat check`` on garbage register lists."""
    work = tmp_path_factory.mktemp("chk")
    src = work / "a-linux-6.12.reglist"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    dst = REGLISTS / "n1-linux-6.15.reglist"
    argv = ["check", str(src), str(dst)] + (["--machine", machine] if machine else [])
    assert_graceful(run_inproc(*argv), context=repr(lines))


def test_check_real_reglists_with_mutated_registry(tmp_path):
    """check with a broken registry: a located registry error."""
    path = tmp_path / "registry.toml"
    path.write_text(BUNDLED_TEXT.replace('min-kernel = "6.18"', 'min-kernel = 6.18'))
    res = run_inproc("check", "-r", str(path), str(REGLISTS / "n1-linux-6.12.reglist"),
                     str(REGLISTS / "n1-linux-6.15.reglist"), "--machine", "virt-10.1")
    assert_graceful(res, located=True)
    assert res.rc == 1
    assert f"{path}:" in res.err


def test_deep_nesting_is_refused_cleanly(tmp_path):
    """Arrays nested far beyond any registry's need."""
    for depth in (50, 400, 990, 5000):
        path = tmp_path / f"deep{depth}.toml"
        path.write_text(BUNDLED_TEXT + "\n[extra]\nx = " + "[" * depth + "]" * depth + "\n")
        assert_graceful(run_inproc("validate", "-r", str(path)), located=True)


def test_huge_values(tmp_path):
    """A 5 MB description and a 10k-digit integer."""
    path = tmp_path / "r.toml"
    text = BUNDLED_TEXT.replace('description = "Permission Indirection Register (EL1)',
                                'description = "' + "x" * 5_000_000 + ' (EL1)', 1)
    text = text.replace('number = 3 }', 'number = ' + "9" * 4000 + ' }', 1)
    path.write_text(text)
    res = run_inproc("validate", "-r", str(path))
    assert_graceful(res, located=True)
    assert res.rc == 1


def test_duplicate_key_is_located(tmp_path):
    """A key given twice: TOML forbids it; the error names the line."""
    text = BUNDLED_TEXT.replace('reset = "0x0"\n', 'reset = "0x0"\nreset = "0x1"\n', 1)
    line = text.split("\n").index('reset = "0x1"') + 1
    path = tmp_path / "r.toml"
    path.write_text(text)
    res = run_inproc("validate", "-r", str(path))
    assert res.rc == 1
    assert f"{path}:{line}:" in res.err, res.err


@pytest.mark.slow
def test_100k_registry_validates(tmp_path):
    """A generated 100k-register registry validates without crashing."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gen_registry
    finally:
        sys.path.pop(0)
    path = tmp_path / "big.toml"
    path.write_text(gen_registry.generate(100_000))
    res = run_inproc("validate", "-q", "-r", str(path), seconds=600)
    assert res.rc == 0, res.err[-2000:]


def _corpus_cases():
    return sorted(p for p in CORPUS.glob("*") if p.suffix in (".toml", ".args"))


@pytest.mark.parametrize("case", _corpus_cases(), ids=lambda p: p.name)
def test_corpus_replays(case, tmp_path):
    """Inputs that once crashed compat.  A ``.toml`` is a registry run
    through validate/build; a ``.args`` holds one argv per line
    (``{corpus}`` stands for the corpus directory)."""
    if case.suffix == ".toml":
        _try_registry(case, tmp_path / "out")
        return
    for line in case.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            argv = [a.replace("{corpus}", str(CORPUS)).replace("{reglists}", str(REGLISTS))
                    for a in line.split("\t")]
            assert_graceful(run_inproc(*argv), context=line)


# -- the position scanner ---------------------------------------------------------

def _string_forms(text: str) -> list[str]:
    """``text`` as each kind of TOML string that can hold it."""
    basic = toml_string(text)
    forms = [basic, '"""' + basic[1:-1] + '"""']
    if "'" not in text and "\n" not in text and "\r" not in text and text.isprintable():
        forms.append(f"'{text}'")
    if "'''" not in text and not text.endswith("'") and not text.startswith("\n") \
            and "\r" not in text and all(c.isprintable() or c in "\n\t" for c in text):
        forms.append(f"'''{text}'''")
    return forms


@settings(max_examples=examples(150), **SETTINGS)
@given(values=st.lists(st.text(alphabet=st.sampled_from('ab"\'\\ \n\t#=[]{},.x'), max_size=12),
                       min_size=1, max_size=6),
       picks=st.lists(st.integers(0, 3), min_size=6, max_size=6),
       pad=st.sampled_from(["", " ", "\t", "  # c"]))
def test_scanner_positions_on_tricky_strings(values, picks, pad):
    """Keys after strings full of quotes, escapes and brackets are found at
    their real line: the scanner never misreads valid TOML."""
    from compat.load.source import PositionIndex
    lines, want = [], {}
    for i, value in enumerate(values):
        forms = _string_forms(value)
        written = forms[picks[i] % len(forms)]
        want[f"k{i}"] = sum(part.count("\n") for part in lines) + len(lines) + 1
        lines.append(f"k{i} = {written}{pad}")
        lines.append(f"a{i} = [ {written}, {{ x = {written} }} ]")
    text = "\n".join(lines) + "\n"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assume(False)
    assert [data[f"k{i}"] for i in range(len(values))] == values
    index = PositionIndex.scan(text)
    for key, line in want.items():
        where = index.locate("f", (key,), value=False)
        assert (where.line, where.col) == (line, 1), (key, text)


@pytest.mark.parametrize("text, key, line", [
    ('x = """a \\""" b"""\ny = 1\n', "y", 2),
    ("x = '''a''''\ny = 1\n", "y", 2),
    ('x = """a""""\ny = 1\n', "y", 2),
    ('x = """a \\\n   b"""\ny = 1\n', "y", 3),
    ('x = 1979-05-27 07:32:00Z\ny = 2\n', "y", 2),
    ('x = [ # c\n 1, # d\n 2 ]\ny = 3\n', "y", 4),
    ('x = """ \\""" [ """\ny = 1\n', "y", 2),
])
def test_scanner_known_tricky_cases(text, key, line):
    from compat.load.source import PositionIndex
    tomllib.loads(text)
    index = PositionIndex.scan(text)
    where = index.locate("f", (key,), value=False)
    assert (where.line, where.col) == (line, 1)
    assert index.find(("b",)) is None


# -- as a user runs it ------------------------------------------------------------------

@pytest.mark.process("stdout closed before the interpreter starts; its final flush")
def test_closed_stdout_is_quiet():
    """``compat ... | head -0``: no traceback, no "Exception ignored"."""
    import subprocess
    for args in (["explain", "TCR2_EL1"], ["decode", *["0x603000000013c103"] * 3000],
                 ["validate"]):
        proc = subprocess.Popen([sys.executable, "-m", "compat", *args], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()
        err = proc.stderr.read().decode()
        # the output cannot be written: exit 1, quietly (the pipe is closed
        # before the interpreter has even started, so every run sees it)
        assert proc.wait(timeout=60) == 1 and err == "", (args[0], err)


@pytest.mark.parametrize("case", [p for p in _corpus_cases() if p.suffix == ".toml"],
                         ids=lambda p: p.name)
@pytest.mark.process("the corpus through the real entry point, python -m compat")
def test_corpus_in_a_subprocess(compat_process, case):
    """The corpus through the real entry point (no traceback, no exit 3)."""
    res = compat_process("validate", "-r", str(case), timeout=60)
    assert "Traceback" not in res.err and "internal error" not in res.err
    # exit 1 exactly when an error is printed, 0 exactly when it says valid
    assert res.rc == (1 if ": error: " in res.err else 0), res
    assert (res.rc == 0) == (": valid: " in res.out), res


# -- the two JSON Schema validators agree ------------------------------------------

def _validators():
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    from jsonschema import Draft202012Validator
    from compat.load.schema import inline_local_refs, registry_schema
    schema = registry_schema()
    return (jsonschema_rs.Draft202012Validator(schema),
            Draft202012Validator(inline_local_refs(schema)))


def _assert_agree(data) -> None:
    fast, reference = _validators()
    try:
        fast_answer = fast.is_valid(data)
    except ValueError:  # a TOML date or time has no JSON type: compat asks jsonschema
        fast_answer = False
    assert fast_answer == reference.is_valid(data), data


def _inputs():
    broken = ROOT / "tests" / "broken"
    return sorted([*broken.glob("*.toml"), *CORPUS.glob("*.toml"), BUNDLED])


@pytest.mark.parametrize("path", _inputs(), ids=lambda p: p.name)
def test_validators_agree_on_corpora(path):
    """jsonschema-rs (the quick validity check) and jsonschema (the
    reference that explains errors) give the same answer on the bundled
    schema for the broken-registry corpus and the hostile corpus."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        pytest.skip("not TOML")
    _assert_agree(data)


def _explained_both_ways(text: str):
    """The reference validator's diagnostics for ``text``, from the whole
    document and from the entities the compiled validator flags
    (compat.load.schema.invalid_entities_only), and that part (a TOML
    document is a table, so there always is one)."""
    _validators()  # skips without jsonschema-rs
    from compat.load.schema import explain_structure, invalid_entities_only, registry_schema
    from compat.load.source import load_toml_text
    doc = load_toml_text(text, "r.toml")
    schema = registry_schema()
    part = invalid_entities_only(doc.data, schema)
    # as the user reads them: a CompatError sorts its diagnostics by place
    # (the reference's own order follows a set of key names: the hash seed's)
    whole, mine = (CompatError(explain_structure(doc, schema, data)).diagnostics
                   for data in (doc.data, part))
    return whole, mine, part


@pytest.mark.parametrize("path", _inputs(), ids=lambda p: p.name)
def test_reference_explains_the_flagged_entities_as_the_whole(path):
    """The reference validator, given only the entities with errors,
    reports exactly what it reports for the whole document, at the same
    places."""
    try:
        text = path.read_text(encoding="utf-8")
        tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        pytest.skip("not TOML")
    whole, part, _ = _explained_both_ways(text)
    assert part == whole


@settings(max_examples=examples(120), **SETTINGS)
@given(data=mutated_data())
def test_validators_agree_on_mutated_values(data):
    """On mutated registries the two validators agree whether a document
    is valid, and the reference explains the invalid entities alone as it
    explains the whole document (one pass of the pure-Python reference over
    the whole document per example serves both)."""
    try:
        text = dump_toml(data)
        parsed = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        assume(False)
    fast, _ = _validators()
    try:
        fast_valid = fast.is_valid(parsed)
    except ValueError:  # a TOML date or time has no JSON type: compat asks jsonschema
        fast_valid = False
    whole, part, _ = _explained_both_ways(text)
    assert fast_valid == (not whole), data
    assert part == whole


def test_one_bad_register_is_explained_alone():
    """What makes explaining an error fast: the reference validator sees
    the bad register and one entry of each other table, not the rest."""
    text = BUNDLED_TEXT.replace('commit = "c0000e58c74e"', "commit = 12", 1)
    whole, part, data = _explained_both_ways(text)
    assert whole and part == whole
    assert [len(data[t]) for t in ("registers", "features", "machines")] == [1, 1, 1]
    assert len(BUNDLED_DATA["registers"]) > 1


def test_trailing_newline_is_refused_and_located(tmp_path):
    """Python's re lets '$' match before a trailing newline, ECMA-262 does
    not: the stricter answer wins, as a located diagnostic."""
    pytest.importorskip("jsonschema_rs")
    text = BUNDLED_TEXT.replace('commit = "c0000e58c74e"', 'commit = "c0000e58c74e\\n"', 1)
    assert text != BUNDLED_TEXT
    path = tmp_path / "r.toml"
    path.write_text(text, encoding="utf-8")
    res = run_inproc("validate", "-r", str(path))
    assert res.rc == 1, res.out
    assert "'commit' \"c0000e58c74e\\n\" is malformed: write a git commit hash" in res.err, res.err
    line = text[:text.index('commit = "c0000e58c74e\\n"')].count("\n") + 1
    assert f"r.toml:{line}:" in res.err, res.err


# -- hardening round 2 (issue 13) --------------------------------------------

_NAME_FIELDS = ("cpu-driver", "commit", "cpu-feature", "min-kernel", "version", "kernel",
                "qemu", "register")
_SECTIONS = ("machines", "registers", "features")
_TRAILERS = ["\n", " ", "\t", "\r", "\r\n", "\x00", "\x1b", "\u2028", "\x85", "\n\n"]


def _name_sites(data):
    """Every string field whose value is a name or version, and every name key."""
    sites = []
    for path in _paths(data):
        if path and path[-1] in _NAME_FIELDS and isinstance(_get(data, path), str):
            sites.append(("value", path))
    for section in _SECTIONS:
        for key in data.get(section, {}):
            sites.append(("key", (section, key)))
    return sites


def _get(data, path):
    for part in path:
        data = data[part]
    return data


@settings(max_examples=examples(60), **SETTINGS)
@given(site=st.sampled_from(_name_sites(BUNDLED_DATA)), trailer=st.sampled_from(_TRAILERS),
       lead=st.booleans())
def test_names_with_trailing_whitespace_or_controls_are_refused(tmp_path_factory, site, trailer,
                                                                lead):
    """Every name pattern is anchored at the very end (``$`` before a final
    newline is not the end), in Python and ECMA-262 alike."""
    kind, path = site
    data = copy.deepcopy(BUNDLED_DATA)
    if kind == "value":
        old = _get(data, path)
        _set(data, path, trailer + old if lead else old + trailer)
    else:
        section, key = path
        data[section][trailer + key if lead else key + trailer] = data[section].pop(key)
    work = tmp_path_factory.mktemp("name")
    reg = work / "registry.toml"
    reg.write_text(dump_toml(data), encoding="utf-8")
    res = run_inproc("validate", "-r", str(reg))
    assert res.rc == 1, (site, trailer, res)
    assert_graceful(res, located=True)


def test_every_schema_pattern_is_anchored_at_the_very_end():
    import json
    import re
    schema = json.loads((ROOT / "schemas" / "registry.schema.json").read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "pattern":
                    found.append(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(schema)
    assert found
    for pattern in found:
        assert pattern.startswith("^") and pattern.endswith(r"$(?![\s\S])"), pattern
        assert re.search(pattern, "x\n") is None


@pytest.mark.parametrize("driver", ["int", "static", "_Bool", "__x", "_Private", "typeof"])
def test_cpu_driver_c_keywords_and_reserved_names_are_refused(tmp_path, driver):
    reg = tmp_path / "registry.toml"
    text = BUNDLED_TEXT.replace('cpu-driver = "TYPE_ARM_CPU"', f'cpu-driver = "{driver}"', 1)
    assert text != BUNDLED_TEXT
    reg.write_text(text, encoding="utf-8")
    res = run_inproc("validate", "-r", str(reg))
    assert res.rc == 1 and "cpu-driver" in res.err, res
    assert_graceful(res, located=True)


_REAL_LINES = (REGLISTS / "n1-linux-6.12.reglist").read_text().splitlines()
_REAL_INDICES = [line for line in _REAL_LINES if line.startswith("0x")][::8]
_CORRUPT = ["0x60300000zz13c103", "0x603000000013c103z", "12zz", "0x",
            "ARM64_SYS_REG(3, 0, 2, 0,", "ARM64_SYS_REG(9, 9, 99, 99, 99),", "KVM_REG_ARM_FOO",
            "0x+603000000013c103", "６０３"]


@st.composite
def mixed_reglist(draw):
    """A real list whose lines take mixed forms, with one corrupt line."""
    lines = ["# kernel: 6.12", "# host: n1"]
    for index in _REAL_INDICES:
        form = draw(st.sampled_from(["plain", "hash", "trace", "ccomment", "plain"]))
        lines.append({"plain": index, "hash": f"{index} # note",
                      "trace": f"kvm_arm_cpu_post_load_missing_reg cpreg {index}",
                      "ccomment": f"{index} /* note */"}[form])
    corrupt = draw(st.sampled_from(_CORRUPT))
    where = draw(st.integers(2, len(lines)))
    lines.insert(where, corrupt)
    return "\n".join(lines) + "\n", where + 1, corrupt


@settings(max_examples=examples(20), phases=[Phase.generate], **SETTINGS)
@given(case=mixed_reglist())
def test_mixed_format_lists_never_hide_a_corrupt_line(tmp_path_factory, case):
    text, line, corrupt = case
    work = tmp_path_factory.mktemp("mix")
    bad = work / "bad.reglist"
    bad.write_text(text, encoding="utf-8")
    res = run_inproc("check", str(bad), str(REGLISTS / "n1-linux-6.12.reglist"))
    assert res.rc == 1, (corrupt, res)
    assert f"bad.reglist:{line}:" in res.err, (corrupt, res.err)
    assert_graceful(res, located=True)


@pytest.mark.parametrize("body", [
    "", "# kernel: 6.12\n", "# kernel: 6.12\n/* open\n0x603000000013c103\n",
    "# kernel: 6.12\n0x603000000013c103 /* never closed\n", "# kernel: 6.12\n{\n};\n",
    "# kernel: 6.12\n// nothing\n"])
def test_lists_yielding_no_register_or_open_comments_are_errors(tmp_path, body):
    bad = tmp_path / "n1-linux-6.12.reglist"
    bad.write_text(body, encoding="utf-8")
    res = run_inproc("check", str(bad), str(REGLISTS / "n1-linux-6.12.reglist"),
                     "--from-kernel", "6.12")
    assert res.rc == 1, (body, res)
    assert "error:" in res.err and "n1-linux-6.12.reglist" in res.err
    assert_graceful(res)


# -- plugins that exit, raise BaseExceptions, return the wrong types ---------

_PLUGIN_HOOKS = {
    "compat_schema_fragments": "()",
    "compat_registry_fragments": "()",
    "compat_validate": "(registry, derivation)",
    "compat_outputs": "()",
    "compat_render_output": "(name, context)",
}
_PLUGIN_FAILURES = {
    "exit0": "import sys; sys.exit(0)",
    "exitnone": "raise SystemExit(None)",
    "generatorexit": "raise GeneratorExit()",
    "baseexception": "raise BaseException('boom \\x1b]0;pwned\\x07')",
    "int": "return 42",
    "strs": "return ['x']",
}
_WRONG_VALUES = {
    "compat_validate": ["[Diagnostic('registry.toml:1', 'm')]", "[Diagnostic(Location('r'), 42)]"],
    "compat_outputs": ["[OutputSpec(name=123, files=('evil.txt',), description='d')]",
                       "[OutputSpec(name='evil', files=('evil.txt',), description=None)]"],
    "compat_render_output": ["{'evil.txt': '\\ud800'}", "{'evil.txt': 42}", "'text'"],
}


def _plugin_cases():
    for failure in _PLUGIN_FAILURES:
        if failure not in ("int", "strs"):
            yield "import", failure
        for hook in _PLUGIN_HOOKS:
            yield hook, failure
    for hook, values in _WRONG_VALUES.items():
        for i in range(len(values)):
            yield hook, f"value{i}"
    yield "compat_validate", "unknown-arg"


def _plugin_source(hook: str, failure: str) -> str:
    lines = ["from compat.plugin import hookimpl, OutputSpec",
             "from compat.core.diagnostics import Diagnostic, Location"]
    if hook == "import":
        lines.append(_PLUGIN_FAILURES[failure].replace("return ", "X = "))
        return "\n".join(lines) + "\n"
    if failure.startswith("value"):
        body = "return " + _WRONG_VALUES[hook][int(failure[5:])]
    elif failure == "unknown-arg":
        lines += ["@hookimpl", "def compat_validate(registry, banana):", "    return []"]
        return "\n".join(lines) + "\n"
    else:
        body = _PLUGIN_FAILURES[failure]
    if hook == "compat_render_output":  # declare an output, so that it is rendered
        lines += ["@hookimpl", "def compat_outputs():",
                  "    return [OutputSpec(name='evil', files=('evil.txt',), description='d')]"]
    lines += ["@hookimpl", f"def {hook}{_PLUGIN_HOOKS[hook]}:"]
    lines += ["    " + part for part in body.split("; ")]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("hook, failure", list(_plugin_cases()))
def test_broken_plugins_are_diagnostics_naming_them(tmp_path, monkeypatch, hook, failure):
    from importlib.metadata import EntryPoint

    from compat.plugin.host import PluginHost

    module = f"compat_hostile_{hook}_{failure}".replace("-", "_")
    (tmp_path / f"{module}.py").write_text(_plugin_source(hook, failure), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = {"evil": EntryPoint("evil", module, "compat.plugins")}
    monkeypatch.setattr(PluginHost, "entry_points", staticmethod(lambda: eps))
    out = tmp_path / "out"
    res = run_inproc("build", "-r", str(BUNDLED), "-o", str(out), "--plugin", "evil")
    assert res.rc == 1, (hook, failure, res)
    assert "plugin 'evil'" in res.err, res.err
    assert "\x1b" not in res.err and "\x07" not in res.err
    assert_graceful(res)
    assert not out.exists() or not any(out.iterdir())
    sys.modules.pop(module, None)
    listing = run_inproc("plugins", "--json")
    assert listing.rc == 0, listing
    import json
    rows = {row["name"]: row for row in json.loads(listing.out)}
    assert rows["compat-props"]["outputs"], listing.out
    if hook in ("import", "compat_outputs") or failure == "unknown-arg":
        assert "error" in rows["evil"], listing.out
    sys.modules.pop(module, None)


def test_two_entry_points_naming_one_object(tmp_path, monkeypatch):
    from importlib.metadata import EntryPoint

    from compat.plugin.host import PluginHost

    (tmp_path / "compat_hostile_twice.py").write_text(
        "from compat.plugin import hookimpl\nclass P:\n    @hookimpl\n"
        "    def compat_outputs(self):\n        return []\nPLUGIN = P()\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = {n: EntryPoint(n, "compat_hostile_twice:PLUGIN", "compat.plugins") for n in ("a", "b")}
    monkeypatch.setattr(PluginHost, "entry_points", staticmethod(lambda: eps))
    res = run_inproc("build", "-r", str(BUNDLED), "-o", str(tmp_path / "o"),
                     "--plugin", "a", "--plugin", "b")
    assert res.rc == 1 and "plugin 'b'" in res.err and "'a'" in res.err, res
    assert_graceful(res)


# -- terminals, cwd, output directory (items 5, 15, 17) ----------------------

def _compat_proc(*args, env=None, cwd=None, stdout=None):
    import os
    import subprocess
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "compat", *args], env=full_env, cwd=cwd,
                          stdout=stdout if stdout is not None else subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, errors="replace", timeout=120)


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"},
                                 {"LC_ALL": "POSIX", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}])
@pytest.mark.process("the stream encoding is chosen when an interpreter starts")
def test_a_terminal_that_cannot_show_the_text(tmp_path, env):
    body = (REGLISTS / "n1-linux-6.12.reglist").read_text().replace("# host: n1", "# host: hé\u202e")
    reg = tmp_path / "x.reglist"
    reg.write_text(body, encoding="utf-8")
    for args, status in ((["audit", str(reg)], 0), (["check", str(reg), str(reg)], 0),
                         (["validate", "-r", "/nonexistent/é"], 1)):   # a missing registry
        proc = _compat_proc(*args, env=env)
        assert proc.returncode == status, (args, proc.stderr)
        assert "internal error" not in proc.stderr


@pytest.mark.process("stdout is a real file descriptor on /dev/full")
def test_dev_full_is_an_error_not_a_crash():
    with open("/dev/full", "w") as full:
        proc = _compat_proc("decode", "0x603000000013c103", stdout=full)
    assert proc.returncode == 1, proc.stderr
    assert "cannot write the output" in proc.stderr and "Traceback" not in proc.stderr


def test_deleted_working_directory(tmp_path):
    import os
    gone = tmp_path / "gone"
    gone.mkdir()
    old = os.getcwd()
    os.chdir(gone)
    try:
        gone.rmdir()
        # the bundled registry needs no working directory; the lists are missing
        for args, status in ((["validate"], 0), (["decode", "0x603000000013c103"], 0),
                             (["check", "a.reglist", "b.reglist"], 1)):
            res = run_inproc(*args)
            assert res.rc == status, (args, res)
            assert_graceful(res)
    finally:
        os.chdir(old)


def test_output_directory_root_is_not_outside_itself():
    res = run_inproc("build", "--check", "-o", "/")
    assert "leaves the output directory" not in res.err, res
    assert res.rc == 1 and "stale" in res.out + res.err


# -- special and unbounded input files (item 6) -------------------------------

def _special_file(kind: str, where: Path) -> Path:
    """A FIFO, a directory, a socket, or a device standing where a file should be."""
    import os
    import socket
    if kind == "fifo":
        os.mkfifo(where)
    elif kind == "directory":
        where.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(where))
        where.parent.joinpath(".keep-" + where.name).write_text("")  # the socket outlives bind
    elif kind == "dev-zero":
        where.symlink_to("/dev/zero")
    return where


SPECIAL_KINDS = ("fifo", "directory", "socket", "dev-zero")


def _input_roles(special: Path, good: Path) -> list[list[str]]:
    """Every place compat takes an input file, with ``special`` in it."""
    return [["validate", "-r", str(special)],
            ["build", "--check", "-r", str(special)],
            ["check", str(special), str(good)],
            ["check", str(good), str(special), "--to-kernel", "6.12"],
            ["diff", str(special), str(good), "--old-kernel", "6.12"],
            ["audit", str(special), str(good)],
            ["new-register", "0x603000000013c103", "--kernel", "6.12", "-r", str(special)]]


@pytest.mark.parametrize("kind", SPECIAL_KINDS)
def test_special_input_files_are_refused_before_reading(tmp_path, kind):
    special = _special_file(kind, tmp_path / "special.reglist")
    good = REGLISTS / "n1-linux-6.12.reglist"
    for args in _input_roles(special, good):
        res = run_inproc(*args, seconds=20)
        assert res.rc == 1, (args, res)
        assert "not a regular file" in res.err and str(special) in res.err, (args, res.err)
        assert_graceful(res, context=str(args))


def test_dev_zero_as_a_list_errors_at_once():
    import time
    start = time.monotonic()
    res = run_inproc("check", "/dev/zero", str(REGLISTS / "n1-linux-6.12.reglist"),
                     "--from-kernel", "6.12", seconds=20)
    assert res.rc == 1 and "/dev/zero" in res.err and "character device" in res.err, res
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("kind", SPECIAL_KINDS)
@pytest.mark.parametrize("check", [False, True])
def test_special_file_under_an_outputs_name(tmp_path, kind, check):
    out = tmp_path / "out"
    out.mkdir()
    _special_file(kind, out / "arm-compat-guards.h")
    args = ["build", "-o", str(out)] + (["--check"] if check else [])
    res = run_inproc(*args, seconds=30)
    assert res.rc == 1, res
    assert "arm-compat-guards.h" in res.err and "regular files only" in res.err, res.err
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_inputs_over_the_limit_are_refused(tmp_path, monkeypatch):
    import gzip
    from compat.core import inputs
    big = tmp_path / "n1-linux-6.12.reglist"
    with open(big, "wb") as handle:  # sparse: refused from its size, nothing read
        handle.truncate(inputs.MAX_INPUT_BYTES + 1)
    res = run_inproc("check", str(big), str(big), seconds=20)
    assert res.rc == 1 and "larger than 256 MiB" in res.err, res
    # the read itself is bounded too (a file that grows), and so is a gzip bomb
    monkeypatch.setattr(inputs, "MAX_INPUT_BYTES", 1 << 20)
    with pytest.raises(inputs.CompatError, match="larger than 100 bytes"):
        inputs.read_input("/proc/self/maps", limit=100)  # st_size 0: the read loop's bound
    bomb = tmp_path / "n1-linux-6.12.qevm"
    bomb.write_bytes(gzip.compress(b"QEVM" + bytes(3 << 20)))
    res = run_inproc("check", str(bomb), str(REGLISTS / "n1-linux-6.12.reglist"), seconds=20)
    assert res.rc == 1 and "expands to more than 1 MiB" in res.err, res


# -- hostile text in audit's suggested TOML entries (item 10) -------------------

#: Text built to break out of a TOML string or comment: quotes, backslashes,
#: every line break, control characters, and key syntax.
_TOML_HOSTILE = st.lists(st.sampled_from(
    list('"\'\\=[]{},.#\n\r\t\x00\x01\x1b\x7f\x85\u2028\u2029 aZ9')
    + ["compat", "safe-because", '"""', "\'\'\'", '",compat="hide",safe-because="pwned']),
    min_size=1, max_size=12).map("".join)


def _expected_entry(entry: dict) -> None:
    assert set(entry) <= {"description", "encoding", "index", "reset", "changes", "compat",
                          "safe-because", "safe-when", "sources"}, entry
    assert entry["compat"] in ("hide", "tolerate-missing"), entry
    assert entry.get("safe-because", "FIXME").startswith("FIXME"), entry


@settings(max_examples=examples(150), deadline=None)
@given(seen=_TOML_HOSTILE, origin=_TOML_HOSTILE,
       change=st.sampled_from(["added", "removed", "gated", "ungated"]),
       name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True))
def test_suggested_entries_parse_with_exactly_their_values(seen, origin, change, name):
    from compat.analysis.scaffold import scaffold
    from compat.core import codec
    decoded = codec.decode(0x603000000013FF80)
    text = scaffold(decoded, name, "6.13", change, origin=origin, seen=seen)
    data = tomllib.loads(text)  # a hostile comment never breaks the TOML
    assert list(data) == ["registers"] and list(data["registers"]) == [name], text
    entry = data["registers"][name]
    _expected_entry(entry)
    assert entry["index"] == "0x603000000013ff80" and entry["reset"] == "0x0"
    assert entry["changes"][0]["kernel"] == "6.13" and entry["changes"][0]["change"] == change
    assert entry["encoding"] == {"group": "sysreg", "op0": 3, "op1": 7, "crn": 15, "crm": 0,
                                 "op2": 0}


@settings(max_examples=examples(12), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=_TOML_HOSTILE.filter(lambda h: "\n" not in h and "\r" not in h and h.strip()
                                 and not h.lstrip().startswith(("#", "(")) and "\x85" not in h
                                 and "\u2028" not in h and "\u2029" not in h))
def test_hostile_host_names_never_add_keys_to_audits_entries(tmp_path_factory, host):
    import json
    tmp = tmp_path_factory.mktemp("hosthdr")
    body = [line for line in (REGLISTS / "n1-linux-6.12.reglist").read_text().splitlines()
            if not line.startswith("#")]
    for kernel, extra in (("6.12", []), ("6.13", ["0x603000000013ff80"])):
        (tmp / f"l{kernel}.reglist").write_text(
            f"# host: {host}\n# kernel: {kernel}\n" + "\n".join(body + extra) + "\n",
            encoding="utf-8")
    res = run_inproc("audit", "--json", str(tmp / "l6.12.reglist"), str(tmp / "l6.13.reglist"))
    assert_graceful(res, context=repr(host))
    if res.rc == 1 and not res.out.strip():
        return  # the header was refused with an error (e.g. an empty host)
    report = json.loads(res.out)
    suggestions = [u["toml"] for u in report["uncovered"]]
    assert suggestions, report
    for text in suggestions:
        data = tomllib.loads(text)
        (entry,) = data["registers"].values()
        _expected_entry(entry)


def test_the_reported_toml_injection():
    from compat.analysis.scaffold import scaffold
    from compat.core import codec
    host = 'x",compat="hide",safe-because="pwned\x01\x7f'
    text = scaffold(codec.decode(0x603000000013FF80), "S3_7_C15_C0_0", "6.13", "removed",
                    origin="compat audit", seen=host)
    entry = tomllib.loads(text)["registers"]["S3_7_C15_C0_0"]
    assert entry["compat"] == "tolerate-missing" and entry["safe-because"].startswith("FIXME")


# -- command-line mistakes are <command line> errors with exit 2 (item 12) -------

_N1 = [str(REGLISTS / "n1-linux-6.12.reglist"), str(REGLISTS / "n1-linux-6.13.reglist")]


@pytest.mark.parametrize("args", [
    ["validate", "--plugin", ""],
    ["build", "--check", "--plugin", ""],
    ["check", *_N1, "--plugin", "nope"],
    ["check", *_N1, "--from-kernel", "banana"],
    ["check", *_N1, "--to-kernel", "6.x"],
    ["diff", *_N1, "--old-kernel", "banana"],
    ["diff", *_N1, "--new-kernel", ""],
    ["check", *_N1, "--machine", "virt-9.9"],
    ["check", *_N1, "--machine", "virt-11.0", "--feature", "nope"],
    ["check", *_N1, "--rules", "compat-props"],
    ["audit", *_N1, "--machine", "virt-9.9"],
    ["build", "--check", "--only", "nope"],
    ["new-register", "0x603000000013c103", "--kernel", "banana"],
])
def test_command_line_mistakes_are_command_line_errors(args):
    res = run_inproc(*args)
    assert res.rc == 2, res
    assert res.err.startswith("<command line>: error: "), res.err
    assert "registry.toml" not in res.err and ".reglist" not in res.err, res.err


@pytest.mark.parametrize("option", ["-r", "-o", "--depfile"])
def test_empty_paths_are_usage_errors(option):
    res = run_inproc("build", "--check", option, "")
    assert res.rc == 2 and "an empty path" in res.err, res


@pytest.mark.parametrize("command", ["check", "diff", "audit"])
def test_list_headers_cannot_drive_the_terminal(tmp_path, command):
    """ESC/OSC bytes in a list's '# host:' header reach the report escaped."""
    lists = []
    for kernel, extra in (("6.12", "0x603000000013c103\n"), ("6.16", "")):
        path = tmp_path / f"l{kernel}.reglist"
        path.write_text(f"# kernel: {kernel}\n# host: evil\x1b]0;pwned\x07\x1b[2J\n"
                        f"0x6030000000130000\n{extra}")
        lists.append(str(path))
    res = run_inproc(command, *lists)
    # 6.12 -> 6.16 loses TCR2_EL1: stock QEMU fails (check); the registry
    # covers it (diff) and its tolerance passes every machine type (audit)
    assert res.rc == {"check": 1, "diff": 0, "audit": 0}[command], res.err
    assert "\x1b" not in res.out and "\x07" not in res.out, res.out
    assert "\\x1b" in res.out
