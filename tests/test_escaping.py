"""Registry text is inert in every generated language.

Descriptions, commit subjects, sources, reasons and feature properties are
filled with C comment terminators, quotes, backslashes, newlines, trigraphs,
rST and Markdown markup and HTML.  The build must still give C that compiles
with ``-Wall -Wextra -Werror -Wtrigraphs`` and behaves exactly as the
bundled registry's, C comments that end where the generator ends them, rST
that docutils reads without a warning, and Markdown without raw HTML.
Names that become C identifiers are checked by the schema instead.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from cbuild import C_DIR, CFLAGS, compile_harness, run, run_many
from compat.core.text import (bidi_visible, c_comment, c_string, md_text, one_line, rst_literal,
                              rst_text)
from conftest import BUNDLED
from hostile_util import assert_graceful, dump_toml, run_inproc, toml_string

MARK = "PWNED"
#: Every hazard at once; each text field gets it (with its own tag).
PAYLOAD = (MARK + " */ int evil; /* \" ' \\ \\\n ??= ??/\n??' \\\"\" %s %n"
           " <script>alert(1)</script> <b>x</b> &lt;i&gt; &amp; **bold** *em* _u_ `code` "
           "``lit`` :ref:`x` |sub| target_ [link](http://e.x) .. note:: x\n"
           "# heading\n=====\n- item\n> quote\n1. one\n\t\x01\x7f caf\u00e9 \u202e \u2028 end")
#: Outputs that quote no registry text (only names, numbers, commits).
TEXT_FREE = {"arm-compat-guards.c.inc", "arm-compat-guards.h", "arm-virt-kernel-compat.c.inc",
             "arm-compat-glue.c.inc"}   # the glue is the same for every registry
FIELDS = ("description", "subject", "source", "safe-because", "property")

VIRT_VERSIONS = ["11.1", "11.0", "10.2", "10.1", "10.0"]


def _poison(node, tag=[0]):  # noqa: B006 - a counter shared across calls
    if isinstance(node, dict):
        for key, value in node.items():
            if key in FIELDS and isinstance(value, str):
                tag[0] += 1
                node[key] = f"{PAYLOAD} #{tag[0]}"
            elif key == "sources" and isinstance(value, list):
                node[key] = [PAYLOAD + " src"] + value
            else:
                _poison(value)
    elif isinstance(node, list):
        for item in node:
            _poison(item)


def hostile_text() -> str:
    """The bundled registry with every free-text field poisoned."""
    data = tomllib.loads(BUNDLED.read_text())
    _poison(data)
    return dump_toml(data)


def _build(text: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    reg = out / "registry.toml"
    reg.write_text(text, encoding="utf-8")
    res = run_inproc("build", "-r", str(reg), "-o", str(out / "gen"))
    assert res.rc == 0, res.err
    return out / "gen"


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> tuple[Path, Path]:
    """(bundled outputs, hostile outputs)."""
    base = tmp_path_factory.mktemp("esc")
    return (_build(BUNDLED.read_text(), base / "plain"), _build(hostile_text(), base / "evil"))


def test_payload_reaches_outputs(builds):
    """Guard against a vacuous pass: the hostile text is in every output."""
    _, evil = builds
    for path in evil.iterdir():
        if path.name not in TEXT_FREE:
            assert MARK in path.read_text(), path.name


# -- C ----------------------------------------------------------------------

def c_split(source: str) -> tuple[str, list[str], list[str]]:
    """Split C source into (code, comments, string literals), after line
    splicing as the compiler does it.  Trigraphs are not replaced: the
    caller checks there are none."""
    text = source.replace("\\\n", "")
    code, comments, strings = [], [], []
    i, n = 0, len(text)
    while i < n:
        two = text[i:i + 2]
        if two == "/*":
            end = text.find("*/", i + 2)
            assert end != -1, "unterminated comment"
            comments.append(text[i:end + 2])
            i = end + 2
        elif two == "//":
            end = text.find("\n", i)
            end = n if end == -1 else end
            comments.append(text[i:end])
            i = end
        elif text[i] in "\"'":
            quote, j = text[i], i + 1
            while text[j] != quote:
                assert text[j] != "\n", f"newline in literal at {text[i:j][:60]!r}"
                j += 2 if text[j] == "\\" else 1
            strings.append(text[i:j + 1])
            code.append(" 0 ")
            i = j + 1
        else:
            code.append(text[i])
            i += 1
    return "".join(code), comments, strings


C_FILES = ("arm-compat-guards.c.inc", "arm-compat-guards.h", "arm-cpreg-mig-tolerances.c.inc",
           "arm-virt-kernel-compat.c.inc")


@pytest.mark.parametrize("name", C_FILES)
def test_c_comments_and_strings_hold_the_text(builds, name):
    """Outside comments and strings the hostile build's code is the bundled
    build's code: no text escaped into code, no comment closed early."""
    plain, evil = builds
    source = (evil / name).read_text()
    assert source.isascii(), "QEMU sources are ASCII"
    assert "??" not in source, "a trigraph could form"
    evil_code, comments, strings = c_split(source)
    plain_code, _, _ = c_split((plain / name).read_text())
    assert MARK not in evil_code
    assert name in TEXT_FREE or any(MARK in c for c in comments + strings)
    for comment in comments:
        assert "/*" not in comment[2:-2], comment
    squash = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    assert squash(evil_code) == squash(plain_code)


def _compile_strict(name: str, generated: Path, out_dir: Path) -> Path:
    """Like cbuild.compile_harness, with ISO trigraph processing on and
    -Wtrigraphs, so a trigraph anywhere would change or warn."""
    exe = out_dir / f"{name}-strict"
    proc = subprocess.run(["gcc", *CFLAGS, "-trigraphs", "-Wtrigraphs", f"-I{generated}",
                           f"-I{C_DIR}", "-o", str(exe), str(C_DIR / f"{name}_harness.c")],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return exe


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@pytest.mark.parametrize("harness", ["guards", "compat_props", "tolerances"])
def test_hostile_c_compiles_and_behaves_the_same(builds, tmp_path, harness):
    """Compiled with -Werror (and trigraphs on), the hostile build's
    harness answers exactly as the bundled build's."""
    plain, evil = builds
    exe_plain = compile_harness(harness, plain, tmp_path / "p" if (tmp_path / "p").mkdir()
                                is None else tmp_path)
    (tmp_path / "e").mkdir()
    exe_evil = compile_harness(harness, evil, tmp_path / "e")
    exe_strict = _compile_strict(harness, evil, tmp_path / "e")
    calls = _harness_calls(harness)
    # the guards harness answers its thousands of calls in one process each
    answers = {exe: run_many(exe, calls) if harness == "guards" else
               [run(exe, *args) for args in calls] for exe in (exe_plain, exe_evil, exe_strict)}
    for i, args in enumerate(calls):
        want = answers[exe_plain][i]
        for exe in (exe_evil, exe_strict):
            got = answers[exe][i]
            assert got.returncode == want.returncode, (args, got.stdout, got.stderr)
            if harness != "guards" or args[0] == "rule":
                assert got.stdout == want.stdout, args
            else:
                # Guard messages quote registry text: one line, text intact.
                assert len(got.stdout.splitlines()) == len(want.stdout.splitlines())


def _harness_calls(harness: str) -> list[list[str]]:
    registry = tomllib.loads(BUNDLED.read_text())
    indices = [r["index"] for r in registry["registers"].values()] + ["0x0"]
    machines = [f"virt-{v}" for v in VIRT_VERSIONS]
    if harness == "tolerances":
        return [[]]
    if harness == "compat_props":
        return [[layout, v, *reversed(VIRT_VERSIONS[:i])] for layout in ("per-version",)
                for i, v in enumerate(VIRT_VERSIONS)]
    calls = [["rule", m, i] for m in machines for i in indices]
    calls += [["feature", m, f] for m in machines for f in ("impl-cpu", "nope")]
    calls += [["drop", m, i, v] for m in machines for i in indices for v in ("0", "0x3")]
    return calls


# -- rST and Markdown --------------------------------------------------------

def test_rst_parses_without_warnings_and_keeps_text_plain(builds):
    """docutils reads the hostile rST with no message at all, and the
    registry text lands in plain text nodes, never markup."""
    docutils_core = pytest.importorskip("docutils.core")
    from docutils import nodes
    _, evil = builds
    warnings = io.StringIO()
    doctree = docutils_core.publish_doctree(
        (evil / "kvm-register-compat.rst").read_text(),
        settings_overrides={"report_level": 1, "halt_level": 5, "warning_stream": warnings,
                            "file_insertion_enabled": False, "raw_enabled": False})
    assert warnings.getvalue() == ""
    assert not list(doctree.findall(nodes.system_message))
    markup = (nodes.emphasis, nodes.strong, nodes.reference, nodes.target, nodes.raw,
              nodes.substitution_reference, nodes.footnote_reference, nodes.title_reference,
              nodes.problematic, nodes.block_quote, nodes.note)
    for node in doctree.findall(lambda n: isinstance(n, markup)):
        assert MARK not in node.astext(), node.pformat()[:500]
    flat = doctree.astext()
    assert "**bold** *em* _u_ `code` ``lit`` :ref:`x` |sub| target_" in flat
    assert "<script>alert(1)</script>" in flat


def md_unescaped(text: str) -> str:
    """Markdown text with backslash escapes and code spans removed."""
    text = re.sub(r"\\[!-/:-@\[-`{-~]", "", text)
    return re.sub(r"(`+).*?\1", "", text)


def test_markdown_has_no_raw_html_or_markup(builds):
    """Outside escapes and code spans no ``<``, ``&`` entity or emphasis
    comes from registry text; the generator's own ``<br>``, SPDX comment
    and register anchors (``<a id="kvm-reg-0x...">``, from the index) are
    the only tags."""
    _, evil = builds
    md = (evil / "kvm-register-compat.md").read_text()
    body = md_unescaped(md)
    body = body.replace("<br>", "\n")
    body = re.sub(r'^<a id="kvm-reg-0x[0-9a-f]{16}"></a>$', "", body, flags=re.M)
    lines = body.splitlines()
    assert lines[0].startswith("<!--") and lines[0].endswith("-->")
    rest = "\n".join(lines[1:])
    assert "<" not in rest and ">" not in rest
    # the one entity compat writes itself: a URI scheme's colon, against autolinks
    assert not re.search(r"&(?!#58;)[A-Za-z#][A-Za-z0-9]*;", rest), \
        "an HTML entity would be decoded"
    assert "\\*\\*bold\\*\\*" in md and "**bold**" not in md


@pytest.mark.parametrize("text", ["# h", "> q", "- i", "+ i", "* i", "1. n", "2) n", "| a | b |",
                                  "<div>", "<!-- c -->", "![i](x)", "[l]: http://x", "~~~",
                                  "```", "    indented", "\\", "&copy;"])
def test_md_helper_cannot_start_a_block(text):
    """Escaped text at the start of a line is a plain paragraph."""
    out = md_text(text)
    assert not re.match(r"(#|>|[-+*] |\d+[.)]|\||<|!\[|\[|~~~|```|&)", out), out


def test_json_keeps_text_exactly(builds):
    """registry.json is data: the text survives intact (one-lined at most)."""
    _, evil = builds
    data = json.loads((evil / "registry.json").read_text())
    assert MARK in json.dumps(data)


# -- the helpers themselves ---------------------------------------------------

@pytest.mark.parametrize("text", [PAYLOAD, "*/", "/*", "a*//*b", "??/", "???=", "\\", "x\n*/",
                                  "", "\u2028*\u2029/", "*" * 200 + "/"])
def test_c_helpers_are_inert(text):
    for block in (c_comment(text), c_comment([text, text], indent="    ", width=40)):
        code, comments, _ = c_split(block + "\n")
        assert code.strip() == "", block
        assert "??" not in block and block.isascii()
    literal = c_string(text)
    code, comments, strings = c_split(f"x = {literal};\n")
    assert code.split() == ["x", "=", "0", ";"] and not comments, literal


@pytest.mark.parametrize("text", [PAYLOAD, "``", "`", "a\\", "\\`x`", "-", ".. x::", "_x_"])
def test_rst_helpers_are_inert(text):
    docutils_core = pytest.importorskip("docutils.core")
    for rendered in (rst_text(text), rst_literal(text)):
        warnings = io.StringIO()
        tree = docutils_core.publish_doctree(
            f"Para {rendered} end.\n",
            settings_overrides={"report_level": 1, "halt_level": 5, "warning_stream": warnings})
        assert warnings.getvalue() == "", rendered
        # the text, with bidi controls shown by code point ([U+202E])
        assert bidi_visible(one_line(text)) in tree.astext().replace("\n", " ")


def test_md_helper_escapes_entities():
    """``&amp;`` in registry text must display as ``&amp;``, not ``&``."""
    assert not re.search(r"&[a-z]+;", md_unescaped(md_text("a &amp; b &lt;script&gt;")))


# -- names that become C identifiers ------------------------------------------

@pytest.mark.parametrize("old, new, needle", [
    ("[registers.TCR2_EL1]", '[registers."A-B"]', "A-B"),
    ("[registers.TCR2_EL1]", '[registers."X */ int y; /*"]', "X */"),
    ('version = "10.1"', 'version = "10.1;x"', "10.1;x"),
    ('register = "KVM_REG_ARM_VENDOR_HYP_BMAP_2"', 'register = "A-B"', "A-B"),
    ('used-by = ["impl-cpu"]', 'used-by = ["impl cpu"]', "impl cpu"),
    ("[features.impl-cpu]", '[features."impl cpu\\""]', "impl cpu"),
    ("[machines.virt]", '[machines."virt-x"]', "virt-x"),
])
def test_identifier_names_are_rejected_with_location(tmp_path, old, new, needle):
    """A name that would be spliced into C must match its pattern; the
    error names the line where it was written."""
    text = BUNDLED.read_text()
    assert old in text
    text = text.replace(old, new, 1)
    line = text[: text.index(new)].count("\n") + 1
    path = tmp_path / "registry.toml"
    path.write_text(text)
    res = run_inproc("validate", "-r", str(path))
    assert_graceful(res, located=True)
    assert res.rc == 1
    assert needle in res.err
    assert f"{path}:{line}:" in res.err, res.err
    assert not (tmp_path / "gen").exists()
    res = run_inproc("build", "-r", str(path), "-o", str(tmp_path / "gen"))
    assert res.rc == 1 and not (tmp_path / "gen").exists()


def test_toml_string_helper_round_trips():
    assert tomllib.loads(f"k = {toml_string(PAYLOAD)}")["k"] == PAYLOAD
