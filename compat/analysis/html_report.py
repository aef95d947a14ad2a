"""Render an audit as one self-contained HTML file.

Inline CSS, no scripts, no network; it reads the same with JavaScript off
and on a phone.  The page leads with what fails:

1. the rules mode the audit ran with and the QEMU it stands for
   (:mod:`compat.qemu.modes`), and a one-line verdict;
2. the overview: per host one heatmap of machine types (rows, newest first)
   x kernel pairs (columns, grouped by source kernel), each cell ``ok``,
   ``fail`` or ``na`` (outside the machine type's promise); a failing cell
   links to its explanation.  Kernel pairs outside every machine type's
   promise are left out.  It scrolls sideways inside its own box on a
   narrow screen (``class="scroll"``), the page itself never does;
3. what fails: one block per failing register (``id="failure-N"``), every
   error it causes with the machine types and kernel pairs, and its fix;
4. a table of contents by machine type, then per machine version and host a
   kernel x kernel matrix: rows are sources, columns destinations; a kernel
   whose row and column are all outside the promise is left out (and named);
   each cell has class ``ok``, ``fail`` or ``na``, ``data-source`` /
   ``data-destination`` / ``data-status`` attributes and a ``title`` with
   the reason, and a FAIL cell links to its failure's explanation.  A host
   with no pair inside a machine type's promise gets a sentence instead.

Every piece of registry or input text goes through
:func:`compat.core.text.html_text`.
"""

from __future__ import annotations

from compat.core import codec
from compat.analysis.audit import FAIL, NA, OK, AuditReport, Matrix, _error_head
from compat.analysis.audit_text import register_blocks, rules_line
from compat.core.style import plural
from compat.core.text import html_text

_CSS = """
body { font-family: sans-serif; margin: 1em auto; max-width: 70em; padding: 0 1em;
  color: #222; line-height: 1.4; overflow-wrap: break-word; }
.scroll { overflow-x: auto; max-width: 100%; }
table.matrix { border-collapse: collapse; margin: 0.5em 0 1.5em; }
table.matrix th, table.matrix td { border: 1px solid #999; padding: 0.3em 0.6em;
  text-align: center; }
td.ok, .legend .ok { background: #cfc; }
td.fail, .legend .fail { background: #f99; font-weight: bold; }
td.fail a { color: #600; }
td.na, .legend .na { background: #eee; color: #888; }
.legend span { display: inline-block; min-width: 3em; text-align: center;
  border: 1px solid #999; padding: 0 0.3em; }
table.heatmap { border-collapse: separate; border-spacing: 1px; margin: 0.3em 0 1em;
  font-size: 0.8em; }
table.heatmap th { font-weight: normal; padding: 0 0.3em; white-space: nowrap; }
table.heatmap th.machine { text-align: right; position: sticky; left: 0;
  background: #fff; }
table.heatmap th.source { border-bottom: 2px solid #999; text-align: left;
  white-space: normal; font-size: 0.9em; }
table.heatmap th.destination { writing-mode: vertical-rl; transform: rotate(180deg);
  text-align: left; padding: 0.2em 0; line-height: 1; font-size: 0.9em; }
table.heatmap td { width: 0.8em; min-width: 0.8em; height: 1.3em; padding: 0;
  text-align: center; }
table.heatmap td.ok, .key .ok { background: #5b5; }
table.heatmap td.fail, .key .fail { background: #d22; }
table.heatmap td.na, .key .na { background: #e2e2e2; }
table.heatmap td a { display: block; color: #fff; text-decoration: none;
  font-weight: bold; line-height: 1.3em; }
table.heatmap .gap { border-left: 0.4em solid transparent; }
.key span { display: inline-block; width: 1em; height: 1em; vertical-align: middle;
  margin-right: 0.2em; }
.key { margin: 0.3em 0; }
pre { background: #f6f6f6; padding: 0.6em; white-space: pre-wrap;
  overflow-wrap: anywhere; }
code { overflow-wrap: anywhere; }
.summary { font-size: 1.15em; font-weight: bold; }
.summary.ok { color: #060; } .summary.fail { color: #a00; }
.rules { color: #444; }
.failure { border-left: 4px solid #c00; padding-left: 0.8em; margin: 1em 0; }
.failure h4 { margin: 0.5em 0 0.2em; font-weight: normal; overflow-wrap: anywhere; }
.collapsed { color: #555; font-style: italic; }
.pair { white-space: nowrap; }
"""

_SYMBOL = {OK: "ok", FAIL: "FAIL", NA: "&#8212;"}


def render_html(report: AuditReport, title: str = "compat audit") -> str:
    """The whole report as one HTML document."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html_text(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{html_text(title)}</h1>"]
    blocks = register_blocks(report)
    promised = [u for u in report.uncovered if u.promised]
    status = "ok" if report.ok else "fail"
    if report.ok:
        headline = (f"All {plural(report.pair_count, 'promised migration')} pass, and the "
                    "registry covers every register that changes inside a promise.")
    else:
        headline = (f"{len(report.failures)} of {plural(report.pair_count, 'migration')} fail"
                    f" ({plural(len(blocks), 'register')}); "
                    f"{plural(len(promised), 'register')} not in the registry.")
    out.append(f'<p class="summary {status}" id="summary">{html_text(headline)}</p>')
    out.append(f'<p class="rules" id="rules">Rules: {html_text(rules_line(report))}.</p>')
    out.append(f"<p>{plural(len(report.lists), 'register list')} of "
               f"{html_text(', '.join(sorted({r.host for r in report.lists})))}, audited "
               "with each machine type's rules.</p>")

    anchors: dict[tuple, str] = {}
    for n, groups in enumerate(blocks, 1):
        for group in groups:
            for pair in group.pairs:
                anchors.setdefault(pair, f"failure-{n}")
    out += _overview(report, anchors)
    if blocks:
        out.append('<h2 id="failures">What fails</h2>')
        missing = {u.index: u.name for u in promised}
        for n, groups in enumerate(blocks, 1):
            out += _failure_block(n, groups, missing.get(groups[0].failure.index))
    if report.uncovered:
        out.append('<p><a href="#uncovered">Registers the registry does not cover</a> '
                   f"({len(report.uncovered)}) are listed at the end with entries to add.</p>")

    out.append('<h2 id="legend">Legend</h2>')
    out.append('<p class="legend"><span class="ok">ok</span> the migration passes &#160; '
               '<span class="fail">FAIL</span> it fails (the cell links to why) &#160; '
               '<span class="na">&#8212;</span> not audited: the same list, or a kernel '
               "outside the machine type's promise. Rows are sources, columns "
               "destinations; hover a cell for its reason.</p>")

    by_machine: dict[str, list[Matrix]] = {}
    for matrix in report.matrices:
        by_machine.setdefault(matrix.machine.name, []).append(matrix)
    out.append('<h2 id="contents">Machine types</h2><ul>')
    for name, matrices in by_machine.items():
        machine = matrices[0].machine
        fails = sum(c.status == FAIL for m in matrices for c in m.cells.values())
        audited = sum(c.status != NA for m in matrices for c in m.cells.values())
        what = (f"{fails} of {plural(audited, 'migration')} fail" if fails else
                f"{plural(audited, 'migration')}, all pass" if audited else
                "no list inside its promise")
        out.append(f'<li><a href="#{html_text(machine.ident)}">{html_text(name)}</a> '
                   f"(Linux {html_text(str(machine.min_kernel))} and later): "
                   f"{html_text(what)}</li>")
    out.append("</ul>")

    for name, matrices in by_machine.items():
        machine = matrices[0].machine
        out.append(f'<h2 id="{html_text(machine.ident)}">{html_text(name)} '
                   f"(Linux {html_text(str(machine.min_kernel))} and later)</h2>")
        empty = [m for m in matrices if all(c.status == NA for c in m.cells.values())]
        if empty:
            hosts = ", ".join(m.host for m in empty)
            out.append(f'<p class="collapsed">No pair of lists of {html_text(hosts)} is inside '
                       f"{html_text(name)}'s promise (both kernels Linux "
                       f"{html_text(str(machine.min_kernel))} or later): nothing to audit "
                       "there.</p>")
        for matrix in matrices:
            if matrix in empty:
                continue
            out += _matrix(matrix, anchors)

    if report.uncovered:
        out.append('<h2 id="uncovered">Registers the registry does not cover</h2>')
        for u in report.uncovered:
            out.append(f'<h3 id="register-{html_text(u.name)}">{html_text(u.name)} '
                       f"<code>{html_text(codec.format_index(u.index))}</code></h3>")
            out.append(f"<p>{html_text(u.change)} in Linux {html_text(str(u.kernel))} on "
                       f"{html_text(', '.join(u.hosts))}; breaks {html_text(u.breaks)} "
                       "migration" + ("" if u.promised else " (outside every machine type's "
                                      "promise: reported, not a failure)")
                       + ". Suggested entry:</p>")
            out.append(f"<pre>{_html_block(u.toml())}</pre>")
    out.extend(["</body>", "</html>"])
    return "\n".join(out) + "\n"


def _overview(report: AuditReport, anchors: dict[tuple, str]) -> list[str]:
    """Per host, machine types x kernel pairs: which break between which kernels."""
    by_host: dict[str, list[Matrix]] = {}
    for matrix in report.matrices:
        by_host.setdefault(matrix.host, []).append(matrix)
    out = ['<h2 id="overview">Which machine types break between which kernels</h2>',
           '<p class="key"><span class="fail"></span>fails (click for why) &#160; '
           '<span class="ok"></span>passes &#160; <span class="na"></span>outside the '
           "machine type's promise. Columns are migrations, from the source kernel above "
           "to the destination kernel below it.</p>"]
    for host, matrices in by_host.items():
        kernels = matrices[0].kernels
        pairs = [(s, d) for s in kernels for d in kernels
                 if any(m.cells[(s, d)].status != NA for m in matrices)]
        if not pairs:
            out.append(f'<p class="collapsed">host {html_text(host)}: no pair of lists is '
                       "inside any machine type's promise.</p>")
            continue
        sources = [s for s in kernels if any(p[0] == s for p in pairs)]
        out += [f"<h3>host {html_text(host)}</h3>", '<div class="scroll">',
                f'<table class="heatmap" data-host="{html_text(host)}">',
                '<tr><th rowspan="2"></th>' + "".join(
                    f'<th class="source gap" colspan="{sum(p[0] == s for p in pairs)}" '
                    f'scope="colgroup">from {html_text(str(s))}</th>' for s in sources)
                + "</tr>",
                "<tr>" + "".join(
                    f'<th class="destination{_gap(pairs, i)}" scope="col">'
                    f"{html_text(str(d))}</th>" for i, (s, d) in enumerate(pairs)) + "</tr>"]
        idle = [m for m in matrices if all(m.cells[p].status == NA for p in pairs)]
        for matrix in matrices:
            if matrix in idle:
                continue
            name = matrix.machine.name
            row = [f'<th class="machine" scope="row">{html_text(name)}</th>']
            for i, (src, dst) in enumerate(pairs):
                cell = matrix.cell(src, dst)
                tip = f"{name}, {src} -> {dst}: " + (
                    "FAIL: " if cell.status == FAIL else "") + cell.reason
                row.append(_td(cell, src, dst, "&#215;" if cell.status == FAIL else "",
                               anchors.get((name, host, src, dst)), tip, _gap(pairs, i),
                               f' data-machine="{html_text(name)}"'))
            out.append("<tr>" + "".join(row) + "</tr>")
        out += ["</table>", "</div>"]
        if idle:
            names = ", ".join(m.machine.name for m in idle)
            out.append(f'<p class="collapsed">Not shown: {html_text(names)}, no pair of '
                       f"{html_text(host)}'s lists inside the promise.</p>")
    return out


def _gap(pairs, i: int) -> str:
    """`` gap`` on the first column of each source kernel's group."""
    return " gap" if i == 0 or pairs[i - 1][0] != pairs[i][0] else ""


def _failure_block(n: int, groups, missing: str | None) -> list[str]:
    """One failing register: each error, the pairs it breaks, the fix
    (``missing``: the registry lacks it, its entry to add is further down)."""
    first = groups[0].failure
    count = sum(len(g.pairs) for g in groups)
    out = [f'<div class="failure" id="failure-{n}">',
           f"<h3><code>{html_text(first.label)}</code>: "
           f"{html_text(plural(count, 'migration'))} fail</h3>"]
    fixes: list[str] = []
    for group in groups:
        f = group.failure
        out.append(f"<h4>{html_text(_error_head(f.qemu_error))}</h4><ul>")
        for names, pairs in group.by_machines():
            rows = "<br>".join(_pairs_html(pairs))
            out.append(f"<li>{html_text(', '.join(names))}: {rows}</li>")
        out.append("</ul>")
        if f.fix not in fixes:
            fixes.append(f.fix)
    if missing is not None:
        out.append(f'<p>fix: add it to the registry: <a href="#register-{html_text(missing)}">'
                   "its entry to paste</a>.</p>")
    else:
        out += [f"<p>fix: {html_text(fix)}</p>" for fix in fixes]
    out.append("</div>")
    return out


def _pairs_html(pairs) -> list[str]:
    """One line per host: ``n1 6.12&#8594;6.13, ...``, a pair never broken."""
    by_host: dict[str, list[str]] = {}
    for host, src, dst in pairs:
        by_host.setdefault(host, []).append(
            f'<span class="pair">{html_text(str(src))}&#8594;{html_text(str(dst))}</span>')
    return [f"{html_text(host)} {', '.join(items)}" for host, items in by_host.items()]


def _matrix(matrix: Matrix, anchors: dict[tuple, str]) -> list[str]:
    machine = matrix.machine
    # a kernel whose row and column are all outside the promise says nothing
    kernels = [k for k in matrix.kernels
               if any(matrix.cell(k, o).status != NA or matrix.cell(o, k).status != NA
                      for o in matrix.kernels)]
    dropped = [k for k in matrix.kernels if k not in kernels]
    out = [f"<h3>host {html_text(matrix.host)}</h3>"]
    if dropped:
        out.append(f'<p class="collapsed">Not shown, outside {html_text(machine.name)}\'s '
                   f"promise: Linux {html_text(', '.join(str(k) for k in dropped))}.</p>")
    out += ['<div class="scroll">',
            f'<table class="matrix" data-machine="{html_text(machine.name)}" '
            f'data-host="{html_text(matrix.host)}">',
            "<tr><th>source \\ destination</th>" + "".join(
                f'<th scope="col">{html_text(str(k))}</th>' for k in kernels) + "</tr>"]
    for src in kernels:
        row = [f'<th scope="row">{html_text(str(src))}</th>']
        for dst in kernels:
            cell = matrix.cell(src, dst)
            row.append(_td(cell, src, dst, _SYMBOL[cell.status],
                           anchors.get((machine.name, matrix.host, src, dst)), cell.reason))
        out.append("<tr>" + "".join(row) + "</tr>")
    out += ["</table>", "</div>"]
    return out


def _td(cell, src, dst, symbol: str, target: str | None, title: str, classes: str = "",
        attrs: str = "") -> str:
    """One migration's cell; a failing one links to ``target``."""
    if cell.status == FAIL and target:
        symbol = f'<a href="#{target}">{symbol}</a>'
    return (f'<td class="{cell.status}{classes}"{attrs} data-source="{html_text(str(src))}" '
            f'data-destination="{html_text(str(dst))}" data-status="{cell.status}" '
            f'title="{html_text(title)}">{symbol}</td>')


def _html_block(text: str) -> str:
    """Preformatted text: escaped line by line, newlines kept."""
    lines = text.rstrip("\n").split("\n")
    return "\n".join(line[:len(line) - len(line.lstrip())] + html_text(line) for line in lines)
