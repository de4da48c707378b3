"""The HTML report's SVG charts: well-formed, one mark per datum, sizes that follow the data,
labels and numbers present, text escaped, nothing drawn for nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from gpuemu.cli.report import Report, TrendPoint, render
from gpuemu.cli.report.charts import (
    COLORS,
    artifact_chart,
    histogram_chart,
    op_histogram,
    summed_histogram,
    trend_chart,
)
from gpuemu.protocol import ArtifactDiff, MetricChange
from gpuemu.validate import ValidationResult
from gpuemu.validate.histogram import error_histogram_labels
from gpuemu.validate.result import MismatchReport

LABELS = error_histogram_labels()
EVIL = "<b>&x"


def parse(figure: str) -> tuple[ET.Element, ET.Element]:
    """The figure and its <svg>, parsed as XML (fails on malformed markup)."""
    root = ET.fromstring(figure)
    (svg,) = root.findall("svg")
    return root, svg


def marks(svg: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in svg.iter(tag) if cls in e.get("class", "").split()]


def texts(svg: ET.Element) -> list[str]:
    return [t.text for t in svg.iter("text")]


def table(root: ET.Element) -> list[list[str]]:
    return [[c.text for c in tr] for tr in root.iter("tr")][1:]


def assert_titled(svg: ET.Element, start: str) -> None:
    title = svg.find("title")
    assert title is not None and title.text.startswith(start)
    assert svg.get("aria-label") == title.text and svg.get("role") == "img"


def failing(op: str, hist: list[int] | None, atol: float = 1e-5, seed: int = 1):
    mismatch = None if hist is None else MismatchReport(
        mismatched=1, total=sum(hist), percent=1.0, max_abs_diff=1.0, max_abs_index=[0],
        max_rel_diff=1.0, max_rel_index=[0], atol=atol, rtol=1e-5, error_histogram=hist)
    return ValidationResult(passed=False, op_name=op, seed=seed, mismatch=mismatch)


def hist(**counts: int) -> list[int]:
    """A histogram with ``counts`` at the buckets named by index (b0, b5, ...)."""
    out = [0] * len(LABELS)
    for key, n in counts.items():
        out[int(key[1:])] = n
    return out


# -- histogram -----------------------------------------------------------------------------

def test_histogram_has_one_bar_per_nonempty_bucket_with_heights_following_counts():
    counts = hist(b0=5, b3=1, b6=400, b7=40, b13=2)
    root, svg = parse(histogram_chart("softmax", counts))
    assert_titled(svg, "softmax: |actual - expected|")
    bars = marks(svg, "rect", "bar")
    assert len(bars) == 5
    heights = [float(b.get("height")) for b in bars]
    nonzero = [n for n in counts if n]
    assert sorted(heights) == [h for _, h in sorted(zip(nonzero, heights))]
    assert len(set(heights)) == 5 and min(heights) > 0
    assert set(LABELS) <= set(texts(svg))
    assert {"5", "1", "400", "40", "2"} <= set(texts(svg))
    assert table(root) == [[LABELS[i], str(counts[i])] for i in (0, 3, 6, 7, 13)]
    assert "448 elements" in root.find("figcaption").text


def test_histogram_bars_are_red_only_for_non_finite():
    _, svg = parse(histogram_chart("op", hist(b4=3, b13=3)))
    fills = {b.find("title").text.split(":")[0]: b.get("fill")
             for b in marks(svg, "rect", "bar")}
    assert fills == {LABELS[4]: COLORS["bar"], "non-finite": COLORS["fail"]}


def test_histogram_marks_atol_inside_its_decade():
    _, svg = parse(histogram_chart("op", hist(b4=10, b5=10, b6=10), atol=3e-5))
    (line,) = [ln for ln in svg.iter("line") if ln.get("stroke-dasharray")]
    bars = {b.find("title").text.split(":")[0]: b for b in marks(svg, "rect", "bar")}
    bar = bars["1e-5..1e-4"]
    assert float(bar.get("x")) < float(line.get("x1")) < float(bar.get("x")) + float(
        bar.get("width"))
    assert "atol 3e-05" in texts(svg)
    assert "atol" not in "".join(texts(parse(histogram_chart("op", hist(b6=1)))[1]))


def test_op_histogram_sums_failing_cases_and_skips_those_without_a_histogram():
    cases = [failing("op", hist(b2=1, b6=4)), failing("op", hist(b6=6, b13=1)),
             failing("op", None)]
    assert summed_histogram(cases) == hist(b2=1, b6=10, b13=1)
    root, svg = parse(op_histogram("op", cases))
    assert table(root) == [[LABELS[2], "1"], [LABELS[6], "10"], ["non-finite", "1"]]
    assert "atol 1e-05" in texts(svg)
    mixed = [failing("op", hist(b6=1), atol=1e-5), failing("op", hist(b6=1), atol=1e-3)]
    assert not any(t.startswith("atol") for t in texts(parse(op_histogram("op", mixed))[1]))


# -- trend ---------------------------------------------------------------------------------

def points(*diffs: float | None) -> list[TrendPoint]:
    """Passing below 1e-3, failing above; seeds 100, 101, ..."""
    return [TrendPoint(timestamp=1e9 + i, passed=d is None or d < 1e-3, seed=100 + i, max_diff=d)
            for i, d in enumerate(diffs)]


def test_trend_has_one_point_per_result_with_a_max_diff_coloured_by_verdict():
    pts = points(1e-6, None, 0.5, 2e-4, 30.0)
    root, svg = parse(trend_chart("matmul", pts))
    assert_titled(svg, "matmul: max diff")
    dots = marks(svg, "circle", "point")
    assert len(dots) == 4
    assert [d.get("fill") for d in dots] == [COLORS[v] for v in ("pass", "fail", "pass", "fail")]
    ys = [float(d.get("cy")) for d in dots]
    assert ys[3] < ys[1] < ys[2] < ys[0]  # bigger max diff, higher up (smaller y)
    xs = [float(d.get("cx")) for d in dots]
    assert xs == sorted(xs)
    assert {"1e-6", "1e1"} <= set(texts(svg))
    assert table(root)[1] == ["2", "102", "0.5", "FAIL"]
    assert "seed 104: max diff 30 (fail)" in [d.find("title").text for d in dots]


def test_trend_draws_zero_on_its_own_labelled_floor():
    _, svg = parse(trend_chart("op", points(0.0, 1e-4, 0.0)))
    dots = marks(svg, "circle", "point")
    assert dots[0].get("cy") == dots[2].get("cy") != dots[1].get("cy")
    assert "0" in texts(svg) and "1e-4" in texts(svg)


@pytest.mark.parametrize("pts", [[], points(1e-3), points(None, 1e-3, None),
                                 points(float("inf"), 1.0)])
def test_trend_needs_two_points_with_a_max_diff(pts):
    assert trend_chart("op", pts) == ""


# -- artifact metrics ----------------------------------------------------------------------

def diff(**kw) -> ArtifactDiff:
    return ArtifactDiff(tag="v1", kernel_name="gemm_kernel", passed=False, **kw)


def test_artifact_chart_has_a_bar_pair_per_metric_with_both_values():
    d = diff(regressions=[MetricChange("registers", 32, 64)],
             improvements=[MetricChange("spill_stores", 16, 0)],
             unchanged=[MetricChange("shared_bytes", 4096.0, 4096.0),
                        MetricChange("local_bytes", None, 8)])
    root, svg = parse(artifact_chart(d))
    assert_titled(svg, "gemm_kernel: metrics vs baseline v1")
    base, cur = marks(svg, "rect", "baseline"), marks(svg, "rect", "current")
    assert len(base) == len(cur) == 3
    assert [c.get("fill") for c in cur] == [COLORS["fail"], COLORS["improved"], COLORS["bar"]]
    width = [[float(r.get("width")) for r in pair] for pair in zip(base, cur)]
    assert width[0][0] < width[0][1] and width[1][0] > width[1][1] == 0
    assert width[2][0] == width[2][1] > 0
    assert {"registers ▲", "spill_stores", "shared_bytes", "baseline 32", "current 64"} <= set(
        texts(svg))
    assert table(root) == [["registers", "32", "64", "regression"],
                           ["spill_stores", "16", "0", "improvement"],
                           ["shared_bytes", "4096", "4096", "unchanged"]]
    assert "1 regression(s) among 3 metric(s)" in root.find("figcaption").text


def test_artifact_chart_without_comparable_metrics_is_empty():
    assert artifact_chart(diff()) == ""
    assert artifact_chart(diff(regressions=[MetricChange("registers", None, 40)])) == ""


# -- escaping and placement ----------------------------------------------------------------

def test_names_are_escaped_not_injected():
    figures = [histogram_chart(EVIL, hist(b5=1)), trend_chart(EVIL, points(1e-4, 1e-2)),
               artifact_chart(ArtifactDiff(tag=EVIL, kernel_name=EVIL, passed=False,
                                           regressions=[MetricChange(EVIL, 1, 2)]))]
    for figure in figures:
        root, svg = parse(figure)
        assert not [e for e in root.iter() if e.tag == "b"]
        assert EVIL in svg.find("title").text and "&lt;b&gt;&amp;x" in figure


def test_html_report_places_each_chart_in_its_section():
    report = Report(
        command="fuzz", passed=False,
        results=[failing("softmax", hist(b6=3)), failing("softmax", hist(b7=1), seed=2)],
        history={"softmax": points(1e-4, 1e-2), "relu": points(1e-4)},
        artifact_diffs=[diff(regressions=[MetricChange("registers", 32, 64)])])
    page = render(report, "html")
    failures, trend, lint = (page.index(h) for h in
                             ("<h2>Failures</h2>", "<h2>Trend</h2>", "<h2>Kernel lint</h2>"))
    assert failures < page.index("Error distribution of softmax") < trend
    assert trend < page.index("softmax: max diff") < lint < page.index("gemm_kernel: metrics")
    assert page.count("<svg") == 3 and "relu: max diff" not in page
    plain = render(Report(command="fuzz", passed=True), "html")
    assert "<svg" not in plain and "Trend" not in plain
