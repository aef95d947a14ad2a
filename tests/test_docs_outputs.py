"""The ``docs-rst`` and ``docs-md`` outputs: valid, complete, escaped."""

from __future__ import annotations

import io
import re

import docutils.core
import docutils.nodes as nodes
import pytest

from compat.load.pipeline import load_text, render, select_outputs
from compat.plugin.host import PluginHost
from compat.plugins.docs import rst as docs_rst, view as docview

RST = "kvm-register-compat.rst"
MD = "kvm-register-compat.md"

HOSTILE = "*/ ``x`` |a|b| <script>alert(1)</script> **bold** _x_ \n.. raw:: html"
#: The same text as a TOML basic string.
HOSTILE_TOML = ('"*/ ``x`` |a|b| <script>alert(1)</script> **bold** _x_ '
                '\\n.. raw:: html"')


def host() -> PluginHost:
    """The built-in plugins."""
    return PluginHost.create()


def build_docs(text: str) -> dict[str, str]:
    loaded = load_text(text, host=host())
    return render(loaded, select_outputs(loaded, ["docs-rst", "docs-md"]))


def parse_rst(text: str) -> nodes.document:
    """Parse with docutils; warnings halt, infos are kept as system_messages."""
    return docutils.core.publish_doctree(text, settings_overrides={
        "halt_level": 2, "report_level": 1, "warning_stream": io.StringIO()})


def messages(doctree: nodes.document) -> list[str]:
    return [m.astext() for m in doctree.findall(nodes.system_message)]


def section(doctree: nodes.document, title: str) -> nodes.section:
    for sec in doctree.findall(nodes.section):
        if sec[0].astext() == title:
            return sec
    raise AssertionError(f"no section {title!r}")


def bullet_after(sec: nodes.section, label: str) -> list[str]:
    """Texts of the bullet list following the paragraph starting ``label``."""
    children = list(sec.children)
    for i, child in enumerate(children):
        if isinstance(child, nodes.paragraph) and child.astext().startswith(label):
            nxt = children[i + 1]
            if isinstance(nxt, nodes.bullet_list):
                return [item.astext() for item in nxt.children]
            return []
    raise AssertionError(f"no paragraph {label!r} in {sec[0].astext()}")


def first_word(items: list[str]) -> list[str]:
    """The register (or feature) an item is about: machine-type items read
    ``NAME: reason``."""
    return [item.split(" ", 1)[0].removesuffix(":") for item in items]


def bullet_links(sec: nodes.section, label: str) -> list[str]:
    """The internal link targets of the bullet list following ``label``."""
    children = list(sec.children)
    for i, child in enumerate(children):
        if isinstance(child, nodes.paragraph) and child.astext().startswith(label):
            nxt = children[i + 1]
            if not isinstance(nxt, nodes.bullet_list):
                return []
            return [ref["refid"] for item in nxt.children
                    for ref in item.findall(nodes.reference) if "refid" in ref]
    raise AssertionError(f"no paragraph {label!r} in {sec[0].astext()}")


# -- rST -------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled_files() -> dict[str, str]:
    from conftest import BUNDLED
    return build_docs(BUNDLED.read_text())


def test_outputs_declared_with_their_files():
    loaded = load_text(_bundled(), host=host())
    specs = {s.name: s.files for s in select_outputs(loaded, ["docs-rst", "docs-md"])}
    assert specs == {"docs-rst": (RST,), "docs-md": (MD,)}


@pytest.fixture(scope="module")
def bundled_doctree(bundled_files) -> nodes.document:
    """The bundled rST parsed once for the tests that only read it."""
    return parse_rst(bundled_files[RST])


def _bundled() -> str:
    from conftest import BUNDLED
    return BUNDLED.read_text()


def test_rst_parses_without_messages(bundled_doctree):
    doctree = bundled_doctree
    assert messages(doctree) == []
    assert doctree.astext().startswith("KVM register migration compatibility")


def test_rst_register_table_has_a_row_per_register(bundled_doctree):
    registry = load_text(_bundled(), host=host()).registry
    doctree = bundled_doctree
    tables = list(doctree.findall(nodes.table))
    assert tables, "no register table"
    body = next(tables[0].findall(nodes.tbody))
    rows = [[entry.astext() for entry in row.findall(nodes.entry)] for row in body.children]
    assert [r[0] for r in rows] == sorted(registry.registers)
    assert all(len(r) == 7 for r in rows)
    by_name = {r[0]: r for r in rows}
    tcr2 = by_name["TCR2_EL1"]
    assert tcr2[1] == "0x603000000013c103"
    assert "ARM64_SYS_REG(3, 0, 2, 0, 3)" in tcr2[2]
    assert "gated on FEAT_TCRX in Linux 6.13" in tcr2[3]
    assert tcr2[4] == "0fcb4eea5345"
    assert tcr2[5] == "tolerate-missing on virt-10.0..virt-10.2"
    assert "safe because" in tcr2[6]
    bmap2 = by_name["KVM_REG_ARM_VENDOR_HYP_BMAP_2"]
    assert bmap2[5].split() == ("hide on virt-10.0..virt-10.2 "
                                "refuse feature impl-cpu on virt-10.0..virt-10.2").split()
    assert "value & 0xffffffffffffffff == 0x0" in bmap2[6]
    assert "impl-cpu" in bmap2[6]
    # the pin the C sets (compat-props) reads the same here (issue 18 item 4)
    assert by_name["KVM_REG_ARM_PSCI_VERSION"][5] == \
        "pin kvm-psci-version=1.1 on virt-10.0..virt-10.2"
    assert by_name["KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1"][5] == "none"


def test_rst_machine_sections(bundled_doctree):
    registry = load_text(_bundled(), host=host()).registry
    doctree = bundled_doctree
    titles = [s[0].astext() for s in doctree.findall(nodes.section)]
    machine_titles = [t for t in titles if t.startswith("Machine type ")]
    assert machine_titles == [f"Machine type {m.name}" for m in registry.machine_versions()]

    v101 = section(doctree, "Machine type virt-10.1")
    assert "Linux 6.12 or later" in v101.astext()
    assert first_word(bullet_after(v101, "Hidden registers")) == [
        r.register.name for r in loaded_bundled().derivation.for_machine("virt-10.1").hidden]
    assert "KVM_REG_ARM_VENDOR_HYP_BMAP_2" in first_word(bullet_after(v101, "Hidden registers"))
    tolerated = first_word(bullet_after(v101, "Tolerated when missing"))
    assert {"TCR2_EL1", "PIRE0_EL1", "PIR_EL1"} <= set(tolerated)
    assert "KVM_REG_ARM_VENDOR_HYP_BMAP_2" not in tolerated
    hidden_text = " ".join(bullet_after(v101, "Hidden registers"))
    assert "KVM_REG_ARM_VENDOR_HYP_BMAP_2: added in Linux 6.15" in hidden_text
    # the reason in a few words; the commit, guard and index are in the
    # register's section, which each name links to
    assert "c0000e58c74e" not in hidden_text and "0x6030000000160003" not in hidden_text
    assert "safe when" not in hidden_text
    refused = bullet_after(v101, "Refused features")
    assert len(refused) == 1 and refused[0].startswith("impl-cpu")
    assert "virt-11.0" in refused[0]

    v111 = section(doctree, "Machine type virt-11.1")
    assert "Linux 6.18 or later" in v111.astext()
    assert first_word(bullet_after(v111, "Hidden registers")) == ["PMMIR_EL1"]   # Linux 7.3
    assert bullet_after(v111, "Tolerated when missing") == []
    assert bullet_after(v111, "Refused features") == []


def test_rst_machine_sections_link_register_sections(bundled_doctree):
    """Every hidden/tolerated (and refused) register links to its own
    register section; docutils resolves every link."""
    loaded = loaded_bundled()
    doctree = bundled_doctree
    assert not messages(doctree)
    resolved = {}
    for sec in doctree.findall(nodes.section):
        for name in sec["ids"]:
            resolved[name] = sec[0].astext()
    for machine in loaded.registry.machine_versions():
        rules = loaded.derivation.for_machine(machine.name)
        sec = section(doctree, f"Machine type {machine.name}")
        for label, derived in (("Hidden registers", rules.hidden),
                               ("Tolerated when missing", rules.tolerated)):
            titles = [resolved[t] for t in bullet_links(sec, label)]
            assert titles == [f"Register {r.register.name}" for r in derived]
        refused = [resolved[t] for t in bullet_links(sec, "Refused features")]
        assert refused == [f"Register {r.register.name}" for r in rules.refusals]


def test_rst_feature_section(bundled_doctree):
    doctree = bundled_doctree
    feat = section(doctree, "Feature impl-cpu").astext()
    assert "KVM_REG_ARM_VENDOR_HYP_BMAP_2" in feat and "0x3" in feat
    assert "Refused by: virt-10.2, virt-10.1, virt-10.0" in feat
    assert "Oldest machine type that allows it: virt-11.0" in feat


def test_no_absolute_paths_or_timestamps(bundled_files):
    for text in bundled_files.values():
        assert "/work/" not in text and "/tmp/" not in text
        assert not re.search(r"\b20\d\d-\d\d-\d\d[T ]\d\d:", text)
        assert "registry.toml" in text.replace("\\", "")


def test_underlines_match_title_length():
    lines = docs_rst.heading("Machine type virt\\-10\\.1", "-")
    assert len(lines[1]) == len(lines[0])
    wide = docs_rst.heading("寄存器", "=")
    assert len(wide[1]) == 6
    doctree = parse_rst("\n".join(wide) + "text\n")
    assert messages(doctree) == []


# -- Markdown --------------------------------------------------------------

def unescaped_pipes(line: str) -> int:
    """Pipes not preceded by an odd number of backslashes."""
    count = 0
    for m in re.finditer(r"(\\*)\|", line):
        if len(m.group(1)) % 2 == 0:
            count += 1
    return count


def md_tables(text: str) -> list[list[str]]:
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def check_md_tables(text: str) -> list[list[str]]:
    tables = md_tables(text)
    assert tables, "no table"
    for table in tables:
        cells = unescaped_pipes(table[0])
        assert re.fullmatch(r"\|(---\|)+", table[1]), table[1]
        assert unescaped_pipes(table[1]) == cells
        for row in table[2:]:
            assert row.endswith("|")
            assert unescaped_pipes(row) == cells, row
    return tables


def test_md_tables_well_formed(bundled_files):
    tables = check_md_tables(bundled_files[MD])
    registry = load_text(_bundled(), host=host()).registry
    rows = tables[0][2:]
    assert len(rows) == len(registry.registers)
    # each name links to the register's section
    names = [re.fullmatch(r"\[`(\w+)`\]\(#kvm-reg-0x[0-9a-f]{16}\)", row.split("|")[1].strip())[1]
             for row in rows]
    assert names == sorted(registry.registers)


def test_md_machine_sections(bundled_files):
    text = bundled_files[MD]
    registry = load_text(_bundled(), host=host()).registry
    heads = [line[len("### Machine type "):].replace("\\", "")
             for line in text.splitlines() if line.startswith("### Machine type ")]
    assert heads == [m.name for m in registry.machine_versions()]
    part = text.split("### Machine type virt\\-10\\.1", 1)[1].split("### ", 1)[0]
    hidden = part.split("Hidden registers", 1)[1].split("Tolerated", 1)[0]
    assert "`KVM_REG_ARM_VENDOR_HYP_BMAP_2`" in hidden
    tolerated = part.split("Tolerated when missing", 1)[1].split("Refused", 1)[0]
    for name in ("TCR2_EL1", "PIRE0_EL1", "PIR_EL1"):
        index = f"{registry.registers[name].index:#018x}"
        assert f"- [`{name}`](#kvm-reg-{index}): gated on FEAT" in tolerated
        # the link lands on an anchor just above the register's heading
        heading = "### Register " + name.replace("_", "\\_")
        assert f'<a id="kvm-reg-{index}"></a>\n\n{heading}\n' in text
    newest = text.split("### Machine type virt\\-11\\.1", 1)[1].split("### ", 1)[0]
    assert "`PMMIR_EL1`" in newest.split("Hidden registers", 1)[1].split("Tolerated", 1)[0]
    assert newest.count("None.") == 2       # nothing tolerated, nothing refused


def test_rst_and_md_share_content(bundled_files, bundled_doctree):
    """Both renderers print every register, machine type and feature."""
    loaded = load_text(_bundled(), host=host())
    from compat.qemu.resolved import resolve
    model = docview.build(resolve(loaded.registry, loaded.derivation), loaded.source_name)
    rst_plain = bundled_doctree.astext()
    md_plain = bundled_files[MD].replace("\\", "")
    for row in model.registers:
        assert row.index in rst_plain and row.index in md_plain
    for m in model.machines:
        assert m.name in rst_plain and m.name in md_plain


# -- hostile registry text ---------------------------------------------------

def hostile_registry(bundled: str) -> str:
    old = ('description = "Extended Translation Control Register (FEAT_TCRX)."')
    assert old in bundled
    text = bundled.replace(old, f"description = {HOSTILE_TOML}")
    old_because = ('safe-because = "A guest without FEAT_TCRX cannot access TCR2_EL1, '
                   'so its value carries no guest state."')
    assert old_because in text
    text = text.replace(old_because, f"safe-because = {HOSTILE_TOML}")
    old_feature = 'description = "Target implementation CPUs:'
    assert old_feature in text
    return text.replace(old_feature, f"description = {HOSTILE_TOML[:-1]} Target:")


@pytest.fixture(scope="module")
def hostile_files() -> dict[str, str]:
    return build_docs(hostile_registry(_bundled()))


def test_hostile_text_loaded_as_written():
    loaded = load_text(hostile_registry(_bundled()), host=host())
    assert loaded.registry.registers["TCR2_EL1"].description == HOSTILE


def test_hostile_rst_parses_and_text_is_inert(hostile_files):
    doctree = parse_rst(hostile_files[RST])
    assert messages(doctree) == []
    assert not list(doctree.findall(nodes.raw))
    assert not list(doctree.findall(nodes.strong))
    assert not list(doctree.findall(nodes.emphasis))
    tcr2 = section(doctree, "Register TCR2_EL1")
    flat = " ".join(HOSTILE.split())
    assert flat in tcr2.astext()
    # table still has one row per register, 7 cells each
    body = next(next(doctree.findall(nodes.table)).findall(nodes.tbody))
    assert all(len(list(row.findall(nodes.entry))) == 7 for row in body.children)
    assert len(body.children) == len(loaded_bundled().registry.registers)


def test_hostile_md_tables_and_escaping(hostile_files):
    text = hostile_files[MD]
    check_md_tables(text)
    assert "<script>" not in text
    assert "\\<script\\>" in text
    assert "\\*\\*bold\\*\\*" in text
    assert "\\|a\\|b\\|" in text
    # the newline collapsed: ".. raw" never starts a line
    assert not any(line.startswith(".. raw") for line in text.splitlines())


def test_hostile_rst_has_no_directive_line(hostile_files):
    assert not any(line.lstrip().startswith(".. raw")
                   for line in hostile_files[RST].splitlines())


def test_docs_deterministic(bundled_files):
    assert build_docs(_bundled()) == bundled_files


def test_registry_without_features():
    text = re.sub(r"\[features\.impl-cpu\].*?\n\n", "", _bundled(), flags=re.S)
    text = text.replace('used-by = ["impl-cpu"]\n', "")
    assert "[features." not in text
    files = build_docs(text)
    doctree = parse_rst(files[RST])
    assert messages(doctree) == []
    assert "No feature writes a register." in section(doctree, "Features").astext()
    assert bullet_after(section(doctree, "Machine type virt-10.1"), "Refused features") == []
    check_md_tables(files[MD])


def loaded_bundled():
    """The bundled registry, loaded and derived."""
    return load_text(_bundled(), host=host())


# -- no links from registry text (issue 13, item 14) ------------------------------

def test_bundled_rst_has_no_links_from_registry_text(bundled_doctree):
    """docutils turns a bare ``a@b.c`` into a ``mailto:`` reference; the
    bundled registry's sources carry three such addresses."""
    assert "@" in _bundled()  # the case this guards
    doctree = bundled_doctree
    external = [ref.get("refuri") for ref in doctree.findall(nodes.reference)
                if ref.get("refuri")]
    assert not external, external


def test_bundled_markdown_has_no_autolinks(bundled_files):
    cmarkgfm = pytest.importorskip("cmarkgfm")
    html = cmarkgfm.github_flavored_markdown_to_html(bundled_files["kvm-register-compat.md"])
    links = re.findall(r"<a [^>]*>", html)
    # the only links are compat's own: machine types and the table point at
    # each register's anchor; registry text (commits' mail addresses, URLs)
    # never becomes one
    ours = re.compile(r'<a href="#kvm-reg-0x[0-9a-f]{16}">')
    assert links and all(ours.fullmatch(a) for a in links), \
        [a for a in links if not ours.fullmatch(a)][:5]


_LINKY = ["a@b.c", "Foo <foo@bar.org>", "mailto:x@y.z", "https://example.com/x?y=1",
          "HTTP://A.B", "www.example.com", "(www.x.org)", "ftp://f.g/h", "xmpp:a@b.c",
          "file:///etc/passwd", "<https://a.b>", "[x](https://a.b)", "`https://a.b`"]


@pytest.mark.parametrize("text", _LINKY)
def test_link_like_text_stays_text(text):
    from compat.core.text import md_text, rst_text
    doctree = parse_rst(f"Text {rst_text(text)} end.\n")
    assert not list(doctree.findall(nodes.reference)), text
    assert doctree.astext() == f"Text {text} end."
    cmarkgfm = pytest.importorskip("cmarkgfm")
    html = cmarkgfm.github_flavored_markdown_to_html(f"Text {md_text(text)} end.")
    assert "<a " not in html, html
    shown = re.sub(r"<[^>]+>", "", html).replace("\u2060", "")
    import html as html_mod
    assert html_mod.unescape(shown).strip() == f"Text {text} end.", html
