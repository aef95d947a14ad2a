"""Built-in output ``docs-rst``: the register compat documentation in rST.

The document is meant for QEMU's Sphinx manual (``docs/system/arm/``);
docutils accepts it without warnings whatever the registry says, because
every piece of registry text goes through :func:`compat.text.rst_text` or
:func:`compat.text.rst_literal`.
"""

from __future__ import annotations

import unicodedata

from compat.plugin_api import OutputSpec, RenderContext, output_hooks
from compat.plugins import _docmodel
from compat.plugins._docmodel import ChangeInfo, DocModel, RuleEntry
from compat.text import GENERATED, SPDX, rst_literal, rst_text

FILE = "kvm-register-compat.rst"
OUTPUT = OutputSpec(name="docs-rst", files=(FILE,),
                    description="register and machine-type compat documentation (rST)")

NONE = "none"


def render_files(context: RenderContext) -> dict[str, str]:
    return {FILE: render(_docmodel.from_context(context))}


compat_outputs, compat_render_output = output_hooks(OUTPUT, render_files)


# -- building blocks ---------------------------------------------------------

def width(text: str) -> int:
    """Columns ``text`` takes (wide characters count twice), as docutils counts."""
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def heading(title: str, char: str, overline: bool = False) -> list[str]:
    """A section title (already escaped) with an underline of the right length."""
    line = char * max(width(title), len(title), 1)
    return ([line] if overline else []) + [title, line, ""]


def text(value: str | None) -> str:
    """Escaped inline text; ``none`` for empty."""
    return rst_text(value) if value else NONE


def literal(value: str | None) -> str:
    """Escaped inline literal; ``none`` for empty."""
    return rst_literal(value) if value else NONE


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
    out = [f"{indent}.. list-table:: {caption}", f"{indent}   :header-rows: 1", ""]
    for row in [[[h] for h in header]] + rows:
        for i, lines in enumerate(row):
            lead = "   * - " if i == 0 else "     - "
            out.append(indent + lead + lines[0])
            out.extend(indent + "       " + line for line in lines[1:])
    out.append("")
    return out


def change_text(change: ChangeInfo) -> str:
    """``gated on FEAT_X in Linux 6.13 (commit abc: subject)``, escaped."""
    extra = change.commit + (f": {change.subject}" if change.subject else "")
    return f"{rst_text(change.describe)} ({rst_text('commit ' + extra)})"


def bullets(items: list[str], empty: str) -> list[str]:
    """A bullet list of already-escaped items, or a paragraph ``empty``."""
    if not items:
        return [empty, ""]
    return [f"- {item}" for item in items] + [""]


def rule_item(entry: RuleEntry) -> str:
    """One hidden/tolerated register with its reasons, escaped."""
    reasons = [change_text(c) for c in entry.reasons]
    if entry.override:
        reasons.append(rst_text("explicit override in the machine type"))
    why = "; ".join(reasons) or NONE
    guard = "; ".join(rst_text(g) for g in entry.guard)
    tail = f"; {guard}" if guard else ""
    return f"{rst_literal(entry.register)} ({rst_literal(entry.index)}): {why}{tail}"


# -- the document ----------------------------------------------------------

def render(model: DocModel) -> str:
    """The whole rST document for ``model``."""
    out = [f".. {SPDX}", ""]
    out += heading(rst_text(model.title), "=", overline=True)
    out += [rst_text(GENERATED.format(source=model.source_name)), ""]
    out += _registers(model)
    out += _machines(model)
    out += _features(model)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def _registers(model: DocModel) -> list[str]:
    out = heading("Registers", "=")
    header = ["Register", "Index", "Encoding", "Changes", "Commits", "Rule", "Guard"]
    rows = []
    for reg in model.registers:
        guard = [rst_text(g) for g in reg.guard]
        if reg.written_by:
            guard.append(rst_text("written by features: " + ", ".join(reg.written_by)))
        rows.append([
            [rst_literal(reg.name)],
            [rst_literal(reg.index)],
            cell([rst_literal(reg.macro), rst_text(reg.qemu_name)]),
            cell([rst_text(c.describe) for c in reg.changes]),
            cell([rst_literal(c) for c in reg.commits]),
            [rst_text(reg.rule)],
            cell(guard),
        ])
    out += list_table("Registers whose exposure changed, and known stable ones", header, rows)
    for reg in model.registers:
        out += heading(rst_text(f"Register {reg.name}"), "-")
        out += [text(reg.description), ""]
        facts = [
            f"Index: {rst_literal(reg.index)}, encoding {rst_literal(reg.macro)} "
            f"({rst_text(reg.group)}, {reg.size} bits), QEMU name {literal(reg.qemu_name)}",
            f"Reset value: {literal(reg.reset)}",
            f"Rule: {rst_text(reg.rule)}",
            f"Defined at: {rst_text(reg.where)}",
        ]
        facts += [f"Guard: {rst_text(g)}" for g in reg.guard]
        if reg.written_by:
            facts.append("Written by features: "
                         + ", ".join(rst_literal(f) for f in reg.written_by))
        out += bullets(facts, NONE)
        if reg.changes:
            out += ["Changes:", ""]
            items = []
            for c in reg.changes:
                item = change_text(c)
                if c.source:
                    item += f"; {rst_text(c.source)}"
                items.append(item)
            out += bullets(items, NONE)
        if reg.sources:
            out += ["Sources:", ""]
            out += bullets([rst_text(s) for s in reg.sources], NONE)
    return out


def _machines(model: DocModel) -> list[str]:
    out = heading("Machine types", "=")
    for m in model.machines:
        out += heading(rst_text(f"Machine type {m.name}"), "-")
        promise = (f"Migrates between hosts running Linux {m.min_kernel} or later"
                   + (f" (QEMU {m.qemu})." if m.qemu else "."))
        out += [rst_text(promise), ""]
        if m.description:
            out += [rst_text(m.description), ""]
        out += ["Hidden registers (" + rst_literal("x-mig-hidden-regs") + "):", ""]
        out += bullets([rule_item(e) for e in m.hidden], "None.")
        out += ["Tolerated when missing (" + rst_literal("x-mig-safe-missing-regs")
                + "):", ""]
        out += bullets([rule_item(e) for e in m.tolerated], "None.")
        out += ["Refused features:", ""]
        items = []
        for r in m.refusals:
            allow = (f"oldest machine type that allows it: {rst_literal(r.oldest_allowing)}"
                     if r.oldest_allowing else "no machine type allows it")
            items.append(f"{rst_literal(r.feature)} writes {rst_literal(r.register)} "
                         f"({rst_literal(r.index)}) = {rst_literal(r.value)}, "
                         f"which this machine type hides; {allow}")
        out += bullets(items, "None.")
    return out


def _features(model: DocModel) -> list[str]:
    out = heading("Features", "=")
    if not model.features:
        return out + ["No feature writes a register.", ""]
    for f in model.features:
        out += heading(rst_text(f"Feature {f.name}"), "-")
        out += [text(f.description), ""]
        facts = []
        if f.property:
            facts.append(f"Property: {rst_literal(f.property)}")
        if f.source:
            facts.append(f"Source: {rst_text(f.source)}")
        facts.append(f"Defined at: {rst_text(f.where)}")
        for w in f.writes:
            facts.append(f"Writes {rst_literal(w.register)}"
                         + (f" ({rst_literal(w.index)})" if w.index else "")
                         + f" = {rst_literal(w.value)}")
        facts.append("Refused by: " + (", ".join(rst_literal(n) for n in f.refused_by)
                                       or "no machine type"))
        if f.oldest_allowing:
            facts.append("Oldest machine type that allows it: "
                         + ", ".join(rst_literal(n) for n in f.oldest_allowing))
        out += bullets(facts, NONE)
    return out
