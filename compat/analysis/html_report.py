"""Render an audit as one self-contained HTML file.

Inline CSS, no scripts, no network.  Per machine version and host, a
kernel x kernel matrix: rows are sources, columns destinations; each cell
has class ``ok``, ``fail`` or ``na``, ``data-source`` / ``data-destination``
/ ``data-status`` attributes and a ``title`` with the reason.  Every piece of
registry or input text goes through :func:`compat.core.text.html_text`.
"""

from __future__ import annotations

from compat.core import codec
from compat.analysis.audit import FAIL, NA, OK, AuditReport
from compat.core.text import html_text

_CSS = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table.matrix { border-collapse: collapse; margin: 0.5em 0 1.5em; }
table.matrix th, table.matrix td { border: 1px solid #999; padding: 0.3em 0.6em;
  text-align: center; }
td.ok { background: #cfc; }
td.fail { background: #f99; font-weight: bold; }
td.na { background: #eee; color: #888; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
.summary.ok { color: #060; } .summary.fail { color: #a00; }
"""

_SYMBOL = {OK: "ok", FAIL: "FAIL", NA: "&#8212;"}


def render_html(report: AuditReport, title: str = "compat audit") -> str:
    """The whole report as one HTML document."""
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html_text(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           f"<h1>{html_text(title)}</h1>"]
    status = "ok" if report.ok else "fail"
    out.append(f'<p class="summary {status}">{report.pair_count} migrations audited among '
               f"{len(report.lists)} register lists: {len(report.failures)} fail, "
               f"{len(report.uncovered)} registers not in the registry.</p>")
    current = None
    for matrix in report.matrices:
        machine = matrix.machine
        if machine.name != current:
            current = machine.name
            out.append(f'<h2 id="{html_text(machine.ident)}">{html_text(machine.name)} '
                       f"(Linux {html_text(str(machine.min_kernel))} and later)</h2>")
        out.append(f"<h3>host {html_text(matrix.host)}</h3>")
        out.append(f'<table class="matrix" data-machine="{html_text(machine.name)}" '
                   f'data-host="{html_text(matrix.host)}">')
        out.append("<tr><th>source \\ destination</th>" + "".join(
            f'<th scope="col">{html_text(str(k))}</th>' for k in matrix.kernels) + "</tr>")
        for src in matrix.kernels:
            row = [f'<th scope="row">{html_text(str(src))}</th>']
            for dst in matrix.kernels:
                cell = matrix.cell(src, dst)
                row.append(f'<td class="{cell.status}" data-source="{html_text(str(src))}" '
                           f'data-destination="{html_text(str(dst))}" '
                           f'data-status="{cell.status}" title="{html_text(cell.reason)}">'
                           f"{_SYMBOL[cell.status]}</td>")
            out.append("<tr>" + "".join(row) + "</tr>")
        out.append("</table>")
    if report.failures:
        out.append("<h2>Failing migrations</h2>")
        out.append("<ul>")
        for matrix, cell in report.failures:
            result = cell.result
            items = "".join(
                f"<li><code>{html_text(f.label)}</code>: {html_text(f.qemu_error)}<br>"
                f"fix: {html_text(f.fix)}</li>" for f in result.failures)
            out.append(f"<li>{html_text(matrix.machine.name)}: {html_text(result.source.name)} "
                       f"&#8594; {html_text(result.destination.name)} "
                       f"({html_text(result.direction)})<ul>{items}</ul></li>")
        out.append("</ul>")
    if report.uncovered:
        out.append("<h2>Registers the registry does not cover</h2>")
        for u in report.uncovered:
            out.append(f"<h3>{html_text(u.name)} <code>{html_text(codec.format_index(u.index))}"
                       f"</code></h3>")
            out.append(f"<p>{html_text(u.change)} in Linux {html_text(str(u.kernel))} on "
                       f"{html_text(', '.join(u.hosts))}; breaks {html_text(u.breaks)} "
                       "migration. Suggested entry:</p>")
            out.append(f"<pre>{_html_block(u.toml())}</pre>")
    out.extend(["</body>", "</html>"])
    return "\n".join(out) + "\n"


def _html_block(text: str) -> str:
    """Preformatted text: escaped line by line, newlines kept."""
    lines = text.rstrip("\n").split("\n")
    return "\n".join(line[:len(line) - len(line.lstrip())] + html_text(line) for line in lines)
