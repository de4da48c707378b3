"""compare_baseline: which ops regressed, improved, stayed, vanished or appeared."""

from __future__ import annotations

import math

import msgspec
import pytest

from gpuemu.engine.baseline import BaselineComparison, OpComparison, compare_baseline
from gpuemu.errors import InvalidRequest
from gpuemu.validate.result import FailureReason, ValidationResult


def res(op_name: str, passed: bool = True, max_diff: float | None = 1e-6) -> ValidationResult:
    failures = [] if passed else [FailureReason(kind="NaNDetected", message="nan at [0]")]
    return ValidationResult(passed=passed, op_name=op_name, max_diff=max_diff, failures=failures,
                            timestamp=1.0)


def compare(before: list[ValidationResult], after: list[ValidationResult],
            **kwargs) -> BaselineComparison:
    return compare_baseline({r.op_name: r for r in before}, {r.op_name: r for r in after},
                            **kwargs)


def test_pass_to_fail_is_a_regression_naming_the_failure_kinds():
    before, after = res("gemm"), res("gemm", passed=False)
    comparison = compare([before], [after])
    assert comparison.regressions == [
        OpComparison("gemm", "passed -> failed (NaNDetected)", before, after)]
    assert comparison.has_regressions
    assert comparison.improvements == comparison.unchanged == []


def test_fail_to_pass_is_an_improvement():
    before, after = res("gemm", passed=False), res("gemm")
    comparison = compare([before], [after])
    assert comparison.improvements == [OpComparison("gemm", "failed -> passed", before, after)]
    assert not comparison.has_regressions


# (baseline max_diff, current max_diff, factor) -> bucket
GROWTH_CASES = [
    (1e-6, 2.5e-6, 2.0, "regressions"),
    (1e-6, 2.0e-6, 2.0, "unchanged"),  # exactly the factor: still allowed
    (1e-6, 2.5e-6, 3.0, "unchanged"),
    (1e-6, 1.5e-6, 1.0, "regressions"),
    (0.0, 1e-9, 2.0, "regressions"),  # was exact
    (0.0, 0.0, 2.0, "unchanged"),
    (1e-6, math.inf, 2.0, "regressions"),
    (math.inf, 1e3, 2.0, "improvements"),
    (math.inf, math.inf, 2.0, "unchanged"),
    (1e-6, 4e-7, 2.0, "improvements"),
    (1e-6, 0.0, 2.0, "improvements"),
    (1e-6, 6e-7, 2.0, "unchanged"),
    (None, 1.0, 2.0, "unchanged"),  # unknown: never compared
    (1e-6, None, 2.0, "unchanged"),
    (math.nan, 1.0, 2.0, "unchanged"),
    (1e-6, math.nan, 2.0, "unchanged"),
]


@pytest.mark.parametrize(("before", "after", "factor", "bucket"), GROWTH_CASES)
def test_max_diff_growth_beyond_factor(before, after, factor, bucket):
    comparison = compare([res("op", max_diff=before)], [res("op", max_diff=after)],
                         regression_factor=factor)
    names = {name: [c.op_name for c in getattr(comparison, name)]
             for name in ("regressions", "improvements", "unchanged")}
    assert names == {name: ["op"] if name == bucket else [] for name in names}


def test_growth_reasons_say_how_much():
    comparison = compare([res("a", max_diff=1e-6), res("b", max_diff=0.0)],
                         [res("a", max_diff=5e-6), res("b", max_diff=1e-7)])
    assert [c.reason for c in comparison.regressions] == [
        "max_diff grew from 1e-06 to 5e-06 (more than 2x)",
        "max_diff grew from 0 to 1e-07 (the baseline was exact)",
    ]


def test_growth_applies_to_ops_that_failed_both_times():
    comparison = compare([res("op", passed=False, max_diff=0.1)],
                         [res("op", passed=False, max_diff=1.0)])
    assert [c.op_name for c in comparison.regressions] == ["op"]


def test_missing_new_and_unchanged_ops_sorted():
    comparison = compare([res("z"), res("gone"), res("a"), res("b")],
                         [res("b"), res("a"), res("z"), res("fresh"), res("added")], tag="main")
    assert comparison.tag == "main"
    assert [(c.op_name, c.reason) for c in comparison.unchanged] == [
        ("a", "passed both times"), ("b", "passed both times"), ("z", "passed both times")]
    assert comparison.missing == [
        OpComparison("gone", "not in the current results", baseline=res("gone"))]
    assert [(c.op_name, c.reason, c.baseline) for c in comparison.new] == [
        ("added", "not in the baseline", None), ("fresh", "not in the baseline", None)]
    assert comparison.new[0].current == res("added")
    assert not comparison.has_regressions


def test_empty_inputs():
    assert compare([], []) == BaselineComparison()


def test_comparison_encodes_to_json_with_non_finite_as_null():
    comparison = compare([res("op", max_diff=1e-6)], [res("op", max_diff=math.inf)])
    decoded = msgspec.json.decode(msgspec.json.encode(comparison))
    assert decoded["regressions"][0]["current"]["max_diff"] is None


@pytest.mark.parametrize("factor", [0.5, math.nan, -1.0])
def test_factor_below_one_is_rejected(factor):
    with pytest.raises(InvalidRequest, match=rf"regression_factor {factor} must be >= 1"):
        compare([], [], regression_factor=factor)
