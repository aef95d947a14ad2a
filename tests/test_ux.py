"""Issue 14, what a new user trips on: hints, exit statuses, output, --json,
plugin errors, which QEMU each output is for."""

from __future__ import annotations

import json
import re

import pytest

from conftest import REGLISTS
from test_audit_cli import no_bmap2  # noqa: F401 - a fixture


def bare(tmp_path, host: str, kernel: str, name: str | None = None, drop: str | None = None):
    """A copy of a real list without its '# kernel:' header, in a file whose
    name does not say the kernel either."""
    text = (REGLISTS / f"{host}-linux-{kernel}.reglist").read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("# kernel:")
             and not (drop and ln.strip() == drop)]
    path = tmp_path / (name or f"{host}-{kernel}.txt")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# -- 1. hints name options that exist ------------------------------------------

@pytest.mark.parametrize("command", ["check", "diff", "audit"])
def test_kernel_hint_names_an_option_the_command_has(compat_cli, tmp_path, command):
    a, b = bare(tmp_path, "n1", "6.12"), bare(tmp_path, "n1", "6.13")
    r = compat_cli(command, a, b, "--host", "n1") if command == "audit" else compat_cli(command, a, b)
    assert r.rc == 1
    hint = re.search(r"note: .*?(--\w[\w-]*)", r.err)
    assert hint and hint[1] == "--kernel", r.err
    assert f"--kernel {a}=X.Y" in r.err
    help_text = compat_cli(command, "--help").out
    assert "--kernel FILE=X.Y" in help_text
    # following the hint works
    extra = ["--host", "n1"] if command == "audit" else []
    r = compat_cli(command, a, b, "--kernel", f"{a}=6.12", "--kernel", f"{b}=6.13", *extra)
    assert "cannot tell which kernel" not in r.err, r.err
    # the lists differ by TCR2_EL1 and friends (gone in 6.13): stock QEMU fails
    # 6.12 -> 6.13; the registry covers them (diff) and no machine type's
    # compat tables fail (audit)
    assert (r.rc, r.err) == ({"check": 1, "diff": 0, "audit": 0}[command], ""), r.out + r.err
    assert r.out


def test_old_kernel_spellings_still_work(compat_cli, tmp_path):
    a, b = bare(tmp_path, "n1", "6.12"), bare(tmp_path, "n1", "6.13")
    assert "cannot tell" not in compat_cli("check", a, b, "--from-kernel", "6.12",
                                           "--to-kernel", "6.13").err
    assert "cannot tell" not in compat_cli("diff", a, b, "--old-kernel", "6.12",
                                           "--new-kernel", "6.13").err


def test_kernel_option_must_name_a_list(compat_cli, tmp_path):
    a, b = bare(tmp_path, "n1", "6.12"), bare(tmp_path, "n1", "6.13")
    r = compat_cli("diff", a, b, "--kernel", "nosuch=6.1")
    assert r.rc == 2 and "not one of the register lists" in r.err   # a usage mistake


def test_check_suggests_the_same_name_as_the_entry(compat_cli, tmp_path):
    from compat.analysis.scaffold import suggested_name
    from compat.core import codec
    index = codec.sysreg(3, 3, 3, 3, 1)
    src = tmp_path / "n1-linux-6.12.reglist"
    src.write_text((REGLISTS / "n1-linux-6.12.reglist").read_text() + f"{index:#018x}\n")
    r = compat_cli("check", str(src), str(REGLISTS / "n1-linux-6.12.reglist"))
    assert r.rc == 1
    assert "[registers.S3_3_C3_C3_1]" in r.out, r.out
    assert "[registers.0x" not in r.out
    assert suggested_name(codec.decode(index)) == "S3_3_C3_C3_1"


def test_suggested_description_uses_the_known_name():
    from compat.analysis.scaffold import scaffold
    from compat.core import codec
    entry = scaffold(codec.decode(codec.sysreg(3, 0, 2, 0, 3)), "TCR2_EL1", "6.13", "added")
    assert "what TCR2_EL1 (ARM64_SYS_REG(3, 0, 2, 0, 3)) is" in entry


# -- 2. exit statuses scripts can trust ----------------------------------------

def test_every_command_help_ends_with_its_exit_statuses(compat_cli):
    from compat.cli import COMMANDS
    for name in COMMANDS:
        r = compat_cli(name, "--help")
        assert r.rc == 0, (name, r.err)
        tail = r.out.rstrip().split("exit status:")[-1]
        assert "exit status:" in r.out, name
        codes = re.findall(r"^  ([0-3])  ", tail, re.M)
        assert codes == ["0", "1", "2", "3"], (name, tail)
        assert "internal error" in tail


def test_readme_lists_every_exit_status():
    from conftest import ROOT
    from compat.cli import COMMANDS
    readme = (ROOT / "README.md").read_text()
    assert "3 on an internal error" in " ".join(readme.split())
    for name in COMMANDS:
        assert f"| `{name}` |" in readme


def test_diff_exit_status(compat_cli, tmp_path, no_bmap2):
    r14, r15 = str(REGLISTS / "n1-linux-6.14.reglist"), str(REGLISTS / "n1-linux-6.15.reglist")
    assert compat_cli("diff", r14, r15).rc == 0            # BMAP_2 has a rule
    r = compat_cli("diff", r14, r15, "-r", str(no_bmap2))  # ... now it has none
    assert r.rc == 1 and "1 register breaks migration without a registry rule" in r.out
    assert compat_cli("diff", r14, r14).rc == 0


def test_exit_status_per_command(compat_cli, tmp_path, no_tcr2):
    r12, r13 = str(REGLISTS / "n1-linux-6.12.reglist"), str(REGLISTS / "n1-linux-6.13.reglist")
    assert compat_cli("check", r12, r13).rc == 1
    assert compat_cli("check", r12, r12).rc == 0
    assert compat_cli("validate", "-q").rc == 0
    bad = tmp_path / "r.toml"
    bad.write_text("[registers.X]\nindex = 3\n")
    assert compat_cli("validate", "-r", str(bad)).rc == 1
    assert compat_cli("decode", "0x603000000013c103").rc == 0
    assert compat_cli("decode", "zz").rc == 1
    assert compat_cli("check", "--no-such-option").rc == 2
    assert compat_cli("audit", r12, r13, "--machine", "virt-10.1").rc == 0   # its tables pass
    assert compat_cli("audit", r12, r13, "--machine", "virt-10.1", "-r",
                      str(no_tcr2)).rc == 1                                # without TCR2_EL1


def test_internal_error_exits_3(monkeypatch, capsys):
    from compat import cli
    from compat.commands import validate

    def boom(args):
        raise RuntimeError("boom")
    monkeypatch.setattr(validate, "run", boom)
    assert cli.main(["validate"]) == 3
    assert "internal error" in capsys.readouterr().err


# -- 3. output a person reads ---------------------------------------------------

@pytest.fixture
def no_tcr2(tmp_path, bundled_text):
    from test_audit_cli import drop_table
    path = tmp_path / "registry.toml"
    path.write_text(drop_table(bundled_text, "[registers.TCR2_EL1]"))
    return path


def test_audit_groups_failures_by_register(compat_cli, no_tcr2):
    lists = sorted(str(p) for p in REGLISTS.glob("*.reglist"))
    r = compat_cli("audit", "-r", str(no_tcr2), *lists)
    assert r.rc == 1
    assert r.out.startswith("FAIL: 32 of 144 promised migrations fail, on 1 register: "
                            "TCR2_EL1 (not in the registry)\n"), r.out
    assert r.out.count("TCR2_EL1 (0x603000000013c103): ") == 1, r.out
    assert re.search(r"^TCR2_EL1 \(0x603000000013c103\): \d+ forward migrations fail "
                     r"\(\d+ kernel pairs\)\n  failed to load cpu:cpreg_vmstate_array_len:$",
                     r.out, re.M), r.out
    assert "n1 6.12->6.13" in r.out and "v2 6.12->6.13" in r.out
    assert len(r.out.splitlines()) < 45


def test_plurals(compat_cli, tmp_path):
    from compat.core.style import plural
    assert (plural(1, "feature"), plural(2, "feature")) == ("1 feature", "2 features")
    out = compat_cli("validate").out
    assert not re.search(r"\b1 (registers|features|machine types|derived rules)\b", out), out


def test_colour_only_when_asked_or_on_a_tty(compat_cli, monkeypatch):
    r12, r13 = str(REGLISTS / "n1-linux-6.12.reglist"), str(REGLISTS / "n1-linux-6.13.reglist")
    plain = compat_cli("check", r12, r13)
    assert "\033[" not in plain.out                      # not a tty
    forced = compat_cli("check", r12, r13, "--color", "always")
    assert "\033[1;31mFAILS\033[0m" in forced.out
    assert forced.out.replace("\033[1;31m", "").replace("\033[0m", "") == plain.out
    assert "\033[" not in compat_cli("--color=never", "check", r12, r13).out
    from compat.core import style

    class Tty:
        def isatty(self):
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    style.set_mode("auto")
    assert style.enabled(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not style.enabled(Tty())
    style.set_mode("always")
    assert style.enabled(Tty())
    style.set_mode("auto")
    r = compat_cli("validate", "-r", "/nonexistent.toml", "--color", "always")
    assert "\033[1;31merror\033[0m" in r.err


def test_compat_alone_and_help_command(compat_cli):
    r = compat_cli()
    assert r.rc == 2 and r.err.startswith("usage: compat") and "  audit " in r.err
    assert len(r.err.splitlines()) < 25
    r = compat_cli("help", "diff")
    assert r.rc == 0 and r.out.startswith("usage: compat diff")
    assert compat_cli("help").rc == 0
    assert compat_cli("help", "nosuch").rc == 2


def test_same_option_order_in_every_help(compat_cli):
    from compat.cli import COMMANDS
    order = ["-r", "--plugin", "--kernel", "--json", "--html", "--color", "--debug"]
    for name in COMMANDS:
        usage = compat_cli(name, "--help").out.split("\n\n")[0]
        seen = [o for o in order if re.search(rf"\[{re.escape(o)}\b", usage)]
        positions = [usage.index(f"[{o}") for o in seen]
        assert positions == sorted(positions), (name, usage)
        assert "--color" in seen and "--debug" in seen


# -- 4. --json for validate and build, one diagnostic object ---------------------

DIAG_KEYS = {"file", "line", "column", "severity", "message", "hint", "context"}


def test_validate_json(compat_cli, tmp_path, bundled_text):
    r = compat_cli("validate", "--json")
    data = json.loads(r.out)
    # the bundled registry's only diagnostics: promises no ID field rule keeps
    assert r.rc == 0 and data["ok"] is True
    assert {d["severity"] for d in data["diagnostics"]} <= {"warning"}
    assert data["registers"] > 0
    bad = tmp_path / "registry.toml"
    bad.write_text(bundled_text.replace('compat = "hide"', 'compat = "hyde"', 1))
    r = compat_cli("validate", "-r", str(bad), "--json")
    data = json.loads(r.out)
    assert r.rc == 1 and data["ok"] is False
    d = data["diagnostics"][0]
    assert set(d) == DIAG_KEYS
    assert d["file"] == str(bad) and d["line"] > 0 and d["column"] > 0
    assert d["severity"] == "error" and "hyde" in d["message"]
    assert d["context"].startswith("register '")
    assert "error: " in r.err  # the text is still on stderr


def test_build_json(compat_cli, tmp_path):
    out = tmp_path / "gen"
    first = json.loads(compat_cli("build", "-o", str(out), "--json").out)
    assert first["ok"] and first["written"] and first["unchanged"] == [] and first["stale"] == []
    (out / first["written"][0]).write_text("old\n")
    r = compat_cli("build", "-o", str(out), "--json", "--check")
    data = json.loads(r.out)
    assert r.rc == 1 and data["stale"] == [first["written"][0]] and not data["ok"]
    again = json.loads(compat_cli("build", "-o", str(out), "--json").out)
    assert again["written"] == [first["written"][0]]
    assert set(again["unchanged"]) == set(first["written"]) - {first["written"][0]}


@pytest.mark.parametrize("args", [["check", "nosuch.reglist", "nosuch2.reglist"],
                                  ["diff", "nosuch.reglist", "nosuch2.reglist"],
                                  ["audit", "nosuch.reglist"],
                                  ["explain", "NO_SUCH_REGISTER"]])
def test_same_diagnostic_object_everywhere(compat_cli, args):
    r = compat_cli(*args, "--json")
    data = json.loads(r.out)
    assert r.rc == 1 and data["ok"] is False
    assert all(set(d) == DIAG_KEYS for d in data["diagnostics"])


def test_json_shape_is_documented():
    from conftest import ROOT
    doc = (ROOT / "docs" / "json.md").read_text()
    for key in DIAG_KEYS | {"written", "unchanged", "stale"}:
        assert f"`{key}`" in doc or f'"{key}"' in doc


# -- 5. plugin errors that help ---------------------------------------------------

@pytest.fixture
def rhel_installed(monkeypatch):
    """The example plugin as an installed (not loaded) entry point."""
    from importlib.metadata import EntryPoint

    from conftest import ROOT
    from compat.plugin.host import PluginHost
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "plugin_pkg"))
    ep = EntryPoint("rhel", "compat_rhel_example", "compat.plugins")
    monkeypatch.setattr(PluginHost, "entry_points", staticmethod(lambda: {"rhel": ep}))


def test_only_names_the_plugin_that_provides_an_output(rhel_installed, tmp_path, capsys):
    from compat import cli
    # a command-line mistake (exit 2), explained
    assert cli.main(["build", "-o", str(tmp_path), "--only", "rhel-support-matrix"]) == 2
    err = capsys.readouterr().err
    assert "provided by the installed plugin 'rhel'" in err
    assert "--plugin rhel" in err and 'plugins = ["rhel"]' in err
    assert cli.main(["build", "-o", str(tmp_path), "--only", "rhel-support-matrix",
                     "--plugin", "rhel"]) == 0


def test_plugins_shows_entry_point_without_nested_parentheses(rhel_installed, capsys):
    from compat import cli
    assert cli.main(["plugins"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("rhel "))
    assert "entry point compat_rhel_example" in line
    assert line.count("(") == 1 and not re.search(r"\([^)]*\(", line), line


def test_describe_entry_point_names_module_and_distribution():
    from importlib.metadata import entry_points

    from compat.plugin.host import describe_entry_point
    ep = next(iter(entry_points(group="console_scripts", name="compat")), None)
    if ep is None:
        pytest.skip("compat's console script is not installed")
    version, source = describe_entry_point(ep)
    assert source == f"entry point compat.cli:main, distribution {ep.dist.name} {version}"


# -- 6. the HTML report -------------------------------------------------------------

def _html_report(compat_cli, tmp_path, registry):
    out = tmp_path / "report.html"
    lists = sorted(str(p) for p in REGLISTS.glob("*.reglist"))
    r = compat_cli("audit", "-r", str(registry), *lists, "--html", str(out))
    assert r.rc == 1, r.err
    return out, out.read_text()


def test_html_report_leads_with_failures_and_links_them(compat_cli, tmp_path, no_tcr2):
    from html.parser import HTMLParser
    _, html = _html_report(compat_cli, tmp_path, no_tcr2)
    body = html[html.index("<body>"):]
    assert body.index('class="summary fail"') < body.index('id="rules"') \
        < body.index('id="overview"') < body.index('<table class="heatmap"') \
        < body.index('id="failures"') < body.index('id="legend"') < body.index('id="contents"') \
        < body.index('<table class="matrix"')
    assert "<script" not in html

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.ids, self.fail_links, self.in_fail, self.toc = set(), [], False, []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if "id" in a:
                self.ids.add(a["id"])
            if tag == "td":
                self.in_fail = a.get("class") == "fail"
                if self.in_fail:
                    self.fail_links.append(None)
            if tag == "a" and self.in_fail:
                self.fail_links[-1] = a["href"]
            elif tag == "a":
                self.toc.append(a["href"])
    p = Links()
    p.feed(html)
    assert p.fail_links and all(link and link[1:] in p.ids for link in p.fail_links)
    assert all(href[1:] in p.ids for href in p.toc)
    assert {"#virt_10_1", "#virt_11_1"} <= set(p.toc)
    # the failure is shown once, with the pairs it affects
    assert html.count("failed to load cpu:cpreg_vmstate_array_len</h4>") == 1
    assert html.count("<code>TCR2_EL1 (0x603000000013c103)</code>: 32 migrations fail</h3>") == 1
    assert re.search(r"n1 <span class=\"pair\">6\.12&#8594;6\.13</span>", html)
    assert re.search(r"v2 <span class=\"pair\">6\.12&#8594;6\.13</span>", html)
    # a machine type whose promise has no list is one sentence, not a grey matrix
    assert 'data-machine="virt-11.1"' not in html
    assert re.search(r'class="collapsed">No pair of lists of n1, v2 is inside virt-11\.1', html)
    assert "white-space: pre-wrap" in html
    for word in (">ok</span>", ">FAIL</span>", ">&#8212;</span>"):
        assert word in html


def _chromium():
    import shutil
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)])
def test_html_report_in_headless_chromium(compat_cli, tmp_path, no_tcr2, width, height):
    import struct
    import subprocess
    path, _ = _html_report(compat_cli, tmp_path, no_tcr2)
    shot = tmp_path / f"report-{width}x{height}.png"
    profile = tmp_path / "profile"
    common = [_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--disable-javascript",
              f"--window-size={width},{height}"]
    subprocess.run(common + [f"--screenshot={shot}", path.as_uri()], capture_output=True,
                   timeout=120, check=False)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (width, height)
    assert len(data) > 5000  # something was drawn
    # with JavaScript off the DOM is the whole report (nothing is built by script)
    dom = subprocess.run(common + ["--dump-dom", path.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert 'id="failure-1"' in dom and 'class="summary fail"' in dom


#: Injected into a copy of the report by the test below (the report has no
#: script): what sticks out of the page sideways, outside a scroll box.
_OVERFLOW_PROBE = """<script>
window.addEventListener('load', () => {
  const width = document.documentElement.clientWidth, out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.parentElement && el.parentElement.closest('.scroll')) continue;
    if (el.getBoundingClientRect().right > width + 0.5) out.push('element ' + el.tagName);
  }
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode, range = document.createRange();
    if (node.parentElement.closest('.scroll')) continue;
    range.selectNodeContents(node);
    if (range.getBoundingClientRect().right > width + 0.5)
      out.push('text ' + node.textContent.slice(0, 40));
  }
  const boxes = [...document.querySelectorAll('.scroll')].filter(
    b => b.querySelector('table.heatmap')).map(b => b.scrollWidth > b.clientWidth ? 1 : 0);
  const p = document.createElement('pre');
  p.id = 'probe';
  p.textContent = JSON.stringify({page: document.documentElement.scrollWidth, width,
                                  out, heatmap_scrolls: boxes});
  document.body.appendChild(p);
});
</script>"""


@pytest.fixture
def real_failing_report(compat_cli, tmp_path, bundled_text):
    """The HTML report of the real lists of two hosts (10 kernels each) with
    a registry that lacks three registers they change: 138 failures."""
    from test_audit_cli import drop_table
    text = bundled_text
    for table in ("[registers.KVM_REG_ARM_VENDOR_HYP_BMAP_2]", "[features.impl-cpu]",
                  "[registers.SCTLR2_EL1]", "[registers.PMMIR_EL1]"):
        text = drop_table(text, table)
    registry = tmp_path / "registry.toml"
    registry.write_text(text)
    real = REGLISTS.parent / "real"
    # the lists alone, without their .idregs (the ID fields are tests/test_idregs.py's)
    lists = []
    for path in sorted(real.glob("qemu11.1-max-linux-*.reglist")) + \
            sorted(real.glob("qemu7.2-max-linux-*.reglist")):
        (tmp_path / path.name).write_bytes(path.read_bytes())
        lists.append(str(tmp_path / path.name))
    out = tmp_path / "report.html"
    r = compat_cli("audit", "-r", str(registry), *lists, "--html", str(out))
    assert r.rc == 1 and r.out.startswith("FAIL: 138 of 604 promised migrations fail"), r.out
    return out


@pytest.mark.browser
@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed")
@pytest.mark.parametrize("width", [1280, 390])
def test_html_report_fits_the_screen(tmp_path, real_failing_report, width):
    """Laid out by Chromium in a frame ``width`` px wide: nothing but a scroll
    box is wider than the page; on a desktop the heatmaps need no scrolling,
    on a phone they scroll inside their own box."""
    import json
    import subprocess
    html = real_failing_report.read_text()
    assert "<script" not in html
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", _OVERFLOW_PROBE + "</body>"))
    frame = tmp_path / "frame.html"
    frame.write_text(
        '<!DOCTYPE html><html><body style="margin:0"><iframe id="f" src="probe.html" '
        f'style="width:{width}px;height:2000px;border:0"></iframe><script>'
        "document.getElementById('f').addEventListener('load', () => {"
        "const p = document.createElement('pre'); p.id = 'result'; p.textContent = "
        "document.getElementById('f').contentDocument.getElementById('probe').textContent;"
        "document.body.appendChild(p); });</script></body></html>")
    # headless windows are at least 500 px wide: the frame sets the width
    dom = subprocess.run(
        [_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", "--allow-file-access-from-files",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2200",
         "--virtual-time-budget=5000", "--dump-dom", frame.as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    result = json.loads(found[1].replace("&quot;", '"').replace("&amp;", "&"))
    assert result["width"] <= width
    assert result["page"] == result["width"] and result["out"] == [], result
    assert result["heatmap_scrolls"] == ([0, 0] if width >= 1280 else [1, 1]), result


# -- 7. the plugin tutorial, followed literally ---------------------------------------

def tutorial_script(root) -> str:
    """The tutorial's shell blocks and files, in page order, as one bash
    script: ``sh`` blocks run as written (only ``COMPAT_SRC=`` points at
    this checkout), a ``file=NAME`` block is written to NAME."""
    text = (root / "docs" / "plugin-tutorial.md").read_text(encoding="utf-8")
    lines = ["set -ex"]
    for info, body in re.findall(r"^```(\w[^\n]*)\n(.*?)^```", text, re.S | re.M):
        lang, _, attrs = info.partition(" ")
        if lang == "sh":
            for line in body.splitlines():
                if line.startswith("COMPAT_SRC="):
                    line = f"COMPAT_SRC='{root}'"
                lines.append(line)
        elif attrs.startswith("file="):
            name = attrs[len("file="):]
            lines.append(f"mkdir -p \"$(dirname '{name}')\"")
            lines.append(f"cat > '{name}' <<'END_OF_TUTORIAL_FILE'\n{body}END_OF_TUTORIAL_FILE")
    return "\n".join(lines) + "\n"


def test_tutorial_script_has_every_step():
    from conftest import ROOT
    script = tutorial_script(ROOT)
    for step in ("python3 -m venv venv", 'pip install "$COMPAT_SRC" pytest',
                 "cat > 'compat_floors.py'", "cat > 'tests/test_floors.py'",
                 "cat > 'pyproject.toml'", "pip install -e .", "python -m pytest -q tests",
                 "compat build --plugin floors --only machine-floors -o build/"):
        assert step in script, step


@pytest.mark.slow
def test_plugin_tutorial_in_a_fresh_venv(tmp_path):
    import os
    import subprocess

    import shutil

    from conftest import ROOT
    # a copy of the checkout: installing from a path writes build/ into it
    src = tmp_path / "compat-src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", ".pytest_cache", ".hypothesis", "__pycache__",
        "generated", "venv"))
    script = tmp_path / "tutorial.sh"
    script.write_text(tutorial_script(src))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    proc = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "1 passed" in proc.stdout
    assert re.search(r"^floors 0\.1\.0 \(entry point compat_floors, distribution compat[-_]floors",
                     proc.stdout, re.M), proc.stdout
    csv_text = (tmp_path / "compat-floors" / "build" / "machine-floors.csv").read_text()
    assert csv_text.startswith("machine,min-kernel,hidden\n") and "virt-10.1," in csv_text


# -- 8. which QEMU each output is for -------------------------------------------------

def test_generated_c_says_which_qemu_and_has_no_registry_lines(compat_cli, tmp_path):
    from conftest import ROOT
    out = tmp_path / "gen"
    assert compat_cli("build", "-o", str(out)).rc == 0
    headers = {
        "arm-cpreg-mig-tolerances.c.inc": ["kvm_arm_set_cpreg_mig_tolerances()",
                                           "April 2026", "QEMU 11.1"],
        "arm-virt-kernel-compat.c.inc": ["x-mig-hidden-regs and x-mig-safe-missing-regs",
                                         "Property '...x-mig-hidden-regs' not found"],
        "arm-compat-guards.h": ["x-mig-hidden-regs / x-mig-safe-missing-regs"],
        "arm-compat-guards.c.inc": ["x-mig-hidden-regs / x-mig-safe-missing-regs"],
    }
    for name, needles in headers.items():
        text = (out / name).read_text()
        head = " ".join(text[:1500].replace(" * ", " ").split())
        for needle in needles:
            assert needle in head, (name, needle)
        assert not re.search(r"registry\.toml:\d", text), name
    # the provenance stays in registry.json (and the docs)
    assert re.search(r'"source": "registry\.toml:\d+"', (out / "registry.json").read_text())
    readme = " ".join((ROOT / "README.md").read_text().split())
    for needle in ("QEMU 11.1", "April 2026", "Property '...x-mig-hidden-regs' not found"):
        assert needle in readme


def test_every_option_a_message_names_exists():
    """Options named in the library's messages and hints are real options
    of some command (``--kernel`` once named none)."""
    import argparse

    from conftest import ROOT
    from compat import cli
    real = set()
    for name, (module_name, _) in cli.COMMANDS.items():
        parser = cli._command_parser(name, __import__(module_name, fromlist=["x"]))
        stack = [parser]
        while stack:
            p = stack.pop()
            for action in p._actions:
                real.update(action.option_strings)
                if isinstance(action, argparse._SubParsersAction):
                    stack.extend(action.choices.values())
    named = set()
    for path in list((ROOT / "compat").rglob("*.py")) + list((ROOT / "plugins").rglob("*.py")):
        if "lab" in path.relative_to(ROOT).parts:  # dpkg's, pip's and QEMU's options
            continue
        if path.name == "collector.py":  # its own --guest, run inside the lab's guest
            continue
        for string in re.findall(r'"[^"\n]*"', path.read_text()):
            named.update(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", string))
    unknown = sorted(named - real - {"--version", "--help"})
    assert not unknown, unknown
