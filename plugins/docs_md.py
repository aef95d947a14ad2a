"""Built-in output ``docs-md``: the register compat documentation in Markdown.

Same content as ``docs-rst`` (both come from :mod:`compat.plugins._docmodel`)
for places that render Markdown (GitLab, GitHub, mailing-list archives).
Registry text goes through :func:`compat.text.md_text`, so it can neither
become markup or HTML nor break a table cell.
"""

from __future__ import annotations

import re

from compat.plugin_api import OutputSpec, RenderContext, output_hooks
from compat.plugins import _docmodel
from compat.plugins._docmodel import ChangeInfo, DocModel, RuleEntry
from compat.text import GENERATED, SPDX, md_text

FILE = "kvm-register-compat.md"
OUTPUT = OutputSpec(name="docs-md", files=(FILE,),
                    description="register and machine-type compat documentation (Markdown)")

NONE = "none"
_CODE_SAFE = re.compile(r"[A-Za-z0-9_ ,.=&:x()/+-]+")


def render_files(context: RenderContext) -> dict[str, str]:
    return {FILE: render(_docmodel.from_context(context))}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)


# -- building blocks ---------------------------------------------------------

def text(value: str | None) -> str:
    """Escaped inline text; ``none`` for empty."""
    return md_text(value) if value else NONE


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


def bullets(items: list[str], empty: str) -> list[str]:
    """A bullet list of already-escaped items, or a paragraph ``empty``."""
    if not items:
        return [empty, ""]
    return [f"- {item}" for item in items] + [""]


def change_text(change: ChangeInfo) -> str:
    """``gated on FEAT_X in Linux 6.13 (commit abc: subject)``, escaped."""
    extra = change.commit + (f": {change.subject}" if change.subject else "")
    return f"{md_text(change.describe)} ({md_text('commit ' + extra)})"


def rule_item(entry: RuleEntry) -> str:
    """One hidden/tolerated register with its reasons, escaped."""
    reasons = [change_text(c) for c in entry.reasons]
    if entry.override:
        reasons.append("explicit override in the machine type")
    why = "; ".join(reasons) or NONE
    guard = "; ".join(md_text(g) for g in entry.guard)
    tail = f"; {guard}" if guard else ""
    return f"{code(entry.register)} ({code(entry.index)}): {why}{tail}"


# -- the document ----------------------------------------------------------

def render(model: DocModel) -> str:
    """The whole Markdown document for ``model``."""
    out = [f"<!-- {SPDX} -->", "", f"# {md_text(model.title)}", ""]
    out += [md_text(GENERATED.format(source=model.source_name)), ""]
    out += _registers(model)
    out += _machines(model)
    out += _features(model)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def _registers(model: DocModel) -> list[str]:
    out = ["## Registers", ""]
    header = ["Register", "Index", "Encoding", "Changes", "Commits", "Rule", "Guard"]
    rows = []
    for reg in model.registers:
        guard = [md_text(g) for g in reg.guard]
        if reg.written_by:
            guard.append(md_text("written by features: " + ", ".join(reg.written_by)))
        rows.append([
            code(reg.name), code(reg.index),
            cell([code(reg.macro), md_text(reg.qemu_name)]),
            cell([md_text(c.describe) for c in reg.changes]),
            cell([code(c) for c in reg.commits]),
            md_text(reg.rule), cell(guard),
        ])
    out += table(header, rows)
    for reg in model.registers:
        out += [f"### Register {md_text(reg.name)}", "", text(reg.description), ""]
        facts = [
            f"Index: {code(reg.index)}, encoding {code(reg.macro)} "
            f"({md_text(reg.group)}, {reg.size} bits), QEMU name {code(reg.qemu_name)}",
            f"Reset value: {code(reg.reset)}",
            f"Rule: {md_text(reg.rule)}",
            f"Defined at: {md_text(reg.where)}",
        ]
        facts += [f"Guard: {md_text(g)}" for g in reg.guard]
        if reg.written_by:
            facts.append("Written by features: " + ", ".join(code(f) for f in reg.written_by))
        out += bullets(facts, NONE)
        if reg.changes:
            items = []
            for c in reg.changes:
                item = change_text(c)
                if c.source:
                    item += f"; {md_text(c.source)}"
                items.append(item)
            out += ["Changes:", ""] + bullets(items, NONE)
        if reg.sources:
            out += ["Sources:", ""] + bullets([md_text(s) for s in reg.sources], NONE)
    return out


def _machines(model: DocModel) -> list[str]:
    out = ["## Machine types", ""]
    for m in model.machines:
        out += [f"### Machine type {md_text(m.name)}", ""]
        promise = (f"Migrates between hosts running Linux {m.min_kernel} or later"
                   + (f" (QEMU {m.qemu})." if m.qemu else "."))
        out += [md_text(promise), ""]
        if m.description:
            out += [md_text(m.description), ""]
        out += ["Hidden registers (`x-mig-hidden-regs`):", ""]
        out += bullets([rule_item(e) for e in m.hidden], "None.")
        out += ["Tolerated when missing (`x-mig-safe-missing-regs`):", ""]
        out += bullets([rule_item(e) for e in m.tolerated], "None.")
        out += ["Refused features:", ""]
        items = []
        for r in m.refusals:
            allow = (f"oldest machine type that allows it: {code(r.oldest_allowing)}"
                     if r.oldest_allowing else "no machine type allows it")
            items.append(f"{code(r.feature)} writes {code(r.register)} ({code(r.index)}) "
                         f"= {code(r.value)}, which this machine type hides; {allow}")
        out += bullets(items, "None.")
    return out


def _features(model: DocModel) -> list[str]:
    out = ["## Features", ""]
    if not model.features:
        return out + ["No feature writes a register.", ""]
    for f in model.features:
        out += [f"### Feature {md_text(f.name)}", "", text(f.description), ""]
        facts = []
        if f.property:
            facts.append(f"Property: {code(f.property)}")
        if f.source:
            facts.append(f"Source: {md_text(f.source)}")
        facts.append(f"Defined at: {md_text(f.where)}")
        for w in f.writes:
            facts.append(f"Writes {code(w.register)}"
                         + (f" ({code(w.index)})" if w.index else "")
                         + f" = {code(w.value)}")
        facts.append("Refused by: " + (", ".join(code(n) for n in f.refused_by)
                                       or "no machine type"))
        if f.oldest_allowing:
            facts.append("Oldest machine type that allows it: "
                         + ", ".join(code(n) for n in f.oldest_allowing))
        out += bullets(facts, NONE)
    return out
