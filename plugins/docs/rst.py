"""Built-in output ``docs-rst``: the register compat documentation in rST.

The document is meant for QEMU's Sphinx manual (``docs/system/arm/``);
docutils accepts it without warnings whatever the registry says, because
every piece of registry text goes through :func:`compat.core.text.rst_text` or
:func:`compat.core.text.rst_literal`.  The content and its order come from
:mod:`compat.plugins.docs.writer`; this module only knows rST syntax.
"""

from __future__ import annotations

import unicodedata
from typing import Iterator

from compat.plugin import output_hooks, OutputSpec, RenderContext, rst_literal, rst_text
from compat.plugins.docs import view as docview, writer as docwriter
from compat.plugins.docs.view import DocModel
from compat.plugins.docs.writer import NONE, SECTION, SUBSECTION

FILE = "kvm-register-compat.rst"
OUTPUT = OutputSpec(name="docs-rst", files=(FILE,),
                    description="register and machine-type compat documentation (rST)")


def render_files(context: RenderContext) -> dict[str, Iterator[str]]:
    """The rST document for the context's registry and derivation, as
    chunks (compat writes them as they come)."""
    return {FILE: render_chunks(docview.from_context(context))}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)


# -- rST syntax ----------------------------------------------------------------

def width(text: str) -> int:
    """Columns ``text`` takes (wide characters count twice), as docutils counts."""
    if text.isascii():
        return len(text)  # every ASCII character takes one column
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def heading(title: str, char: str, overline: bool = False) -> list[str]:
    """A section title (already escaped) with an underline of the right length."""
    line = char * max(width(title), len(title), 1)
    return ([line] if overline else []) + [title, line, ""]


def cell(items: list[str]) -> list[str]:
    """A list-table cell body: one paragraph, or a bullet list for several."""
    if not items:
        return [NONE]
    if len(items) == 1:
        return [items[0]]
    return [f"- {item}" for item in items]


def list_table(caption: str, header: list[str], rows: list[list[list[str]]],
               indent: str = "") -> list[str]:
    """An rST ``list-table``; each cell is a list of already-escaped lines."""
    out = list_table_start(caption, header, indent)
    for row in rows:
        out += list_table_row(row, indent)
    return out + [""]


def list_table_start(caption: str, header: list[str], indent: str = "") -> list[str]:
    """The directive and header row of :func:`list_table`."""
    return [f"{indent}.. list-table:: {caption}", f"{indent}   :header-rows: 1", ""] \
        + list_table_row([[h] for h in header], indent)


def list_table_row(row: list[list[str]], indent: str = "") -> list[str]:
    """One row of :func:`list_table`."""
    out = []
    for i, lines in enumerate(row):
        lead = "   * - " if i == 0 else "     - "
        out.append(indent + lead + lines[0])
        if len(lines) > 1:  # most cells are one line
            out.extend(indent + "       " + line for line in lines[1:])
    return out


#: Underline characters of the section levels.
_UNDERLINES = {SECTION: "=", SUBSECTION: "-"}


class RstMarkup(docwriter.Markup):
    """reStructuredText, as docutils and Sphinx read it."""

    text = staticmethod(rst_text)
    literal = staticmethod(rst_literal)

    def label(self, kind: str, name: str) -> str:
        return rst_text(f"{kind} {name}")

    def anchor(self, target: str) -> list[str]:
        # an explicit target is also a Sphinx label (``:ref:`` from elsewhere)
        return [f".. _{target}:", ""]

    def link(self, name: str, target: str) -> str:
        # anonymous (``__``): the text does not become a target of its own,
        # so twenty machine types can link the same register
        return f"`{rst_text(name)} <{target}_>`__"

    def comment(self, value: str) -> list[str]:
        return [f".. {value}", ""]

    def title(self, value: str) -> list[str]:
        return heading(value, "=", overline=True)

    def heading(self, level: int, value: str) -> list[str]:
        return heading(value, _UNDERLINES[level])

    def table_start(self, caption: str, header: list[str]) -> list[str]:
        return list_table_start(caption, header)

    def table_row(self, row: list[list[str]]) -> list[str]:
        return list_table_row([cell(c) for c in row])


MARKUP = RstMarkup()


def render(model: DocModel) -> str:
    """The whole rST document for ``model``."""
    return docwriter.render(model, MARKUP)


def render_chunks(model: DocModel) -> Iterator[str]:
    """:func:`render`'s text in pieces, produced as they are written."""
    return docwriter.render_chunks(model, MARKUP)
