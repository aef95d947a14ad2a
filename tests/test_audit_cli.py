"""``compat check``, ``compat audit`` and ``compat diff`` as a user runs them."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser

import pytest

from conftest import REGLISTS


def reg(host: str, kernel: str) -> str:
    return str(REGLISTS / f"{host}-linux-{kernel}.reglist")


def drop_table(text: str, header: str) -> str:
    start = text.index(header)
    rest = text[start + len(header):]
    nxt = re.search(r"^(\[|# -{10})", rest, re.M)
    return text[:start] + (rest[nxt.start():] if nxt else "")


@pytest.fixture
def no_bmap2(tmp_path, bundled_text):
    path = tmp_path / "registry.toml"
    path.write_text(drop_table(drop_table(bundled_text, "[registers.KVM_REG_ARM_VENDOR_HYP_BMAP_2]"),
                               "[features.impl-cpu]"))
    return path


# -- check -----------------------------------------------------------------

def test_check_without_rules_fails_forward(compat_cli):
    r = compat_cli("check", reg("n1", "6.12"), reg("n1", "6.13"))
    assert r.rc == 1, r.err
    for name in ("TCR2_EL1", "PIRE0_EL1", "PIR_EL1"):
        assert name in r.out
    assert "failed to load cpu:cpreg_vmstate_array_len" in r.out
    assert "rules qemu-10.0" in r.out and "assuming QEMU 10.0 as shipped" in r.out


def test_check_passes_exit_0(compat_cli):
    r = compat_cli("check", reg("n1", "6.14"), reg("n1", "6.15"))
    assert (r.rc, r.err) == (0, "")
    assert ": ok" in r.out


def test_check_machine_defaults_to_compat_props(compat_cli):
    r = compat_cli("check", reg("v2", "6.15"), reg("v2", "6.14"), "--machine", "virt-10.1")
    assert r.rc == 0, r.out + r.err
    assert "compat-props (virt-10.1)" in r.out


def test_check_feature_guard_json(compat_cli):
    r = compat_cli("check", reg("n1", "6.15"), reg("n1", "6.14"), "--machine", "virt-10.1",
                   "--feature", "impl-cpu", "--json")
    assert r.rc == 1, r.err
    data = json.loads(r.out)
    assert data["ok"] is False and data["direction"] == "backward"
    assert data["qemu_error"] == (
        "impl-cpu cannot be used with machine type virt-10.1: it sets "
        "KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003) to 0x3, but virt-10.1 hides "
        "that register from migration, because its promise spans a host kernel change "
        "(KVM_REG_ARM_VENDOR_HYP_BMAP_2 added in Linux 6.15); use machine type virt-11.0 "
        "or newer, or do not enable impl-cpu")
    (f,) = data["failures"]
    assert (f["index"], f["kind"]) == ("0x6030000000160003", "guard")


def test_check_tolerances_json(compat_cli):
    ok = compat_cli("check", reg("n1", "6.15"), reg("n1", "6.14"), "--rules", "tolerances",
                    "--json")
    assert ok.rc == 0 and json.loads(ok.out)["ok"] is True
    bad = compat_cli("check", reg("n1", "6.15"), reg("n1", "6.14"), "--rules", "tolerances",
                     "--feature", "impl-cpu", "--json")
    assert bad.rc == 1
    (f,) = json.loads(bad.out)["failures"]
    assert f["name"] == "KVM_REG_ARM_VENDOR_HYP_BMAP_2" and "value 0x3" in f["qemu_error"]


def test_check_bad_input_is_an_error_not_a_traceback(compat_cli, tmp_path):
    bad = tmp_path / "h-linux-6.12.reglist"
    bad.write_text("0x603000000013c103\nnot a register\n")
    r = compat_cli("check", str(bad), reg("n1", "6.13"))
    assert r.rc == 1 and "Traceback" not in r.err
    assert f"{bad}:2: error:" in r.err
    r = compat_cli("check", reg("n1", "6.12"), reg("n1", "6.13"), "--machine", "virt-9.9")
    assert r.rc == 2 and "unknown machine type 'virt-9.9'" in r.err
    r = compat_cli("check", reg("n1", "6.12"), reg("n1", "6.13"), "--rules", "compat-props")
    assert r.rc == 2 and "<command line>: error:" in r.err and "--machine" in r.err
    r = compat_cli("check", reg("n1", "6.12"), str(tmp_path / "missing.reglist"))
    assert r.rc == 1 and "cannot read register list" in r.err


def test_check_kernel_option_for_unnamed_trace(compat_cli, tmp_path):
    trace = tmp_path / "dst.log"
    trace.write_text(
        "\n".join(f"kvm_arm_cpu_post_load reg {line.strip()}" for line in
                  open(reg("n1", "6.14")) if line.startswith("0x")) + "\n")
    r = compat_cli("check", reg("n1", "6.15"), str(trace), "--json")
    assert r.rc == 1 and "cannot tell which kernel" in r.err
    r = compat_cli("check", reg("n1", "6.15"), str(trace), "--to-kernel", "6.14", "--json")
    assert r.rc == 1
    data = json.loads(r.out)
    assert data["destination"]["format"] == "trace"
    assert [f["name"] for f in data["failures"]] == ["KVM_REG_ARM_VENDOR_HYP_BMAP_2"]


def test_check_help_documents_rules_default(compat_cli):
    r = compat_cli("check", "--help")
    assert r.rc == 0
    assert "default when --machine is given" in r.out and "default without --machine" in r.out


# -- audit -----------------------------------------------------------------

def all_reglists() -> list[str]:
    return sorted(str(p) for p in REGLISTS.glob("*.reglist"))


def test_audit_bundled_exits_0(compat_cli):
    r = compat_cli("audit", *all_reglists())
    assert r.rc == 0, r.out + r.err
    assert "audited 144 migrations" in r.out


def test_audit_missing_bmap2_then_paste_suggestion(compat_cli, no_bmap2):
    r = compat_cli("audit", "-r", str(no_bmap2), *all_reglists(), "--json")
    assert r.rc == 1, r.err
    data = json.loads(r.out)
    assert data["ok"] is False
    (u,) = data["uncovered"]
    assert (u["name"], u["change"], u["kernel"], u["suggested_compat"]) == \
        ("KVM_REG_ARM_VENDOR_HYP_BMAP_2", "added", "6.15", "hide")
    assert {(f["machine"], f["source"]["kernel"], f["destination"]["kernel"])
            for f in data["failures"]} >= {("virt-10.1", "6.15", "6.14")}
    text = compat_cli("audit", "-r", str(no_bmap2), *all_reglists())
    assert text.rc == 1 and u["toml"].rstrip("\n") in text.out
    with open(no_bmap2, "a") as f:
        f.write("\n" + u["toml"])
    pasted = compat_cli("validate", "-r", str(no_bmap2))
    assert pasted.rc == 1 and "FIXME is a placeholder" in pasted.err  # cannot be forgotten
    no_bmap2.write_text(no_bmap2.read_text().replace('commit = "FIXME"', 'commit = "c0000e58c74e"'))
    assert compat_cli("validate", "-r", str(no_bmap2)).rc == 0
    fixed = compat_cli("audit", "-r", str(no_bmap2), *all_reglists())
    assert fixed.rc == 0, fixed.out + fixed.err


REAL = REGLISTS.parent / "real"


def test_audit_text_leads_with_the_verdict_then_one_block_per_register(compat_cli, no_bmap2):
    r = compat_cli("audit", "-r", str(no_bmap2), *all_reglists())
    assert r.rc == 1, r.err
    lines = r.out.splitlines()
    assert lines[0] == ("FAIL: 40 of 144 promised migrations fail, on 1 register: "
                        "KVM_REG_ARM_VENDOR_HYP_BMAP_2 (not in the registry)")
    assert lines[1] == "audited 144 migrations among 12 register lists (n1, v2) on 5 machine types"
    assert lines[2].startswith("rules: compat-props: a QEMU carrying compat's generated tables")
    # one block for the register, though it fails with two different errors
    heads = [ln for ln in lines if ln.startswith("KVM_REG_ARM_VENDOR_HYP_BMAP_2 (")]
    assert heads == ["KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003): 40 backward "
                     "migrations fail (16 kernel pairs)"], heads
    assert "  failed to load cpu:cpreg_vmstate_array_len:" in lines
    assert any(ln.startswith("  error while loading state") for ln in lines)
    # its fix is the entry to paste, shown without --suggest
    assert "[registers.KVM_REG_ARM_VENDOR_HYP_BMAP_2]" in lines
    assert r.out.count("[registers.") == 1


def test_audit_registers_outside_every_promise_are_one_line_and_exit_0(compat_cli):
    lists = sorted(str(p) for p in REAL.glob("qemu11.1-max-linux-*.reglist"))
    r = compat_cli("audit", *lists)
    assert (r.rc, r.err) == (0, "")          # documented: listed, not failed
    lines = r.out.splitlines()
    # 9 kernels from 6.12 (72 ordered pairs) on virt-10.0..10.2, 8 from 6.16 on
    # virt-11.0 (56), 6 from 6.18 on virt-11.1 (30)
    assert lines[0] == "ok: all 302 promised migrations pass", lines[0]
    (names,) = [ln for ln in lines if "outside every machine type's promise" in ln]
    assert names.startswith("14 registers not in the registry vary only outside every "
                            "machine type's promise (reported, not a failure): ")
    assert "FPMR" in names and names.endswith("(--suggest prints a registry entry for each)")
    assert "[registers." not in r.out and len(lines) == 5, r.out
    suggested = compat_cli("audit", *lists, "--suggest")
    assert suggested.rc == 0
    assert suggested.out.count("[registers.") == 14 and "[registers.FPMR]" in suggested.out
    assert compat_cli("audit", *lists, "--json").rc == 0


def test_audit_exit_status_is_what_help_and_readme_say(compat_cli):
    """The README's exit-status table is each command's --help, word for word."""
    from compat.cli import EXIT
    from conftest import ROOT
    readme = (ROOT / "README.md").read_text()
    rows = {m[0]: (m[1], m[2]) for m in
            re.findall(r"^\| `([\w-]+)` \| (.*?) \| (.*?) \|$", readme, re.M)}
    for command, (ok, fail) in EXIT.items():
        assert rows[command] == (ok, fail), command
        text = " ".join(compat_cli(command, "--help").out.split())
        assert f"0 {ok} 1 {fail}" in text, command
    assert "outside every promise" in EXIT["audit"][0]


class _Cells(HTMLParser):
    """Every cell of the report's tables: a detail matrix's as
    ``(machine, host, source, destination) -> class``, the overview's as
    ``("heatmap", host, machine, source, destination) -> (class, link)``."""

    def __init__(self):
        super().__init__()
        self.cells, self.heat = {}, {}
        self.table = None
        self.ids, self.last = set(), None
        self.rows = {}                      # heatmap host -> machine rows, in order

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "table":
            self.table = (a["class"], a.get("data-machine"), a.get("data-host"))
        elif tag == "td" and self.table and self.table[0] == "matrix":
            self.cells[self.table[1:] + (a["data-source"], a["data-destination"])] = a["class"]
        elif tag == "td" and self.table and self.table[0] == "heatmap":
            host = self.table[2]
            if a["data-machine"] not in self.rows.setdefault(host, []):
                self.rows[host].append(a["data-machine"])
            self.last = ("heatmap", host, a["data-machine"], a["data-source"],
                         a["data-destination"])
            self.heat[self.last] = (a["class"].split()[0], None)
        elif tag == "a" and self.last:
            self.heat[self.last] = (self.heat[self.last][0], a["href"])

    def handle_endtag(self, tag):
        if tag == "td":
            self.last = None


def test_audit_html_file(compat_cli, tmp_path, no_bmap2):
    out = tmp_path / "report.html"
    r = compat_cli("audit", "-r", str(no_bmap2), *all_reglists(), "--html", str(out))
    assert r.rc == 1
    html = out.read_text()
    parser = _Cells()
    parser.feed(html)
    assert parser.cells[("virt-10.1", "v2", "6.16", "6.13")] == "fail"
    assert parser.cells[("virt-10.1", "v2", "6.13", "6.16")] == "ok"
    assert parser.cells[("virt-11.0", "v2", "6.15", "6.15")] == "na"
    # kernels outside virt-11.0's promise (6.15 and later) leave its tables
    assert ("virt-11.0", "v2", "6.13", "6.16") not in parser.cells
    assert {k[2] for k in parser.cells if k[:2] == ("virt-11.0", "v2")} == {"6.15", "6.16"}
    assert "Not shown, outside virt-11.0's promise: Linux 6.6, 6.12, 6.13, 6.14." in html


def test_audit_html_overview_heatmap(compat_cli, tmp_path, no_bmap2):
    """Machine types x kernel pairs per host, coloured as the detail tables,
    a failing cell linking to the block of the register that fails it."""
    out = tmp_path / "report.html"
    r = compat_cli("audit", "-r", str(no_bmap2), *all_reglists(), "--html", str(out), "--json")
    assert r.rc == 1
    data = json.loads(r.out)
    html = out.read_text()
    parser = _Cells()
    parser.feed(html)
    # every audited cell of every matrix is in the overview, with its status
    audited = 0
    for m in data["matrices"]:
        for c in m["cells"]:
            key = ("heatmap", m["host"], m["machine"], c["source"], c["destination"])
            if c["status"] == "na" and key not in parser.heat:
                continue                      # a row or column outside every promise
            status, link = parser.heat[key]
            assert status == c["status"], key
            assert (link is not None) == (status == "fail"), key
            audited += status != "na"
            if link:
                assert link[1:] in parser.ids
                block = html[html.index(f'id="{link[1:]}"'):]
                assert block.index("KVM_REG_ARM_VENDOR_HYP_BMAP_2") < block.index("</div>")
    assert audited == data["pairs"] == 144
    # virt-11.1's promise holds no pair of lists: its row is left out, and said so
    assert parser.rows == {h: ["virt-11.0", "virt-10.2", "virt-10.1", "virt-10.0"]
                           for h in ("n1", "v2")}
    assert "Not shown: virt-11.1, no pair of n1's lists inside the promise." in html
    # no same-list column; every column has some machine type that audits it
    for host in ("n1", "v2"):
        columns = {k[3:] for k in parser.heat if k[1] == host}
        assert len(columns) == 6 * 5
        assert all(any(parser.heat[("heatmap", host, m, *col)][0] != "na"
                       for m in parser.rows[host]) for col in columns)


def test_audit_html_drops_kernels_outside_every_promise():
    """Linux 6.1 (6.1.0-50) is older than every promise: neither the overview
    nor a detail table has its row or column; the rules the audit ran with
    head the page."""
    from compat.analysis.audit import audit
    from compat.analysis.html_report import render_html
    from compat.analysis.reglist import read_reglist
    from compat.load.pipeline import load
    from compat.core import resources
    from compat.qemu.modes import resolve
    loaded = load(*resources.default_registry())
    lists = [read_reglist(p) for p in sorted(REAL.glob("qemu11.1-max-linux-*.reglist"))]
    report = audit(lists, loaded.registry, loaded.derivation)
    html = render_html(report)
    parser = _Cells()
    parser.feed(html)
    kernels = {k[3] for k in parser.heat} | {k[4] for k in parser.heat}
    assert "6.1" not in kernels and "6.12" in kernels
    assert not any("6.1" in k[2:] for k in parser.cells)
    # the detail tables say which kernels they leave out: 6.1 everywhere, more on
    # virt-11.0 (6.15 and later) and virt-11.1 (6.18 and later)
    assert re.findall(r"promise: Linux (6\.1)[,.]", html) == ["6.1"] * len(report.matrices)
    described = resolve("compat-props").describe("each machine type")
    assert f"Rules: compat-props: {described}." in html.replace("&#x27;", "'")
    other = render_html(dataclasses.replace(report, rules="qemu-11.1")).replace("&#x27;", "'")
    assert f"Rules: qemu-11.1: {resolve('qemu-11.1').describe()}." in other


def test_audit_machine_filter_and_bad_lists(compat_cli, tmp_path):
    r = compat_cli("audit", reg("n1", "6.15"), reg("n1", "6.16"), "--machine", "virt-11.0",
                   "--json")
    assert r.rc == 0
    data = json.loads(r.out)
    assert data["pairs"] == 2 and [m["machine"] for m in data["matrices"]] == ["virt-11.0"]
    hostless = tmp_path / "dump.txt"
    hostless.write_text("# kernel: 6.12\n0x603000000013c103\n")
    r = compat_cli("audit", str(hostless))
    assert r.rc == 1 and "cannot tell which host" in r.err
    r = compat_cli("audit", str(hostless), "--host", "n1")
    assert r.rc == 0, r.err


# -- diff ------------------------------------------------------------------

def test_diff_names_changes_and_what_they_break(compat_cli):
    r = compat_cli("diff", reg("n1", "6.14"), reg("n1", "6.15"))
    assert r.rc == 0
    assert "+ 0x6030000000160003 KVM_REG_ARM_VENDOR_HYP_BMAP_2" in r.out
    assert "breaks backward migration n1 6.15 -> n1 6.14" in r.out
    assert 'compat = "hide"' in r.out


def test_diff_json_unknown_and_core(compat_cli, tmp_path, no_bmap2):
    old = tmp_path / "h-linux-6.12.reglist"
    new = tmp_path / "h-linux-6.13.reglist"
    old.write_text("0x603000000013c103\n0x603000000013c512\n")
    new.write_text("0x603000000013c512\n0x6030000000160003\n0x6030000000100020\n")
    r = compat_cli("diff", str(old), str(new), "-r", str(no_bmap2), "--json")
    assert r.rc == 1, r.err  # BMAP_2 breaks migration and the registry lacks it
    rows = {row["index"]: row for row in json.loads(r.out)["changes"]}
    assert rows["0x603000000013c103"]["change"] == "removed"
    assert rows["0x603000000013c103"]["breaks"].startswith("forward migration")
    bmap = rows["0x6030000000160003"]
    assert (bmap["change"], bmap["in_registry"], bmap["name"]) == \
        ("added", False, "KVM_REG_ARM_VENDOR_HYP_BMAP_2")
    core = rows["0x6030000000100020"]
    assert core["in_cpreg_list"] is False and core["breaks"].startswith("nothing")
