"""Markdown for a pull-request comment: a status line, a table per op, each failing op's
cases folded in <details> with the mismatch and the command that replays it, then lint and
baseline. Bounded to what GitHub accepts in a comment. The row and case helpers here are
what the HTML report shows too."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...engine.health import Severity
from ...engine.runs import run_verdict
from ...validate import ValidationResult
from . import Report, title
from .text import SHOWN_FAILURES

MAX_CHARS = 8_000
"""What a PR comment should stay under (GitHub accepts 65,536, reviewers read far less);
longer reports drop their last sections, with a note."""

MARKS = {"pass": "✅ pass", "fail": "❌ fail", "vacuous": "⚠️ vacuous", "skipped": "⏭️ skipped"}


@dataclass(frozen=True, slots=True)
class OpRow:
    """One op's line in the summary table; ``verdict`` is a key of MARKS."""

    op: str
    cases: int
    failed: int
    verdict: str
    note: str = ""


def op_rows(report: Report) -> list[OpRow]:
    rows = [OpRow(o.op_name, o.iterations, o.failed,
                  run_verdict(o), "; ".join(h.message for h in o.health
                                            if h.severity == Severity.error))
            for o in report.ops]
    for op, results in loose_results(report).items():
        failed = sum(not r.passed for r in results)
        rows.append(OpRow(op, len(results), failed, "fail" if failed else "pass"))
    rows += [OpRow(s.op_name, 0, 0, "skipped", s.reason) for s in report.skipped]
    return rows


def loose_results(report: Report) -> dict[str, list[ValidationResult]]:
    """Cases not part of a fuzz run (reproduce, minimize, failures), by op."""
    in_ops = {o.op_name for o in report.ops}
    by_op: dict[str, list[ValidationResult]] = {}
    for r in report.results:
        if r.op_name not in in_ops:
            by_op.setdefault(r.op_name, []).append(r)
    return by_op


def failing_cases(report: Report) -> dict[str, list[ValidationResult]]:
    """Every failing case, by op, in report order."""
    by_op = {o.op_name: list(o.failures) for o in report.ops if o.failures}
    for op, results in loose_results(report).items():
        if failed := [r for r in results if not r.passed]:
            by_op[op] = failed
    return by_op


def case_title(r: ValidationResult) -> str:
    shapes = r.repro_info.input_shapes if r.repro_info else {}
    parts = [f"seed {r.seed}", "" if r.case_index is None else f"(case {r.case_index})",
             r.dtype or "", ", ".join(f"{k} {v}" for k, v in shapes.items())]
    return " ".join(p for p in parts if p) + ": " + ", ".join(r.failure_kinds)


def case_details(r: ValidationResult) -> str:
    """The failure reasons; the MismatchReport is in their messages."""
    return "\n".join(f"{f.kind}: {f.message}" for f in r.failures)


def reproduce_command(r: ValidationResult) -> str | None:
    return r.repro_info.command if r.repro_info is not None and r.repro_info.command else None


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(text: str, lang: str = "") -> str:
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return f"{fence}{lang}\n{text}\n{fence}"


def _op_block(op: str, cases: list[ValidationResult]) -> str:
    out = [f"<details><summary><b>{op}</b>: {len(cases)} failing case(s)</summary>", ""]
    for r in cases[:SHOWN_FAILURES]:
        out += [f"**{_cell(case_title(r))}**", "", _code(case_details(r)), ""]
        if cmd := reproduce_command(r):
            out += ["Reproduce:", "", _code(cmd, "sh"), ""]
    if len(cases) > SHOWN_FAILURES:
        out += [f"… and {len(cases) - SHOWN_FAILURES} more (`gpuemu failures --op {op}`)", ""]
    return "\n".join([*out, "</details>"])


def _lint(report: Report) -> str:
    out = ["### Kernel lint", "", "| kernel | errors | warnings | verdict |", "|---|--:|--:|---|"]
    for lint in report.lint:
        counts = [sum(f.severity == s for f in lint.findings) for s in ("error", "warning")]
        out.append(f"| {_cell(lint.kernel_name)} | {counts[0]} | {counts[1]} |"
                   f" {MARKS['pass' if lint.passed else 'fail']} |")
    out.append("")
    out += [f"- **{_cell(lint.kernel_name)}** {f.severity} `{f.rule}`: {_cell(f.message)}"
            for lint in report.lint for f in lint.findings if f.severity in ("error", "warning")]
    for d in report.artifact_diffs:
        out += [f"- **{_cell(d.kernel_name)}** {c.metric}: {c.baseline} → {c.current} (vs {d.tag})"
                for c in d.regressions]
    return "\n".join(out)


def _baseline(report: Report) -> str:
    b = report.baseline
    out = [f"### Baseline `{b.tag}`: {MARKS['pass' if b.passed else 'fail']}", "",
           f"{len(b.regressions)} regressions, {len(b.improvements)} improvements,"
           f" {len(b.unchanged)} unchanged", ""]
    out += [f"- regression **{_cell(e.op_name)}**: {_cell(e.reason)}" for e in b.regressions]
    out += [f"- improvement **{_cell(e.op_name)}**: {_cell(e.reason)}" for e in b.improvements]
    return "\n".join(out)


def render_markdown(report: Report, max_chars: int = MAX_CHARS) -> str:
    head = [f"## {title(report)}: {'✅ passed' if report.passed else '❌ FAILED'}"]
    rows = op_rows(report)
    if rows:
        head += ["", "| op | cases | failed | verdict |", "|---|--:|--:|---|"]
        head += [f"| {_cell(r.op)} | {r.cases} | {r.failed} | {MARKS[r.verdict]}"
                 f"{' — ' + _cell(r.note) if r.note else ''} |" for r in rows]
    sections = [_op_block(op, cases) for op, cases in failing_cases(report).items()]
    if sections:
        sections.insert(0, "### Failures")
    if report.lint or report.artifact_diffs:
        sections.append(_lint(report))
    if report.baseline is not None:
        sections.append(_baseline(report))
    if report.notes:
        sections.append("\n".join(f"- {_cell(n)}" for n in report.notes))
    return _bounded("\n".join(head), sections, max_chars)


def _bounded(head: str, sections: list[str], max_chars: int) -> str:
    """``head`` and as many whole sections as fit, then a note saying how many were left out."""
    note = ("\n\n_… {} more section(s) left out to fit a comment; run with `--format json`"
            " or `--format html` for the whole report._")
    reserve = len(note) + 8
    text = head
    for i, section in enumerate(sections):
        if len(text) + 2 + len(section) + reserve > max_chars:
            return text + note.format(len(sections) - i)
        text += "\n\n" + section
    return text
