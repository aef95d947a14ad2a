"""Built-in output ``docs-md``: the register compat documentation in Markdown.

Same content as ``docs-rst`` (both are written by
:mod:`compat.plugins.docs.writer` from :mod:`compat.plugins.docs.view`) for
places that render Markdown (GitLab, GitHub, mailing-list archives).
Registry text goes through :func:`compat.core.text.md_text`, so it can neither
become markup or HTML nor break a table cell.  This module only knows
Markdown syntax.
"""

from __future__ import annotations

import re
from typing import Iterator

from compat.plugin import md_text, output_hooks, OutputSpec, RenderContext
from compat.plugins.docs import view as docview, writer as docwriter
from compat.plugins.docs.view import DocModel
from compat.plugins.docs.writer import NONE

FILE = "kvm-register-compat.md"
OUTPUT = OutputSpec(name="docs-md", files=(FILE,),
                    description="register and machine-type compat documentation (Markdown)")

_CODE_SAFE = re.compile(r"[A-Za-z0-9_ ,.=&:x()/+-]+")


def render_files(context: RenderContext) -> dict[str, Iterator[str]]:
    """The Markdown document for the context's registry and derivation, as
    chunks (compat writes them as they come)."""
    return {FILE: render_chunks(docview.from_context(context))}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)


# -- Markdown syntax -------------------------------------------------------------

def code(value: str | None) -> str:
    """A code span when the text is plainly safe in one, else escaped text."""
    if not value:
        return NONE
    if _CODE_SAFE.fullmatch(value) and value.strip() == value:
        return f"`{value}`"
    return md_text(value)


def cell(items: list[str]) -> str:
    """A table cell from already-escaped items."""
    return "<br>".join(items) if items else NONE


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table of already-escaped cells."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out + [""]


class MarkdownMarkup(docwriter.Markup):
    """GitHub-flavoured Markdown."""

    text = staticmethod(md_text)
    literal = staticmethod(code)

    def label(self, kind: str, name: str) -> str:
        # only the registry name needs escaping; kind is plain words
        return f"{kind} {md_text(name)}"

    def anchor(self, target: str) -> list[str]:
        # an explicit id: heading slugs differ between renderers
        return [f'<a id="{target}"></a>', ""]

    def link(self, name: str, target: str) -> str:
        return f"[{code(name)}](#{target})"

    def comment(self, value: str) -> list[str]:
        return [f"<!-- {value} -->", ""]

    def title(self, value: str) -> list[str]:
        return [f"# {value}", ""]

    def heading(self, level: int, value: str) -> list[str]:
        return ["#" * (level + 1) + f" {value}", ""]

    def table_start(self, caption: str, header: list[str]) -> list[str]:
        # GFM tables have no caption; the heading above says what it is
        return table(header, [])[:-1]

    def table_row(self, row: list[list[str]]) -> list[str]:
        return ["| " + " | ".join([cell(c) for c in row]) + " |"]


MARKUP = MarkdownMarkup()


def render(model: DocModel) -> str:
    """The whole Markdown document for ``model``."""
    return docwriter.render(model, MARKUP)


def render_chunks(model: DocModel) -> Iterator[str]:
    """:func:`render`'s text in pieces, produced as they are written."""
    return docwriter.render_chunks(model, MARKUP)
