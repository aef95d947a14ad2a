"""One walk over the documentation model, for every markup language.

In the style of QEMU's ``scripts/qapi`` generators: :func:`render` visits a
:class:`compat.plugins.docs.view.DocModel` once and says *what* the document
contains (a title, headings, paragraphs, bullet lists, a table, inline text
and literals) through a :class:`Markup`; each output module (``docs_rst``,
``docs_md``) supplies a :class:`Markup` that knows only *how* its language
writes those things and how it escapes registry text.

Every string handed to a :class:`Markup` block method (``title``,
``heading``, ``paragraph``, ``bullets``, ``table``) is already escaped: the
walker escapes registry text with :meth:`Markup.text` and
:meth:`Markup.literal` where it composes a line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from itertools import chain
from typing import Iterable, Iterator

from compat.plugin import GENERATED, HIDE, SPDX
from compat.plugins.docs.view import ChangeInfo, DocModel, RuleEntry

NONE = "none"
NO_ENTRIES = "None."

#: Heading levels below the document title.
SECTION, SUBSECTION = 1, 2


class Markup(ABC):
    """How one markup language writes the blocks and inline pieces of a document.

    Block methods return a list of lines that ends with a blank line.
    """

    # -- inline ------------------------------------------------------------

    @staticmethod
    @abstractmethod
    def text(value: str) -> str:
        """``value`` escaped as plain inline text."""

    @staticmethod
    @abstractmethod
    def literal(value: str) -> str:
        """``value`` as an inline literal (code), escaped."""

    @abstractmethod
    def label(self, kind: str, name: str) -> str:
        """The escaped heading text ``kind name`` (``Register TCR2_EL1``)."""

    @abstractmethod
    def anchor(self, target: str) -> list[str]:
        """A link target named ``target`` for the heading that follows
        (``target`` is plain: letters, digits, ``-``)."""

    @abstractmethod
    def link(self, name: str, target: str) -> str:
        """``name`` (registry text) as a link to :meth:`anchor` ``target``."""

    # -- blocks ------------------------------------------------------------

    @abstractmethod
    def comment(self, value: str) -> list[str]:
        """A comment invisible in the rendered document (the SPDX line)."""

    @abstractmethod
    def title(self, value: str) -> list[str]:
        """The document title (escaped ``value``)."""

    @abstractmethod
    def heading(self, level: int, value: str) -> list[str]:
        """A heading of ``level`` (:data:`SECTION`, :data:`SUBSECTION`)."""

    def paragraph(self, value: str) -> list[str]:
        """A paragraph of one line."""
        return [value, ""]

    def bullets(self, items: list[str], empty: str) -> list[str]:
        """A bullet list of ``items``, or the paragraph ``empty`` when none.

        rST and Markdown both write a bullet as ``- item``."""
        if not items:
            return self.paragraph(empty)
        return [f"- {item}" for item in items] + [""]

    @abstractmethod
    def table_start(self, caption: str, header: list[str]) -> list[str]:
        """A table's caption and header row (no trailing blank line)."""

    @abstractmethod
    def table_row(self, row: list[list[str]]) -> list[str]:
        """One body row of a table; each cell is a list of items (empty: ``none``)."""

    def table_end(self) -> list[str]:
        """What closes a table."""
        return [""]

    def table(self, caption: str, header: list[str],
              rows: list[list[list[str]]]) -> list[str]:
        """A table; each cell is a list of items (empty: ``none``)."""
        out = self.table_start(caption, header)
        for row in rows:
            out += self.table_row(row)
        return out + self.table_end()


def register_target(index: str) -> str:
    """The link target of a register's section: its KVM index is unique and
    plain (names may differ only by case, which rST targets ignore)."""
    return f"kvm-reg-{index}"


def render(model: DocModel, markup: Markup) -> str:
    """The whole document for ``model``, written with ``markup``."""
    return "".join(render_chunks(model, markup))


def render_chunks(model: DocModel, markup: Markup) -> Iterator[str]:
    """The document for ``model`` as consecutive pieces of text (a few
    thousand lines each), produced as they are consumed: a large
    registry's document is never held whole, nor as a list of its lines."""
    head = markup.comment(SPDX)
    head += markup.title(markup.text(model.title))
    head += markup.paragraph(markup.text(GENERATED.format(source=model.source_name)))
    writer = _Writer(markup)
    return _text(chain((head,), writer.registers(model), writer.machines(model),
                       writer.features(model)))


#: Lines per chunk of :func:`render_chunks` (about 100 KiB of text).
CHUNK_LINES = 2048


def _text(groups: Iterable[list[str]]) -> Iterator[str]:
    """Groups of lines as text, a few thousand lines a chunk, each line
    ending with a newline, without the blank lines that end the last group
    (the document ends with one newline)."""
    buf: list[str] = []
    blank = 0  # trailing blank lines held back until more text follows
    for lines in groups:
        end = len(lines)
        while end and lines[end - 1] == "":
            end -= 1
        if end:
            buf += [""] * blank
            buf += lines[:end] if end < len(lines) else lines
            blank = len(lines) - end
            if len(buf) >= CHUNK_LINES:
                yield "\n".join(buf) + "\n"
                buf = []
        else:
            blank += len(lines)
    if buf:
        yield "\n".join(buf) + "\n"


class _Writer:
    """The document's content, section by section, through a :class:`Markup`."""

    def __init__(self, markup: Markup):
        self.m = markup
        # A register's rule reads the same on every machine type that has it:
        # render it once (large registries have thousands per machine type).
        # (by identity: the model shares one entry per register, kind and
        # reasons, and hashing an entry hashed all its fields, every time)
        self._rule_items: dict[int, tuple[RuleEntry, str]] = {}
        self._common: dict[str, str] = {}

    def common(self, value: str) -> str:
        """Escaped text that many registers share (a change's description, a
        rule line, a group name: a few hundred distinct values however
        large the registry), escaped once per document."""
        escaped = self._common.get(value)
        if escaped is None:
            escaped = self._common[value] = self.m.text(value)
        return escaped

    # -- inline helpers ------------------------------------------------------

    def text_or_none(self, value: str | None) -> str:
        """Escaped text; ``none`` for empty."""
        return self.m.text(value) if value else NONE

    def literal_or_none(self, value: str | None) -> str:
        """Escaped literal; ``none`` for empty."""
        return self.m.literal(value) if value else NONE

    def literals(self, names: tuple[str, ...]) -> str:
        """``a``, ``b`` as comma-separated literals."""
        return ", ".join(self.m.literal(n) for n in names)

    def change(self, change: ChangeInfo) -> str:
        """``gated on FEAT_X in Linux 6.13 (commit abc: subject)``, escaped."""
        extra = change.commit + (f": {change.subject}" if change.subject else "")
        return f"{self.common(change.describe)} ({self.m.text('commit ' + extra)})"

    def rule_item(self, entry: RuleEntry) -> str:
        """One hidden/tolerated register with its reasons, escaped."""
        cached = self._rule_items.get(id(entry))
        if cached is None:  # the entry is kept with its text, so its id stays its own
            cached = self._rule_items[id(entry)] = (entry, self._rule_item(entry))
        return cached[1]

    def _rule_item(self, entry: RuleEntry) -> str:
        """The register's name, linked to its section (index, guard, commits
        and sources live there once), and why in a few words."""
        m = self.m
        reasons = [self.common(c.describe) for c in entry.reasons]
        if entry.override:
            reasons.append(m.text("explicit override in the machine type"))
        why = "; ".join(reasons) or NONE
        return f"{m.link(entry.register, register_target(entry.index))}: {why}"

    def labelled_list(self, label: str, items: list[str], empty: str) -> list[str]:
        """``label:`` as a paragraph, then the bullet list."""
        return self.m.paragraph(f"{label}:") + self.m.bullets(items, empty)

    # -- sections ------------------------------------------------------------

    def registers(self, model: DocModel) -> Iterator[list[str]]:
        """The register table, then one section per register (lines in
        groups: the table's head, each row, each section)."""
        m = self.m
        header = ["Register", "Index", "Encoding", "Changes", "Commits", "Rules", "Guard"]
        yield m.heading(SECTION, "Registers") + m.table_start(
            "Registers whose exposure changed, and known stable ones", header)
        for reg in model.registers:
            guard = [m.text(g) for g in reg.guard]
            if reg.written_by:
                guard.append(m.text("written by features: " + ", ".join(reg.written_by)))
            yield m.table_row([
                [m.link(reg.name, register_target(reg.index))],
                [m.literal(reg.index)],
                [m.literal(reg.macro), m.text(reg.qemu_name)],
                [self.common(c.describe) for c in reg.changes],
                [m.literal(c) for c in reg.commits],
                [self.common(r) for r in reg.rules],
                guard,
            ])
        yield m.table_end()
        for reg in model.registers:
            out = m.anchor(register_target(reg.index))
            out += m.heading(SUBSECTION, m.label("Register", reg.name))
            out += m.paragraph(self.text_or_none(reg.description))
            facts = [
                f"Index: {m.literal(reg.index)}, encoding {m.literal(reg.macro)} "
                f"({self.common(reg.group)}, {reg.size} bits), "
                f"QEMU name {self.literal_or_none(reg.qemu_name)}",
                f"Reset value: {self.literal_or_none(reg.reset)}",
                "Rules: " + (("; ".join([self.common(r) for r in reg.rules]) or NONE)
                             if reg.rules else NONE),
                f"Defined at: {m.text(reg.where)}",
            ]
            # (the optional facts are tested first: most registers have none)
            if reg.limits:
                facts += [f"Accepts {m.text(limit)}" for limit in reg.limits]
            if reg.cpu_property:
                facts.append(f"CPU property: {m.text(reg.cpu_property)}")
            if reg.guard:
                facts += [f"Guard: {m.text(g)}" for g in reg.guard]
            if reg.written_by:
                facts.append("Written by features: " + self.literals(reg.written_by))
            out += m.bullets(facts, NONE)
            if reg.changes:
                items = []
                for c in reg.changes:
                    item = self.change(c)
                    if c.source:
                        item += f"; {m.text(c.source)}"
                    items.append(item)
                out += self.labelled_list("Changes", items, NONE)
            if reg.sources:
                out += self.labelled_list("Sources", [m.text(s) for s in reg.sources], NONE)
            yield out

    def machines(self, model: DocModel) -> Iterator[list[str]]:
        """One section per machine type: promise, hidden, tolerated, refused."""
        m = self.m
        yield m.heading(SECTION, "Machine types")
        for mt in model.machines:
            out = m.heading(SUBSECTION, m.label("Machine type", mt.name))
            promise = (f"Migrates between hosts running Linux {mt.min_kernel} or later"
                       + (f" (QEMU {mt.qemu})." if mt.qemu else "."))
            out += m.paragraph(m.text(promise))
            if mt.description:
                out += m.paragraph(m.text(mt.description))
            out += self.labelled_list(
                f"Hidden registers ({m.literal('x-mig-hidden-regs')})",
                [self.rule_item(e) for e in mt.hidden], NO_ENTRIES)
            out += self.labelled_list(
                f"Tolerated when missing ({m.literal('x-mig-safe-missing-regs')})",
                [self.rule_item(e) for e in mt.tolerated], NO_ENTRIES)
            items = []
            for r in mt.refusals:
                allow = ("oldest machine type that allows it: "
                         f"{m.literal(r.oldest_allowing)}"
                         if r.oldest_allowing else "no machine type allows it")
                verb = "hides" if r.kind == HIDE else "may drop"
                items.append(f"{m.literal(r.feature)} writes "
                             f"{m.link(r.register, register_target(r.index))} "
                             f"= {m.literal(r.value)}, "
                             f"which this machine type {verb}; {allow}")
            out += self.labelled_list("Refused features", items, NO_ENTRIES)
            if mt.vcpu_refusals:
                out += self.labelled_list(
                    "Refused vCPU features (the generated guard refuses them at VM start: "
                    "the promise spans a change such vCPUs cannot survive)",
                    [m.text(r) for r in mt.vcpu_refusals], NO_ENTRIES)
            if mt.pins:
                out += self.labelled_list(
                    "Pinned register values (value rules: a destination kernel refuses a "
                    "value newer than it knows, even for a register both hosts have)",
                    [m.text(p) for p in mt.pins], NO_ENTRIES)
            yield out

    def features(self, model: DocModel) -> Iterator[list[str]]:
        """One section per feature: what it writes, who refuses it."""
        m = self.m
        yield m.heading(SECTION, "Features")
        if not model.features:
            yield m.paragraph("No feature writes a register.")
            return
        for f in model.features:
            out = m.heading(SUBSECTION, m.label("Feature", f.name))
            out += m.paragraph(self.text_or_none(f.description))
            facts = []
            if f.property:
                facts.append(f"Property: {m.literal(f.property)}")
            if f.source:
                facts.append(f"Source: {m.text(f.source)}")
            facts.append(f"Defined at: {m.text(f.where)}")
            for w in f.writes:
                facts.append(f"Writes {m.literal(w.register)}"
                             + (f" ({m.literal(w.index)})" if w.index else "")
                             + f" = {m.literal(w.value)}")
            facts.append("Refused by: " + (self.literals(f.refused_by) or "no machine type"))
            if f.oldest_allowing:
                facts.append("Oldest machine type that allows it: "
                             + self.literals(f.oldest_allowing))
            out += m.bullets(facts, NONE)
            yield out
