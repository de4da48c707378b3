"""Text output: one line per op, case or kernel; a failure shows its reasons, the mismatch
report and the command that reproduces it. Colour only when asked (a TTY)."""

from __future__ import annotations

import click

from ...engine.repro import replay_command
from ...protocol import FuzzCoverage
from ...validate import ValidationResult
from . import Report

SHOWN_FAILURES = 5
"""Failing cases shown per op; the JSON and JUnit reports carry all of them."""


def render_text(report: Report, *, color: bool = False) -> str:
    def mark(ok: bool, warn: bool = False) -> str:
        if not ok:
            return click.style("FAIL", fg="red", bold=True)
        return click.style("WARN", fg="yellow", bold=True) if warn else click.style(
            "PASS", fg="green", bold=True)

    out: list[str] = []
    for op in report.ops:
        out.append(f"{mark(op.failed == 0, op.vacuous)} {op.op_name}: {op.passed}/{op.iterations} cases passed"
                   f" (seed {op.seed}, {op.duration_ms / 1e3:.1f}s)")
        for r in op.failures[:SHOWN_FAILURES]:
            out += _case(r, indent="    ")
        if len(op.failures) > SHOWN_FAILURES:
            out.append(f"    ... and {len(op.failures) - SHOWN_FAILURES} more failing cases"
                       " (`gpuemu failures --op " + op.op_name + "`)")
        out += [f"    health: {h.message}" for h in op.health]
        if op.coverage is not None:
            out.append("    tried: " + _coverage(op.coverage))
    shown = {o.op_name for o in report.ops}
    for r in report.results:
        if r.op_name not in shown:
            out.append(f"{mark(r.passed, bool(r.warnings))} {r.op_name} seed {r.seed}" + _diffs(r))
            out += [f"    warning: {w.kind}: {w.message}" for w in r.warnings]
            out += _case(r, indent="    ", header=False)
    out += [f"{click.style('SKIP', fg='yellow')} {s.op_name}: {s.reason}" for s in report.skipped]
    for lint in report.lint:
        counts = {s: sum(f.severity == s for f in lint.findings) for s in ("error", "warning")}
        out.append(f"{mark(lint.passed)} lint {lint.kernel_name}: {counts['error']} errors,"
                   f" {counts['warning']} warnings")
        out += [f"    {f.severity}: {f.message}" for f in lint.findings
                if f.severity in ("error", "warning")]
    if report.baseline is not None:
        b = report.baseline
        out.append(f"{mark(b.passed)} baseline {b.tag}: {len(b.regressions)} regressions,"
                   f" {len(b.improvements)} improvements, {len(b.unchanged)} unchanged")
        out += [f"    regression {e.op_name}: {e.reason}" for e in b.regressions]
        out += [f"    improvement {e.op_name}: {e.reason}" for e in b.improvements]
    for d in report.artifact_diffs:
        out.append(f"{mark(d.passed)} artifacts {d.kernel_name} vs {d.tag}:"
                   f" {len(d.regressions)} metrics grew, {len(d.improvements)} shrank")
        out += [f"    {c.metric}: {c.baseline} -> {c.current}" for c in d.regressions]
    for c in report.coverage:
        out.append(f"{c.op_name}: {c.covered}/{c.configured} configured dtypes, layouts and"
                   f" shape classes have results ({c.results} results, {c.failed} failed)")
        if not c.results:
            out.append(f"    no stored results: `gpuemu fuzz {c.op_name}` or `gpuemu ci run`"
                       " records some")
            continue
        for label, counts in (("dtypes", c.dtypes), ("layouts", c.layouts),
                              ("shapes", c.shape_classes), ("ranks", c.ranks)):
            out.append(f"    {label:8}{_counts(counts)}")
        if c.missing:
            out.append(f"    missing: {', '.join(c.missing)}")
    if report.minimize is not None:
        m = report.minimize
        out.append(f"minimized seed {m.original_seed} -> {m.minimized_seed} in {m.calls} runs:"
                   f" {m.original_shape} -> {m.minimized_shape}")
        out += [f"    {step}" for step in m.steps]
        if m.outside_schema:
            out.append(f"    outside the op's schema: {'; '.join(m.outside_schema)} (the smallest"
                       " failing case found; fuzzing draws only the schema's candidates)")
        out.append(f"    reproduce: {replay_command(seed=m.minimized_seed)}")
    out += report.notes
    out.append(click.style("passed" if report.passed else "FAILED", bold=True,
                           fg="green" if report.passed else "red")
               + (f": {report.project}" if report.project else "") + _summary(report))
    text = "\n".join(out)
    return text if color else click.unstyle(text)


def _summary(report: Report) -> str:
    cases = sum(o.iterations for o in report.ops) + sum(
        r.op_name not in {o.op_name for o in report.ops} for r in report.results)
    failed = sum(o.failed for o in report.ops) + sum(
        not r.passed for r in report.results if r.op_name not in {o.op_name for o in report.ops})
    parts = [f"{cases} cases, {failed} failed"] if cases else []
    if report.lint:
        parts.append(f"{sum(not x.passed for x in report.lint)}/{len(report.lint)} kernels failed lint")
    return f" ({'; '.join(parts)})" if parts else ""


def _counts(d: dict[str, int]) -> str:
    return " ".join(f"{k}×{n}" for k, n in sorted(d.items(), key=lambda kv: -kv[1]))


def _coverage(c: FuzzCoverage) -> str:
    """What a fuzz run tried, on one line: counts per dtype, layout and value class."""
    parts = [f"{c.cases} cases ({c.checked} checked, {c.filtered} filtered, {c.empty} empty,"
             f" {c.op_errors} op errors)", f"dtypes {_counts(c.dtypes)}",
             f"layouts {_counts(c.layouts)}", f"values {_counts(c.distributions)}",
             *([f"sizes {_counts(c.size_classes)}"] if c.size_classes else []),
             f"{len(c.shapes)} distinct shapes, {c.distinct_inputs} distinct inputs"]
    return "; ".join(parts)


def _diffs(r: ValidationResult) -> str:
    if r.max_diff is None:
        return ""
    return f": max abs diff {r.max_diff:.3g}, max rel diff {r.max_rel_diff or 0:.3g}"


def _case(r: ValidationResult, indent: str, header: bool = True) -> list[str]:
    lines = []
    if header:
        shape = r.repro_info.input_shapes if r.repro_info else {}
        case = "" if r.case_index is None else f" (case {r.case_index})"
        lines.append(f"{indent}seed {r.seed}{case} {r.dtype or ''} {shape}:"
                     f" {', '.join(r.failure_kinds)}")
    lines += [f"{indent}  {f.kind}: {f.message}" for f in r.failures]  # carries the mismatch report
    if not r.passed and r.repro_info is not None and r.repro_info.command:
        lines.append(f"{indent}  reproduce: {r.repro_info.command}")
    return lines

