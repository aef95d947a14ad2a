"""The build's fast text paths give exactly what the general tools give.

``greedy_wrap`` stands in for ``textwrap.wrap(..., break_on_hyphens=False)``
in C comments, and the rST/Markdown escapes replace ``str.translate`` with a
table; outputs must stay byte-identical, so each is compared with the tool
it replaces on generated text (hypothesis) and on the edge cases found by
hand (a space that just fits before a long word, widths of one column).
"""

from __future__ import annotations

import textwrap

from hypothesis import given, strategies as st

from compat.core import text as T

#: Words as comments see them: ASCII, with hyphens and long runs, and
#: the characters c_comment_text rewrites.
_WORD = st.text(alphabet="ab-x*/?\\'_", min_size=1, max_size=30)


def _reference_wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=True)


@given(st.lists(_WORD, max_size=15), st.integers(min_value=1, max_value=40))
def test_greedy_wrap_is_textwrap_on_single_spaced_words(words, width):
    text = " ".join(words)
    assert T.greedy_wrap(text, width) == _reference_wrap(text, width)


@given(st.text(max_size=80), st.integers(min_value=1, max_value=40))
def test_greedy_wrap_is_textwrap_on_any_text(text, width):
    # anything that is not single-spaced printable ASCII takes textwrap's own path
    assert T.greedy_wrap(text, width) == _reference_wrap(text, width)


def test_greedy_wrap_edge_cases_by_hand():
    cases = [
        ("ab cdefghijklmnop", 10),   # a long word fills the rest of the line
        ("abcdefghi jklmnopqrstuvwxyz", 10),  # the space just fits: textwrap keeps it
        ("abcdefghij klmnopqrstuvwxyz", 10),  # the space does not fit
        ("a b c d e f g", 1),
        ("", 5),
        ("exactly10c", 10),
        ("exactly10c x", 10),
    ]
    for text, width in cases:
        assert T.greedy_wrap(text, width) == _reference_wrap(text, width), (text, width)
    # and the quirk is real: the second case's first line ends in a space
    assert T.greedy_wrap("abcdefghi jklmnopqrstuvwxyz", 10)[0] == "abcdefghi "


@given(st.text(max_size=120))
def test_c_comment_lines_are_textwrap_lines(text):
    safe = T.c_comment_text(text)
    for room in (20, 37, 74, 77):
        assert list(T._wrapped_comment_line(text, room)) == (_reference_wrap(safe, room) or [""])


_MARKUP_HEAVY = st.text(alphabet=st.sampled_from(
    list("\\`*_|[]<>:#=~^-+.!'\"(){}@& \t\nab/é\u202e\u2028\x00")), max_size=60)


@given(st.one_of(_MARKUP_HEAVY, st.text(max_size=60)))
def test_rst_text_is_the_translate_table(text):
    expected = T.bidi_visible(T.one_line(text)).translate(T._RST_ESCAPES)
    assert T.rst_text(text) == expected


@given(st.one_of(_MARKUP_HEAVY, st.text(max_size=60)))
def test_md_text_is_the_translate_table(text):
    out = T.bidi_visible(T.one_line(text)).translate(T._MD_ESCAPES)
    if "&" in out:
        out = T._MD_ENTITY.sub(r"\\&", out)
    if "@" in out or ":" in out:
        out = T._MD_AUTOLINK.sub(T._md_inert, out)
    assert T.md_text(text) == out


#: pieces of what GitHub's autolinker sees, in any case and order: the
#: substring tests in front of _MD_AUTOLINK must let every match through
_LINKISH = st.lists(st.sampled_from([
    "mailto:", "MailTo:", "xmpp:", "XMPP:", "https://", "a://", "1://", ":", "/", "//",
    "@", "a", "Z", " ", "ma", "ilto:", "xm", "pp:", "to", ":/"]), max_size=12).map("".join)


@given(_LINKISH)
def test_md_text_autolink_precheck_misses_nothing(text):
    out = T.bidi_visible(T.one_line(text)).translate(T._MD_ESCAPES)
    if "&" in out:
        out = T._MD_ENTITY.sub(r"\\&", out)
    assert T.md_text(text) == T._MD_AUTOLINK.sub(T._md_inert, out)


def test_escapes_by_hand():
    assert T.rst_text("a\\b_c") == "a\\\\b\\_c"
    assert T.md_text("x\\*y") == "x\\\\\\*y"
