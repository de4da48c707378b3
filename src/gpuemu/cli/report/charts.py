"""Inline SVG pictures for the HTML report: where the errors fall, how an op's max diff
moved across runs, how a kernel's metrics moved against a baseline. Pure functions from
data to markup (no scripts, fonts or images), each a <figure> whose <figcaption> holds the
same numbers as a table, so a reader without the picture (or a screen reader) loses nothing.
Every function returns "" when there is nothing to draw."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

from ...protocol import ArtifactDiff, MetricChange
from ...validate import ValidationResult
from ...validate.histogram import DECADES, error_histogram_labels
from . import TrendPoint

FONT = 11
CHAR_W = 6.6
"""Approximate width of one character at FONT px, to leave room for labels."""

COLORS = {
    "bar": "#0969da", "pass": "#1a7f37", "fail": "#cf222e", "baseline": "#8c959f",
    "improved": "#1a7f37", "line": "#8c959f", "grid": "#d0d7de", "text": "#1f2328",
    "atol": "#9a6700",
}


@dataclass(frozen=True, slots=True)
class Scale:
    """Maps data values in [lo, hi] onto pixels [p0, p1]; ``log`` maps log10 of the value
    (values at or below zero clamp to ``lo``)."""

    lo: float
    hi: float
    p0: float
    p1: float
    log: bool = False

    def _t(self, v: float) -> float:
        if self.log:
            lo, hi = math.log10(self.lo), math.log10(self.hi)
            v = math.log10(max(v, self.lo))
        else:
            lo, hi = self.lo, self.hi
        return 0.0 if hi == lo else (v - lo) / (hi - lo)

    def __call__(self, v: float) -> float:
        return self.p0 + (self.p1 - self.p0) * self._t(v)


def fmt(v: float) -> str:
    """A number short enough for a label; whole numbers (counts, bytes) in full."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e12 else f"{v:.3g}"


def _text(x: float, y: float, s: str, anchor: str = "middle", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{FONT}"'
            f' fill="{COLORS["text"]}"{extra}>{escape(s)}</text>')


def _rect(x: float, y: float, w: float, h: float, color: str, tip: str, cls: str) -> str:
    return (f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}"'
            f' height="{max(h, 0):.1f}" fill="{color}"><title>{escape(tip)}</title></rect>')


def _line(x1: float, y1: float, x2: float, y2: float, color: str, extra: str = "") -> str:
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"'
            f' stroke="{color}"{extra}/>')


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    t = escape(title)
    # No xmlns: the HTML parser puts inline <svg> in the SVG namespace itself, and the
    # page stays free of URLs (a self-contained report names nothing on the network).
    return (f'<svg width="{width:.0f}" height="{height:.0f}"'
            f' viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{t}"'
            f' font-family="system-ui, sans-serif"><title>{t}</title>' + "".join(body) + "</svg>")


def _figure(svg: str, caption: str, header: list[str], rows: list[list[str]]) -> str:
    """The picture and, under it, its numbers as a folded table (cells are plain text)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return (f'<figure class="chart">{svg}<figcaption>{escape(caption)}<details>'
            f"<summary>numbers</summary><table><tr>{head}</tr>{body}</table></details>"
            "</figcaption></figure>")


def _log_ticks(scale: Scale, x: float, width: float, zero: bool = False) -> list[str]:
    """Horizontal grid lines with labels at each power of ten of a log y ``scale``; with
    ``zero`` the lowest one is labelled 0, where zeros (clamped to ``scale.lo``) are drawn."""
    out = []
    first = math.ceil(math.log10(scale.lo))
    for k in range(first, math.floor(math.log10(scale.hi)) + 1):
        y = scale(10.0 ** k)
        out += [_line(x, y, x + width, y, COLORS["grid"]),
                _text(x - 4, y + 4, "0" if zero and k == first else f"1e{k}", "end")]
    return out


# -- error histogram -----------------------------------------------------------------------

def summed_histogram(cases: Sequence[ValidationResult]) -> list[int]:
    """Per-bucket counts summed over the cases that carry a histogram."""
    hists = [r.mismatch.error_histogram for r in cases
             if r.mismatch is not None and r.mismatch.error_histogram]
    return [sum(col) for col in zip(*hists)] if hists else []


def _atol_x(atol: float, slot_x: Scale, slot_w: float) -> float | None:
    """Where |diff| = atol falls on the bucket axis: inside its decade, log-interpolated."""
    if not atol > 0 or not math.isfinite(atol):
        return None
    e = math.log10(atol)
    lo, hi = DECADES[0], DECADES[-1]
    if e < lo:
        return slot_x(1) + slot_w / 2
    if e >= hi:
        return slot_x(2 + hi - lo)
    return slot_x(2 + math.floor(e) - lo) + (e - math.floor(e)) * slot_w


def histogram_chart(op: str, counts: Sequence[int], atol: float | None = None) -> str:
    """One bar per non-empty bucket of ``error_histogram_labels()``, heights on a
    log(1 + count) scale with the count written above; ``atol`` drawn as a dashed line."""
    labels = error_histogram_labels()
    if not any(counts) or len(counts) != len(labels):
        return ""
    slot_w, left, top, plot_h = 46.0, 16.0, 22.0, 150.0
    width = left * 2 + slot_w * len(labels)
    height = top + plot_h + 64
    slot_x = Scale(0, len(labels), left, left + slot_w * len(labels))
    y = Scale(0, math.log10(1 + max(counts)), top + plot_h, top)
    base = top + plot_h
    body = [_line(left, base, width - left, base, COLORS["text"])]
    for i, (label, n) in enumerate(zip(labels, counts)):
        cx = slot_x(i) + slot_w / 2
        lx, ly = cx + 3, base + 10
        body.append(_text(lx, ly, label, "end", f' transform="rotate(-45 {lx:.1f} {ly:.1f})"'))
        if n:
            top_y = y(math.log10(1 + n))
            body += [_rect(slot_x(i) + 5, top_y, slot_w - 10, base - top_y,
                           COLORS["fail"] if label == "non-finite" else COLORS["bar"],
                           f"{label}: {n} element(s)", "bar"),
                     _text(cx, top_y - 4, str(n))]
    if atol is not None and (ax := _atol_x(atol, slot_x, slot_w)) is not None:
        body += [_line(ax, top - 8, ax, base, COLORS["atol"], ' stroke-dasharray="4 3"'
                       ' stroke-width="1.5"'),
                 _text(ax + 3, top - 10, f"atol {fmt(atol)}", "start")]
    title = f"{op}: |actual - expected| per element, all failing cases"
    rows = [[label, str(n)] for label, n in zip(labels, counts) if n]
    caption = f"Error distribution of {op} over {sum(counts)} elements" + (
        f" (atol {fmt(atol)})" if atol is not None else "") + "; bar heights on a log scale."
    return _figure(_svg(width, height, title, body), caption, ["|diff|", "elements"], rows)


def op_histogram(op: str, cases: Sequence[ValidationResult]) -> str:
    """The histogram chart of an op's failing ``cases``; atol marked when they share one."""
    atols = {r.mismatch.atol for r in cases if r.mismatch is not None}
    return histogram_chart(op, summed_histogram(cases), atols.pop() if len(atols) == 1 else None)


# -- max-diff trend ------------------------------------------------------------------------

def trend_chart(op: str, points: Sequence[TrendPoint]) -> str:
    """One dot per stored result with a max_diff, in the given (oldest-first) order, on a
    log y axis; failing dots red, passing green. "" with fewer than two such results."""
    pts = [p for p in points if p.max_diff is not None and math.isfinite(p.max_diff)]
    if len(pts) < 2:
        return ""
    positive = [p.max_diff for p in pts if p.max_diff > 0]
    zero = len(positive) < len(pts)
    positive = positive or [1.0]
    lo = 10.0 ** (math.floor(math.log10(min(positive))) - zero)
    hi = 10.0 ** math.ceil(math.log10(max(positive)))
    hi = hi * 10 if hi == lo else hi
    left, top, plot_w, plot_h = 52.0, 12.0, 520.0, 140.0
    x = Scale(0, len(pts) - 1, left + 8, left + plot_w - 8)
    y = Scale(lo, hi, top + plot_h, top, log=True)
    body = _log_ticks(y, left, plot_w, zero)
    body.append(f'<polyline fill="none" stroke="{COLORS["line"]}" points="'
                + " ".join(f"{x(i):.1f},{y(p.max_diff):.1f}" for i, p in enumerate(pts)) + '"/>')
    for i, p in enumerate(pts):
        verdict = "pass" if p.passed else "fail"
        body.append(f'<circle class="point {verdict}" cx="{x(i):.1f}" cy="{y(p.max_diff):.1f}"'
                    f' r="3.5" fill="{COLORS[verdict]}"><title>seed {p.seed}: max diff'
                    f" {fmt(p.max_diff)} ({verdict})</title></circle>")
    base = top + plot_h
    body += [_text(left + plot_w / 2, base + 16, f"{len(pts)} stored runs, oldest first"),
             _text(14, top + plot_h / 2, "max diff", extra=f' transform="rotate(-90 14'
                   f' {top + plot_h / 2:.1f})"')]
    failing = sum(not p.passed for p in pts)
    caption = (f"max diff of {op} over {len(pts)} stored runs ({failing} failing):"
               f" from {fmt(pts[0].max_diff)} to {fmt(pts[-1].max_diff)}.")
    rows = [[str(i + 1), str(p.seed), fmt(p.max_diff), "pass" if p.passed else "FAIL"]
            for i, p in enumerate(pts)]
    return _figure(_svg(left + plot_w + 8, base + 24, f"{op}: max diff across stored runs",
                        body), caption, ["run", "seed", "max diff", "verdict"], rows)


# -- artifact metrics ----------------------------------------------------------------------

def _changes(diff: ArtifactDiff) -> list[tuple[str, MetricChange]]:
    """(kind, change) for every metric with both values, regressions first; metrics that
    are zero in both (no spills, no local memory) are left out: nothing to look at."""
    kinds = (("regression", diff.regressions), ("improvement", diff.improvements),
             ("unchanged", diff.unchanged))
    return [(kind, c) for kind, changes in kinds for c in changes
            if c.baseline is not None and c.current is not None and (c.baseline or c.current)]


def artifact_chart(diff: ArtifactDiff) -> str:
    """Per metric a pair of horizontal bars, baseline (grey) over current (red when a
    regression, green when an improvement, blue otherwise). Metrics have different units,
    so each pair has its own scale, 0 to the larger of the two; the values are written."""
    changes = _changes(diff)
    if not changes:
        return ""
    bar_h, gap = 12.0, 10.0
    left = 16 + CHAR_W * max(len(c.metric) for _, c in changes)
    plot_w, top = 300.0, 8.0
    body = []
    for row, (kind, c) in enumerate(changes):
        y0 = top + row * (2 * bar_h + gap)
        x = Scale(0, max(abs(c.baseline), abs(c.current)), left, left + plot_w)
        color = {"regression": COLORS["fail"], "improvement": COLORS["improved"]}.get(
            kind, COLORS["bar"])
        body.append(_text(left - 6, y0 + bar_h + 4, c.metric + (" ▲" if kind == "regression"
                                                               else ""), "end"))
        for j, (who, v, col) in enumerate((("baseline", c.baseline, COLORS["baseline"]),
                                           ("current", c.current, color))):
            w = x(abs(v)) - left
            body += [_rect(left, y0 + j * bar_h, w, bar_h - 1, col,
                           f"{c.metric} {who}: {fmt(v)}", f"bar {who} {kind}"),
                     _text(left + w + 4, y0 + j * bar_h + bar_h - 2, f"{who} {fmt(v)}",
                           "start")]
    height = top + len(changes) * (2 * bar_h + gap)
    title = f"{diff.kernel_name}: metrics vs baseline {diff.tag}"
    regressions = sum(kind == "regression" for kind, _ in changes)
    caption = (f"{diff.kernel_name} against baseline {diff.tag}: {regressions} regression(s)"
               f" among {len(changes)} metric(s).")
    rows = [[c.metric, fmt(c.baseline), fmt(c.current), kind] for kind, c in changes]
    return _figure(_svg(left + plot_w + 110, height, title, body), caption,
                   ["metric", "baseline", "current", "change"], rows)
