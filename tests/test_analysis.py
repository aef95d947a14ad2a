"""Register-list readers, the QEMU load simulator, the audit and its HTML report."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from itertools import permutations
from pathlib import Path

import pytest

from compat.core import codec
from compat.analysis.audit import FAIL, NA, OK, audit
from compat.analysis.html_report import render_html
from compat.analysis.reglist import C_INIT, PLAIN, TRACE, parse_reglist, read_reglist
from compat.analysis.simulate import LENGTH_ERROR, Simulator, simulate
from compat.core.diagnostics import CompatError
from compat.load.semantic import load_registry, load_registry_text
from compat.core.versions import Version
from conftest import BUNDLED, REGLISTS

KERNELS = ("6.12", "6.13", "6.14", "6.15", "6.16")
BMAP_2 = 0x6030000000160003
TCR2 = 0x603000000013c103


@pytest.fixture(scope="module")
def registry():
    return load_registry(BUNDLED)


def rl(host: str, kernel: str):
    return read_reglist(REGLISTS / f"{host}-linux-{kernel}.reglist")


def failing_names(result) -> list[str]:
    return sorted(f.name for f in result.failures)


def drop_table(text: str, header: str) -> str:
    """``text`` without the TOML table starting at ``header``."""
    start = text.index(header)
    rest = text[start + len(header):]
    nxt = re.search(r"^(\[|# -{10})", rest, re.M)
    return text[:start] + (rest[nxt.start():] if nxt else "")


def registry_without_bmap2(text: str) -> str:
    return drop_table(drop_table(text, "[registers.KVM_REG_ARM_VENDOR_HYP_BMAP_2]"),
                      "[features.impl-cpu]")


def all_lists():
    return [read_reglist(p) for p in sorted(REGLISTS.glob("*.reglist"))]


# -- readers ---------------------------------------------------------------

def test_plain_reader_uses_header():
    r = rl("n1", "6.12")
    assert (r.host, r.kernel, r.format) == ("n1", Version(6, 12), PLAIN)
    assert TCR2 in r.indices and list(r.indices) == sorted(set(r.indices))
    assert r.description and "Neoverse" in r.description


def test_plain_reader_falls_back_to_file_name_then_options(tmp_path):
    named = tmp_path / "box-linux-6.14.reglist"
    named.write_text("0x603000000013c103\n")
    r = read_reglist(named)
    assert (r.host, str(r.kernel)) == ("box", "6.14")
    bare = tmp_path / "dump.txt"
    bare.write_text("# a comment\n0x603000000013c103\n\n")
    r = read_reglist(bare, kernel="6.13.0-55.el10.aarch64", host="h")
    assert (r.host, str(r.kernel), r.indices) == ("h", "6.13", (TCR2,))
    with pytest.raises(CompatError, match="cannot tell which kernel"):
        read_reglist(bare)


def test_header_wins_over_file_name(tmp_path):
    f = tmp_path / "box-linux-6.14.reglist"
    f.write_text("# kernel: 6.16\n# host: other (desc)\n0x603000000013c103\n")
    r = read_reglist(f)
    assert (r.host, str(r.kernel), r.description) == ("other", "6.16", "desc")


def test_selftest_initializer_reader():
    text = """\
/* from tools/testing/selftests/kvm/arm64/get-reg-list.c */
static __u64 base_regs[] = {
\tKVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(regs.pc),
\tKVM_REG_ARM_FW_REG(0),\t\t/* KVM_REG_ARM_PSCI_VERSION */
\tARM64_SYS_REG(3, 0, 2, 0, 3),\t/* TCR2_EL1 */
\tARM64_SYS_REG(3, 0, 10, 2, 2), // PIRE0_EL1
};
"""
    r = parse_reglist(text, "sel.c", kernel="6.12", host="n1")
    assert r.format == C_INIT
    pc = codec.parse_expr("KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | "
                          "KVM_REG_ARM_CORE_REG(regs.pc)")
    assert set(r.indices) == {pc, codec.fw_reg(0), TCR2, codec.sysreg(3, 0, 10, 2, 2)}
    assert r.cpreg_indices() == frozenset({codec.fw_reg(0), TCR2, codec.sysreg(3, 0, 10, 2, 2)})


def test_selftest_reader_reports_bad_expression_with_line():
    text = "ARM64_SYS_REG(3, 0, 2, 0, 3),\nARM64_SYS_REG(3, 0, 2, 0),\n"
    with pytest.raises(CompatError) as exc:
        parse_reglist(text, "sel.c", kernel="6.12")
    assert "sel.c:2:" in str(exc.value) and "ARM64_SYS_REG(3, 0, 2, 0)" in str(exc.value)


def test_trace_reader_extracts_every_index():
    text = """\
qemu-system-aarch64: load of migration failed: Operation not permitted
kvm_arm_cpu_post_load_missing_reg cpu 0 reg 0x603000000013c103 op0:3 op1:0 crn:2 crm:0 op2:3
cpu_post_load: unknown reg 0x603000000013c512, also 0x603000000013C513
cpu_post_load: unknown reg 0x603000000013c103
"""
    r = parse_reglist(text, "trace.log", kernel="6.12")
    assert r.format == TRACE
    assert r.indices == (TCR2, 0x603000000013c512, 0x603000000013c513)


@pytest.mark.parametrize("bad, line", [
    ("0x603000000013c103\nhello world\n", 2),
    ("# kernel: 6.12\n0x603000000013c103\n0x1ffffffffffffffff\n", 3),
    ("0x603000000013c103\n\n0x60300000001zc103\n", 3),
])
def test_malformed_line_names_file_and_line(tmp_path, bad, line):
    f = tmp_path / "h-linux-6.12.reglist"
    f.write_text(bad)
    with pytest.raises(CompatError) as exc:
        read_reglist(f)
    message = str(exc.value)
    assert f"{f}:{line}:" in message
    assert "expected one hex register index per line" in message


def test_bad_kernel_header_is_located(tmp_path):
    f = tmp_path / "x.reglist"
    f.write_text("# kernel: six\n0x603000000013c103\n")
    with pytest.raises(CompatError, match=r"x.reglist:1: error: 'six' is not a version"):
        read_reglist(f)


# -- simulator: no rules ---------------------------------------------------

@pytest.mark.parametrize("host", ["n1", "v2"])
def test_no_rules_forward_612_613_fails_on_gated_registers(registry, host):
    result = simulate(rl(host, "6.12"), rl(host, "6.13"), registry)
    assert not result.ok
    assert failing_names(result) == ["PIRE0_EL1", "PIR_EL1", "TCR2_EL1"]
    assert all(f.direction == "forward" for f in result.failures)
    assert LENGTH_ERROR in result.qemu_error
    assert all("tolerate-missing" in f.fix for f in result.failures)


def test_no_rules_backward_615_614_fails_on_bmap2(registry):
    result = simulate(rl("n1", "6.15"), rl("n1", "6.14"), registry)
    assert failing_names(result) == ["KVM_REG_ARM_VENDOR_HYP_BMAP_2"]
    (f,) = result.failures
    assert (f.index, f.direction, f.qemu_name, f.in_registry) == \
        (BMAP_2, "backward", "fw feat reg 3", True)
    assert LENGTH_ERROR in f.qemu_error


def test_no_rules_passes_where_destination_has_more(registry):
    assert simulate(rl("n1", "6.14"), rl("n1", "6.15"), registry).ok


def test_lists_alone_assume_the_source_kernels_psci_version(registry):
    """6.13 -> 6.12: the lists fit, but a 6.13 source gives its vCPU PSCI 1.3
    (the registry's accepts default), which Linux 6.12 refuses: a FAIL on
    the value, with the pin as the fix, not a pass that depends on values."""
    result = simulate(rl("n1", "6.13"), rl("n1", "6.12"), registry)
    (f,) = result.failures
    assert (f.name, f.kind, result.verdict) == ("KVM_REG_ARM_PSCI_VERSION", "value", "fail")
    assert "Could not set register fw reg 0 to 10003 (is 10001)" in f.qemu_error
    assert "QEMU 10.0 as shipped has no kvm-psci-version" in f.fix
    assert "(--rules compat-props --machine virt-10.2)" in f.fix
    assert not result.depends_on


def test_unknown_register_without_length_error(registry):
    # 6.16 -> 6.12: BMAP_2 is extra but three registers are missing, so the
    # lengths pass and QEMU fails on the unknown register itself.
    result = simulate(rl("n1", "6.16"), rl("n1", "6.12"), registry)
    f, psci = result.failures
    assert f.kind == "unknown-register" and LENGTH_ERROR not in f.qemu_error
    assert "0x6030000000160003" in f.qemu_error
    assert (psci.name, psci.kind) == ("KVM_REG_ARM_PSCI_VERSION", "value")


# -- simulator: machine-type compat properties ------------------------------

@pytest.mark.parametrize("host", ["n1", "v2"])
def test_bundled_rules_virt_10_1_pass_every_pair(registry, host):
    sim = Simulator(registry)
    rules = sim.rule_set("compat-props", "virt-10.1")
    lists = [rl(host, k) for k in KERNELS]
    for src, dst in permutations(lists, 2):
        result = sim.simulate(src, dst, rules)
        assert result.ok, result.to_text()
        assert sim.passes(sim.cpreg(src), sim.cpreg(dst), rules)


def test_feature_guard_fails_with_message(registry):
    result = simulate(rl("n1", "6.15"), rl("n1", "6.14"), registry, rules="compat-props",
                      machine="virt-10.1", features=["impl-cpu"])
    assert not result.ok
    assert result.qemu_error == (
        "impl-cpu cannot be used with machine type virt-10.1: it sets "
        "KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003) to 0x3, but virt-10.1 hides "
        "that register from migration, because its promise spans a host kernel change "
        "(KVM_REG_ARM_VENDOR_HYP_BMAP_2 added in Linux 6.15); use machine type virt-11.0 "
        "or newer, or do not enable impl-cpu")
    assert result.failures[0].kind == "guard"


def test_feature_allowed_on_newer_machine(registry):
    result = simulate(rl("n1", "6.16"), rl("n1", "6.15"), registry, rules="compat-props",
                      machine="virt-11.0", features=["impl-cpu"])
    assert result.ok


def test_unknown_machine_and_feature_are_errors(registry):
    with pytest.raises(CompatError, match="unknown machine type 'virt-9.9'"):
        simulate(rl("n1", "6.15"), rl("n1", "6.14"), registry, rules="compat-props",
                 machine="virt-9.9")
    with pytest.raises(CompatError, match="unknown feature 'impl'"):
        simulate(rl("n1", "6.15"), rl("n1", "6.14"), registry, features=["impl"])


def test_outside_promise_is_noted(registry):
    result = simulate(rl("n1", "6.15"), rl("n1", "6.14"), registry, rules="compat-props",
                      machine="virt-11.0")
    assert not result.ok
    assert any("outside the promise" in n for n in result.notes)


# -- simulator: QEMU master tolerances -------------------------------------

def test_tolerances_forward_gated_registers_pass(registry):
    assert simulate(rl("n1", "6.12"), rl("n1", "6.13"), registry, rules="tolerances").ok


def test_tolerances_bmap2_value_test(registry):
    src, dst = rl("n1", "6.15"), rl("n1", "6.14")
    assert simulate(src, dst, registry, rules="tolerances").ok
    result = simulate(src, dst, registry, rules="tolerances", features=["impl-cpu"])
    (f,) = result.failures
    assert f.name == "KVM_REG_ARM_VENDOR_HYP_BMAP_2"
    assert "value 0x3 fails the tolerance test" in f.qemu_error


@pytest.mark.parametrize("host", ["n1", "v2"])
def test_tolerances_pass_every_pair_without_features(registry, host):
    """Every register list difference is tolerated; only a source on 6.13+
    (PSCI 1.3 for a new vCPU) into a destination on 6.12 fails, on the value."""
    lists = [rl(host, k) for k in KERNELS]
    for src, dst in permutations(lists, 2):
        result = simulate(src, dst, registry, rules="tolerances")
        if src.kernel >= Version(6, 13) > dst.kernel:
            assert [(f.name, f.kind) for f in result.failures] == \
                [("KVM_REG_ARM_PSCI_VERSION", "value")], result.to_text()
        else:
            assert result.ok, result.to_text()


# -- core and SVE never matter ---------------------------------------------

def test_core_and_sve_differences_never_fail_or_find(registry):
    base = "0x603000000013c103\n0x6030000000140000\n"
    core = codec.parse_expr("KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | "
                            "KVM_REG_ARM_CORE_REG(regs.pc)")
    sve = codec.parse_expr("KVM_REG_ARM64_SVE_ZREG(0, 0)")
    vls = codec.parse_expr("KVM_REG_ARM64_SVE_VLS")
    old = parse_reglist(base, "h-linux-6.13.reglist")
    new = parse_reglist(base + "".join(f"{codec.format_index(i)}\n" for i in (core, sve, vls)),
                        "h-linux-6.14.reglist")
    assert len(new.indices) == len(old.indices) + 3
    for a, b in ((old, new), (new, old)):
        assert simulate(a, b, registry).ok
    report = audit([old, new], registry)
    assert report.ok and report.uncovered == ()


# -- audit -------------------------------------------------------------------

def test_audit_bundled_is_clean(registry):
    report = audit(all_lists(), registry)
    assert report.ok, report.to_text()
    # ordered pairs of the same host inside each machine type's promise
    # (with the shared lists: virt-11.1 none, 11.0 2, 10.x 20, 10.0 30 per host)
    lists = all_lists()
    expected = 0
    for machine in registry.machine_versions():
        for host in {r.host for r in lists}:
            k = sum(1 for r in lists if r.host == host and r.kernel >= machine.min_kernel)
            expected += k * (k - 1)
    assert report.pair_count == expected == 2 * (0 + 2 + 20 + 20 + 30)


def test_audit_matrix_cells(registry):
    report = audit(all_lists(), registry)
    matrix = next(m for m in report.matrices if m.machine.name == "virt-11.0" and m.host == "n1")
    assert matrix.cell(Version(6, 16), Version(6, 15)).status == OK
    assert matrix.cell(Version(6, 14), Version(6, 15)).status == NA
    assert matrix.cell(Version(6, 16), Version(6, 16)).status == NA


def test_audit_without_bmap2_finds_and_suggestion_fixes(bundled_text):
    stripped = registry_without_bmap2(bundled_text)
    lists = all_lists()
    report = audit(lists, load_registry_text(stripped))
    assert not report.ok
    failing = {(m.machine.name, m.host, str(c.result.source.kernel),
                str(c.result.destination.kernel)) for m, c in report.failures}
    assert ("virt-10.1", "n1", "6.15", "6.14") in failing
    assert all(f.index == BMAP_2 for _, c in report.failures for f in c.result.failures)
    (u,) = report.uncovered
    assert (u.index, u.change, str(u.kernel), u.hosts, u.compat) == \
        (BMAP_2, "added", "6.15", ("n1", "v2"), "hide")
    toml = u.toml()
    assert "[registers.KVM_REG_ARM_VENDOR_HYP_BMAP_2]" in toml and "FIXME" in toml
    with pytest.raises(CompatError, match="commit"):   # the placeholder cannot be forgotten
        load_registry_text(stripped + "\n" + toml)
    fixed = audit(lists, load_registry_text(stripped + "\n" + fill_placeholders(toml)))
    assert fixed.ok, fixed.to_text()


def fill_placeholders(entry: str) -> str:
    """What a maintainer does with a suggested entry: look up the commit."""
    return entry.replace('commit = "FIXME"', 'commit = "abcdef1"')


def test_audit_removed_register_suggests_tolerate_missing(bundled_text):
    stripped = drop_table(bundled_text, "[registers.TCR2_EL1]")
    report = audit(all_lists(), load_registry_text(stripped))
    (u,) = report.uncovered
    assert (u.name, u.change, str(u.kernel), u.compat) == \
        ("TCR2_EL1", "removed", "6.13", "tolerate-missing")
    assert audit(all_lists(), load_registry_text(stripped + "\n" + fill_placeholders(u.toml()))).ok


def test_audit_rejects_duplicate_and_hostless_lists(registry):
    a = parse_reglist("0x603000000013c103\n", "a", kernel="6.12", host="h")
    b = parse_reglist("0x603000000013c103\n", "b", kernel="6.12", host="h")
    with pytest.raises(CompatError, match="a second register list for host h"):
        audit([a, b], registry)
    c = parse_reglist("0x603000000013c103\n", "c", kernel="6.12")
    with pytest.raises(CompatError, match="cannot tell which host"):
        audit([c], registry)


# -- HTML report -------------------------------------------------------------

class _Cells(HTMLParser):
    """Collect matrix cells: (machine, host, source, destination) -> (class, title)."""

    def __init__(self):
        super().__init__()
        self.cells = {}
        self.table = None
        self.tags = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "table" and "matrix" in a.get("class", ""):
            self.table = (a["data-machine"], a["data-host"])
        if tag == "td" and self.table:
            key = self.table + (a["data-source"], a["data-destination"])
            self.cells[key] = (a["class"], a["data-status"], a["title"])

    def handle_endtag(self, tag):
        if tag == "table":
            self.table = None


def _failing_report(bundled_text):
    return audit(all_lists(), load_registry_text(registry_without_bmap2(bundled_text)))


def test_html_matrix_parses(bundled_text):
    html = render_html(_failing_report(bundled_text))
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    parser = _Cells()
    parser.feed(html)
    cells = parser.cells
    cls, status, title = cells[("virt-10.1", "n1", "6.15", "6.14")]
    assert (cls, status) == (FAIL, FAIL) and "KVM_REG_ARM_VENDOR_HYP_BMAP_2" in title
    assert cells[("virt-10.1", "n1", "6.14", "6.15")][0] == OK
    assert cells[("virt-10.1", "n1", "6.12", "6.12")][0] == NA
    assert ("virt-10.1", "n1", "6.6", "6.12") not in cells   # 6.6: outside virt-10.1's promise
    assert cells[("virt-10.0", "v2", "6.6", "6.12")][0] == OK
    # per machine type and host, the kernels inside its promise squared; none
    # for a machine type whose promise holds no pair of lists (virt-11.1)
    assert len(cells) == _shown_cells(bundled_text)
    assert not any(key[0] == "virt-11.1" for key in cells)


def _shown_cells(bundled_text) -> int:
    """virt-11.0: 6.15, 6.16; virt-10.x: 6.12 to 6.16 (virt-10.0: from 6.6)."""
    report = _failing_report(bundled_text)
    return sum(sum(k >= m.machine.min_kernel for k in m.kernels) ** 2 for m in report.matrices
               if sum(k >= m.machine.min_kernel for k in m.kernels) > 1)


def test_html_escapes_input_and_registry_text(registry):
    old = parse_reglist("# host: <i>x&y</i>\n0x603000000013c103\n", "a", kernel="6.12")
    new = parse_reglist("# host: <i>x&y</i>\n0x603000000013c103\n0x603000000013c104\n",
                        "b", kernel="6.13")
    report = audit([old, new], registry)
    assert not report.ok        # 0x603000000013c104 is added, not in the registry
    html = render_html(report, title="<x>")
    assert "<x>" not in html and "&lt;x&gt;" in html
    assert "<i>" not in html and "&lt;i&gt;x&amp;y&lt;/i&gt;" in html
    parser = _Cells()
    parser.feed(html)
    assert parser.cells[("virt-10.1", "<i>x&y</i>", "6.13", "6.12")][0] == FAIL


@pytest.mark.browser
def test_html_renders_in_chromium(bundled_text, tmp_path):
    chromium = shutil.which("chromium") or ("/usr/bin/chromium"
                                            if Path("/usr/bin/chromium").exists() else None)
    if chromium is None:
        pytest.skip("chromium is not installed")
    page = tmp_path / "audit.html"
    page.write_text(render_html(_failing_report(bundled_text)))
    dom = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--disable-dev-shm-usage", "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    parser = _Cells()
    parser.feed(dom)
    assert parser.cells[("virt-10.1", "n1", "6.15", "6.14")][0] == FAIL
    assert len(parser.cells) == _shown_cells(bundled_text)


def test_trace_mode_keeps_lines_that_are_indices():
    """One annotated line must not make the reader drop the plain ones."""
    from compat.analysis.reglist import parse_reglist
    text = ("0x603000000013c103\n0x603000000013c512 seen in the trace\n0x6030000000140000\n"
            "ARM64_SYS_REG(3, 0, 10, 2, 3),\n")
    got = parse_reglist(text, "n1-linux-6.12.reglist").indices
    assert set(got) == {0x603000000013C103, 0x603000000013C512, 0x6030000000140000,
                        0x603000000013C513}
    # a line that is a number but no KVM index is an error there too
    with pytest.raises(CompatError, match=r"n1-linux-6.12.reglist:3: error: '0x14' is not a KVM"):
        parse_reglist(text.replace("0x6030000000140000", "0x14"), "n1-linux-6.12.reglist")


def test_readers_are_found_in_their_documented_order():
    """Detection walks every format module in ORDER; the package docstring's
    table lists them in that order."""
    import compat.analysis.readers as pkg
    found = [(m.ORDER, m.FORMAT) for m in pkg.readers()]
    assert [f for _, f in found] == ["qemu-stream", "idregs", "cpregs", "trace", "c-initializer", "plain"]
    documented = re.findall(r"^(\d+)\s+``([\w-]+)``", pkg.__doc__, re.M)
    assert [(int(o), f) for o, f in documented] == found
    for module in pkg.readers():
        assert callable(module.sniff) and callable(module.read)
