"""One self-contained HTML page (inline CSS, no scripts, no network) with what the Markdown
comment shows, every failing case included: for a browser or a CI artifact."""

from __future__ import annotations

from html import escape

from . import Report, title
from .charts import artifact_chart, op_histogram, trend_chart
from .markdown import case_details, case_title, failing_cases, op_rows, reproduce_command

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #1f2328; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d0d7de; padding: .3em .7em; text-align: left; }
td.num { text-align: right; }
pre { background: #f6f8fa; padding: .7em; overflow-x: auto; white-space: pre-wrap; }
.pass { color: #1a7f37; } .fail { color: #cf222e; } .vacuous, .skipped { color: #9a6700; }
summary { cursor: pointer; margin: .5em 0; }
figure.chart { margin: 1em 0; } figure.chart svg { max-width: 100%; height: auto; }
figcaption { color: #59636e; font-size: 13px; }
"""

VERDICTS = {"pass": "pass", "fail": "FAIL", "vacuous": "vacuous", "skipped": "skipped"}


def _verdict(key: str) -> str:
    return f'<span class="{key}">{VERDICTS[key]}</span>'


def _table(header: list[str], rows: list[list[str]]) -> str:
    """``rows`` hold cells already escaped; numbers are right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(
        f'<td class="num">{c}</td>' if c.isdigit() else f"<td>{c}</td>" for c in row) + "</tr>"
        for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _failures(report: Report) -> list[str]:
    out = []
    for op, cases in failing_cases(report).items():
        out.append(op_histogram(op, cases))  # outside <details>: seen without a click
        out.append(f"<details><summary><b>{escape(op)}</b>: {len(cases)} failing case(s)</summary>")
        for r in cases:
            out.append(f"<h4>{escape(case_title(r))}</h4><pre>{escape(case_details(r))}</pre>")
            if cmd := reproduce_command(r):
                out.append(f"<p>Reproduce:</p><pre><code>{escape(cmd)}</code></pre>")
        out.append("</details>")
    return ["<h2>Failures</h2>", *out] if out else []


def _lint(report: Report) -> list[str]:
    if not (report.lint or report.artifact_diffs):
        return []
    rows = [[escape(x.kernel_name), *(str(sum(f.severity == s for f in x.findings))
                                      for s in ("error", "warning")),
             _verdict("pass" if x.passed else "fail")] for x in report.lint]
    items = [f"<li><b>{escape(x.kernel_name)}</b> {escape(f.severity)} <code>{escape(f.rule)}</code>:"
             f" {escape(f.message)}</li>" for x in report.lint for f in x.findings
             if f.severity in ("error", "warning")]
    items += [f"<li><b>{escape(d.kernel_name)}</b> {escape(c.metric)}: {c.baseline} → {c.current}"
              f" (vs {escape(d.tag)})</li>" for d in report.artifact_diffs for c in d.regressions]
    return ["<h2>Kernel lint</h2>", _table(["kernel", "errors", "warnings", "verdict"], rows),
            f"<ul>{''.join(items)}</ul>" if items else "",
            *(artifact_chart(d) for d in report.artifact_diffs)]


def _trend(report: Report) -> list[str]:
    charts = [c for op, points in report.history.items() if (c := trend_chart(op, points))]
    return ["<h2>Trend</h2>", *charts] if charts else []


def _baseline(report: Report) -> list[str]:
    b = report.baseline
    if b is None:
        return []
    items = [f"<li>{kind} <b>{escape(e.op_name)}</b>: {escape(e.reason)}</li>"
             for kind, entries in (("regression", b.regressions), ("improvement", b.improvements))
             for e in entries]
    return [f"<h2>Baseline <code>{escape(b.tag)}</code>: {_verdict('pass' if b.passed else 'fail')}</h2>",
            f"<p>{len(b.regressions)} regressions, {len(b.improvements)} improvements,"
            f" {len(b.unchanged)} unchanged</p>", f"<ul>{''.join(items)}</ul>" if items else ""]


def _coverage(report: Report) -> list[str]:
    """Per op, what its stored results cover of its configured dtypes, layouts and shape
    classes; the gaps listed."""
    if not report.coverage:
        return []
    rows = [[escape(c.op_name), f"{c.covered}/{c.configured}", str(c.results),
             escape(", ".join(c.missing)) or "none"] for c in report.coverage]
    return ["<h2>Coverage</h2>", _table(["op", "covered", "results", "missing"], rows)]


def render_html(report: Report) -> str:
    status = _verdict("pass" if report.passed else "fail")
    rows = [[escape(r.op), str(r.cases), str(r.failed),
             _verdict(r.verdict) + (f" — {escape(r.note)}" if r.note else "")]
            for r in op_rows(report)]
    body = [f"<h1>{escape(title(report))}: {status}</h1>"]
    if rows:
        body.append(_table(["op", "cases", "failed", "verdict"], rows))
    body += (_failures(report) + _trend(report) + _coverage(report) + _lint(report)
             + _baseline(report))
    if report.notes:
        body.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title(report))}</title><style>{STYLE}</style></head>\n"
            "<body>\n" + "\n".join(b for b in body if b) + "\n</body></html>\n")
