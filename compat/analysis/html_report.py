"""Render an audit as one self-contained HTML file.

Inline CSS, no scripts, no network; it reads the same with JavaScript off
and on a phone.  The page leads with what fails: a summary, then each
failing register once, with the machine types and kernel pairs it breaks
and its fix (``id="failure-N"``).  A legend and a table of contents by
machine type follow, then per machine version and host a kernel x kernel
matrix: rows are sources, columns destinations; each cell has class ``ok``,
``fail`` or ``na``, ``data-source`` / ``data-destination`` /
``data-status`` attributes and a ``title`` with the reason, and a FAIL cell
links to its failure's explanation.  A host with no pair inside a machine
type's promise gets a sentence instead of a grey matrix.  Every piece of
registry or input text goes through :func:`compat.core.text.html_text`.
"""

from __future__ import annotations

from compat.core import codec
from compat.analysis.audit import FAIL, NA, OK, AuditReport, _error_head
from compat.core.style import plural
from compat.core.text import html_text

_CSS = """
body { font-family: sans-serif; margin: 1em auto; max-width: 70em; padding: 0 1em;
  color: #222; line-height: 1.4; }
.scroll { overflow-x: auto; }
table.matrix { border-collapse: collapse; margin: 0.5em 0 1.5em; }
table.matrix th, table.matrix td { border: 1px solid #999; padding: 0.3em 0.6em;
  text-align: center; }
td.ok, .legend .ok { background: #cfc; }
td.fail, .legend .fail { background: #f99; font-weight: bold; }
td.fail a { color: #600; }
td.na, .legend .na { background: #eee; color: #888; }
.legend span { display: inline-block; min-width: 3em; text-align: center;
  border: 1px solid #999; padding: 0 0.3em; }
pre { background: #f6f6f6; padding: 0.6em; white-space: pre-wrap;
  overflow-wrap: anywhere; }
code { overflow-wrap: anywhere; }
.summary { font-size: 1.15em; font-weight: bold; }
.summary.ok { color: #060; } .summary.fail { color: #a00; }
.failure { border-left: 4px solid #c00; padding-left: 0.8em; margin: 1em 0; }
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
    groups = report.failure_groups()
    promised = [u for u in report.uncovered if u.promised]
    status = "ok" if report.ok else "fail"
    if report.ok:
        headline = (f"All {plural(report.pair_count, 'promised migration')} pass, and the "
                    "registry covers every register that changes.")
    else:
        headline = (f"{len(report.failures)} of {plural(report.pair_count, 'migration')} fail"
                    f" ({plural(len(groups), 'register problem')}); "
                    f"{plural(len(promised), 'register')} not in the registry.")
    out.append(f'<p class="summary {status}" id="summary">{html_text(headline)}</p>')
    out.append(f"<p>{plural(len(report.lists), 'register list')} of "
               f"{html_text(', '.join(sorted({r.host for r in report.lists})))}, audited "
               "with each machine type's compat properties.</p>")

    anchors: dict[tuple, str] = {}
    if groups:
        out.append('<h2 id="failures">What fails</h2>')
        for n, group in enumerate(groups, 1):
            ident = f"failure-{n}"
            f = group.failure
            for pair in group.pairs:
                anchors.setdefault(pair, ident)
            out.append(f'<div class="failure" id="{ident}">')
            out.append(f"<h3><code>{html_text(f.label)}</code>: "
                       f"{html_text(_error_head(f.qemu_error))}</h3>")
            out.append(f"<p>{html_text(plural(len(group.pairs), f'{f.direction} migration'))} "
                       "fail:</p><ul>")
            for names, pairs in group.by_machines():
                rows = "<br>".join(_pairs_html(pairs))
                out.append(f"<li>{html_text(', '.join(names))}: {rows}</li>")
            out.append(f"</ul><p>fix: {html_text(f.fix)}</p></div>")
    if report.uncovered:
        out.append('<p><a href="#uncovered">Registers the registry does not cover</a> '
                   f"({len(report.uncovered)}) are listed at the end with entries to add.</p>")

    out.append('<h2 id="legend">Legend</h2>')
    out.append('<p class="legend"><span class="ok">ok</span> the migration passes &#160; '
               '<span class="fail">FAIL</span> it fails (the cell links to why) &#160; '
               '<span class="na">&#8212;</span> not audited: the same list, or a kernel '
               "outside the machine type's promise. Rows are sources, columns "
               "destinations; hover a cell for its reason.</p>")

    by_machine: dict[str, list] = {}
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


def _pairs_html(pairs) -> list[str]:
    """One line per host: ``n1 6.12&#8594;6.13, ...``, a pair never broken."""
    by_host: dict[str, list[str]] = {}
    for host, src, dst in pairs:
        by_host.setdefault(host, []).append(
            f'<span class="pair">{html_text(str(src))}&#8594;{html_text(str(dst))}</span>')
    return [f"{html_text(host)} {', '.join(items)}" for host, items in by_host.items()]


def _matrix(matrix, anchors: dict[tuple, str]) -> list[str]:
    machine = matrix.machine
    out = [f"<h3>host {html_text(matrix.host)}</h3>", '<div class="scroll">',
           f'<table class="matrix" data-machine="{html_text(machine.name)}" '
           f'data-host="{html_text(matrix.host)}">',
           "<tr><th>source \\ destination</th>" + "".join(
               f'<th scope="col">{html_text(str(k))}</th>' for k in matrix.kernels) + "</tr>"]
    for src in matrix.kernels:
        row = [f'<th scope="row">{html_text(str(src))}</th>']
        for dst in matrix.kernels:
            cell = matrix.cell(src, dst)
            symbol = _SYMBOL[cell.status]
            target = anchors.get((machine.name, matrix.host, src, dst))
            if cell.status == FAIL and target:
                symbol = f'<a href="#{target}">{symbol}</a>'
            row.append(f'<td class="{cell.status}" data-source="{html_text(str(src))}" '
                       f'data-destination="{html_text(str(dst))}" '
                       f'data-status="{cell.status}" title="{html_text(cell.reason)}">'
                       f"{symbol}</td>")
        out.append("<tr>" + "".join(row) + "</tr>")
    out += ["</table>", "</div>"]
    return out


def _html_block(text: str) -> str:
    """Preformatted text: escaped line by line, newlines kept."""
    lines = text.rstrip("\n").split("\n")
    return "\n".join(line[:len(line) - len(line.lstrip())] + html_text(line) for line in lines)
