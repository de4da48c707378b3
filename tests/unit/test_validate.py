"""validate_output: every stage and failure kind, NaN/Inf parity, dtypes, layouts, chunks."""

from __future__ import annotations

import json
import math

import ml_dtypes
import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gpuemu.dtypes import DType
from gpuemu.errors import InvalidRequest
from gpuemu.tolerances import ToleranceConfig
from gpuemu.validate import (
    INVARIANTS,
    FailureKind,
    MismatchReport,
    ValidationResult,
    validate_output,
)
from gpuemu.validate.tally import CHUNK

def rng(seed: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def sample(dtype: DType, shape, seed: int = 0) -> np.ndarray:
    """Finite values that use the dtype's range (ints beyond 2^53 for the 64-bit ones)."""
    g = rng(seed)
    if dtype.is_float:
        return (g.standard_normal(shape) * 100).astype(dtype.numpy)
    if dtype is DType.Bool:
        return g.random(shape) < 0.5
    info = np.iinfo(dtype.numpy)
    return g.integers(info.min, info.max, shape, dtype=dtype.numpy, endpoint=True)


def kinds(result: ValidationResult) -> list[str]:
    return [str(k) for k in result.failure_kinds]


def numpy_verdict(a, e, tol: ToleranceConfig):
    """The DESIGN.md rule, computed independently on whole float64 arrays."""
    a, e = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - e)
        within = np.isfinite(diff) & (diff <= tol.atol + tol.rtol * np.abs(e))
    parity = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
    return diff, ~(within | parity)


# -- passing cases and the fields of a result ------------------------------------------


@pytest.mark.parametrize("dtype", list(DType))
def test_identical_arrays_pass_for_every_dtype(dtype):
    x = sample(dtype, (7, 33))
    result = validate_output(x, x.copy(), op_name="copy", seed=2**63 + 5)
    assert result.passed and result.failures == []
    assert (result.op_name, result.seed, result.dtype, result.shape) == (
        "copy", 2**63 + 5, dtype.value, [7, 33])
    assert result.max_diff == 0.0
    assert result.mismatch is None
    assert (result.atol, result.rtol) == (
        ToleranceConfig.for_dtype(dtype).atol, ToleranceConfig.for_dtype(dtype).rtol)
    assert result.duration_ms > 0


def test_passing_result_reports_greatest_differences_against_numpy():
    e = rng(1).standard_normal((300, 500)).astype(np.float32)
    a = (e * (1 + rng(2).uniform(-5e-6, 5e-6, e.shape))).astype(np.float32)
    result = validate_output(a, e)
    diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
    rel = diff / np.abs(e.astype(np.float64))
    assert result.passed
    assert result.max_diff == pytest.approx(diff.max(), rel=1e-6)
    assert result.max_rel_diff == pytest.approx(rel.max(), rel=1e-6)


def test_passing_output_with_zeros_reports_relative_difference_where_defined():
    """A ReLU-like output: exact zeros in expected have no relative difference."""
    e = np.maximum(rng(9).standard_normal(3 * CHUNK + 5), 0).astype(np.float32)
    a = (e * (1 + rng(10).uniform(-5e-6, 5e-6, e.shape))).astype(np.float32)
    a[e == 0] = np.float32(1e-6)  # inside atol, infinitely far relatively
    result = validate_output(a, e)
    diff = np.abs(a.astype(np.float64) - e)
    nonzero = e != 0
    assert result.passed
    assert result.max_rel_diff == pytest.approx((diff[nonzero] / e[nonzero]).max(), rel=1e-6)
    assert result.max_diff == pytest.approx(diff.max(), rel=1e-6)


def test_relative_difference_beyond_float32_range_is_exact():
    e = np.ones(1000, np.float32)
    e[700] = np.float32(2.0**-149)  # the smallest subnormal: 1e-6 / it overflows float32
    a = e.copy()
    a[700] = np.float32(1e-6)
    result = validate_output(a, e)
    assert result.passed
    assert result.max_rel_diff == (float(a[700]) - 2.0**-149) / 2.0**-149


def test_float32_screen_never_passes_what_float64_fails():
    """fl32(1e-3) > 1e-3: a difference between the two passes a naive float32 check."""
    e = np.full(4, 2.0**-40, np.float32)
    a = np.full(4, 1e-3, np.float32)
    exact = float(a[0]) - float(e[0])
    assert 1e-3 < exact < float(np.float32(1e-3))
    # atol swallows e here (a vacuous check by design): the guard is tested in test_guards.py
    result = validate_output(a, e, tolerance=ToleranceConfig(atol=1e-3, rtol=0.0), vacuous="off")
    assert result.mismatch.mismatched == 4
    assert validate_output(a, e, tolerance=ToleranceConfig(atol=exact, rtol=0.0),
                           vacuous="off").passed


def test_empty_and_zero_dimensional_arrays():
    empty = np.zeros((0, 4), np.float32)
    result = validate_output(empty, empty)
    assert result.passed and result.max_diff is None and result.shape == [0, 4]
    bad = validate_output(np.float64(2.0), np.float64(1.0))
    assert kinds(bad) == ["ToleranceExceeded"]
    assert bad.mismatch.max_abs_index == [] and bad.mismatch.max_abs_diff == 1.0


# -- shape and dtype stages -------------------------------------------------------------


def test_shape_mismatch_names_both_shapes_and_stops():
    a = np.full((4, 3), np.nan, np.float32)
    result = validate_output(a, np.zeros((3, 4), np.float64), invariants=["finite"])
    assert kinds(result) == ["ShapeMismatch"]
    (failure,) = result.failures
    assert "actual [4, 3] vs expected [3, 4]" in failure.message
    assert (failure.actual, failure.expected) == ("[4, 3]", "[3, 4]")
    assert result.max_diff is None and result.mismatch is None


def test_dtype_mismatch_names_both_and_still_compares_values():
    e = np.linspace(-1, 1, 64)
    same = validate_output(e.astype(np.float32), e)
    assert kinds(same) == ["DtypeMismatch"]
    assert "actual is float32 but expected is float64" in same.failures[0].message
    assert (same.failures[0].actual, same.failures[0].expected) == ("Float32", "Float64")
    off = validate_output((e + 0.5).astype(np.float32), e)
    assert kinds(off) == ["DtypeMismatch", "ToleranceExceeded"]


def test_default_tolerance_is_the_looser_of_two_dtypes():
    e = np.linspace(1, 2, 16, dtype=np.float32)
    result = validate_output(e.astype(np.float16), e)
    assert (result.atol, result.rtol) == (1e-2, 1e-2)
    assert kinds(result) == ["DtypeMismatch"]  # float16 rounding is within float16's default


# -- the tolerance stage ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_tolerance_boundary_is_inclusive(dtype):
    tol = ToleranceConfig(atol=0.25, rtol=0.5)  # |e| = 2 -> allowed 1.25, all exact binary
    sign = np.array([1, -1, 1, -1, 1])  # both signs: no constant output passes
    e = (2.0 * sign).astype(dtype)
    at_edge = (3.25 * sign).astype(dtype)
    assert validate_output(at_edge, e, tolerance=tol).passed
    beyond = at_edge.copy()
    beyond[3] = np.nextafter(at_edge[3], np.array(-4, dtype))
    result = validate_output(beyond, e, tolerance=tol)
    assert kinds(result) == ["ToleranceExceeded"]
    assert result.mismatch.max_abs_index == [3] and result.mismatch.mismatched == 1


def test_tolerance_message_reads_like_the_design():
    e = rng(3).standard_normal((64, 64)).astype(np.float32)
    a = e.copy()
    a[3, 17] += np.float32(0.5)
    a[10:20, 0] *= np.float32(1.01)
    result = validate_output(a, e)
    (failure,) = result.failures
    assert failure.kind == FailureKind.ToleranceExceeded
    assert failure.message.startswith(
        "11 of 4096 elements (0.27%) exceed atol=1e-05 + rtol=1e-05*|expected|; "
        "max abs diff 5.00e-01 at [3, 17] (actual ")
    assert f"(actual {a[3, 17]!s}, expected {e[3, 17]!s})" in failure.message
    assert ", max rel diff " in failure.message
    assert (failure.count, failure.index) == (11, [3, 17])


def test_mismatch_report_matches_an_independent_numpy_computation():
    e = rng(4).standard_normal((129, 257)).astype(np.float32)
    e[::7, ::5] = 0.0  # zeros: no relative difference there
    a = (e + rng(5).standard_normal(e.shape).astype(np.float32) * 1e-4).astype(np.float32)
    tol = ToleranceConfig(1e-4, 1e-3)
    result = validate_output(a, e, tolerance=tol)
    diff, bad = numpy_verdict(a, e, tol)
    e64 = e.astype(np.float64)
    rel = np.where(bad & (e64 != 0), diff / np.where(e64 == 0, 1, np.abs(e64)), -1)
    worst = np.unravel_index(np.argmax(np.where(bad, diff, -1)), e.shape)
    worst_rel = np.unravel_index(np.argmax(rel), e.shape)
    report = result.mismatch
    assert report.mismatched == bad.sum() and report.total == e.size
    assert report.percent == pytest.approx(100 * bad.sum() / e.size)
    assert report.max_abs_index == list(worst) and report.max_abs_diff == diff[worst]
    assert report.max_rel_index == list(worst_rel) and report.max_rel_diff == rel[worst_rel]
    assert (report.actual_at_max, report.expected_at_max) == (a[worst], e[worst])
    assert (report.atol, report.rtol) == (1e-4, 1e-3)
    assert result.max_diff == diff.max()
    all_rel = diff[e64 != 0] / np.abs(e64[e64 != 0])
    assert result.max_rel_diff == pytest.approx(all_rel.max(), rel=1e-12)


def test_relative_difference_skips_zero_expected():
    e = np.zeros(10, np.float32)
    a = np.full(10, 1e-6, np.float32)
    result = validate_output(a, e, vacuous="off")  # zeros pass too: vacuous by design
    assert result.passed and result.max_rel_diff is None
    assert result.max_diff == pytest.approx(1e-6)
    failing = validate_output(a * 100, e)
    assert failing.mismatch.max_rel_diff is None and failing.mismatch.max_rel_index == []
    assert "no relative diff (expected is 0 or non-finite at every mismatch)" in (
        failing.failures[0].message)


# -- NaN and Inf parity -----------------------------------------------------------------


def test_nan_facing_nan_and_equal_infs_are_matches():
    e = np.array([[1.0, np.nan], [np.inf, -np.inf]], np.float32)
    result = validate_output(e.copy(), e)
    assert result.passed and result.max_diff == 0.0


def test_nan_where_expected_is_finite_is_nan_detected_with_count_and_first_index():
    e = np.arange(12, dtype=np.float32).reshape(3, 4)
    a = e.copy()
    a[2, 1] = a[1, 3] = np.nan
    result = validate_output(a, e)
    assert kinds(result) == ["NaNDetected"]
    (failure,) = result.failures
    assert (failure.count, failure.index) == (2, [1, 3])
    assert "actual has NaN at 2 of 12 positions where expected does not, first at [1, 3]" in (
        failure.message)
    assert math.isnan(result.max_diff)  # a NaN difference ranks highest
    assert msgspec.json.decode(msgspec.json.encode(result))["max_diff"] is None


def test_nan_lost_by_the_op_is_a_tolerance_mismatch():
    e = np.array([1.0, np.nan, 3.0])
    a = np.array([1.0, 2.0, 3.0])
    result = validate_output(a, e)
    assert kinds(result) == ["ToleranceExceeded"]
    assert result.mismatch.max_abs_index == [1] and math.isnan(result.mismatch.max_abs_diff)


def test_check_nan_off_turns_unexpected_nan_into_tolerance_mismatches():
    e = np.arange(1, 9, dtype=np.float32)
    a = e.copy()
    a[5] = np.nan
    result = validate_output(a, e, check_nan=False)
    assert kinds(result) == ["ToleranceExceeded"]
    assert result.mismatch.mismatched == 1 and result.mismatch.max_abs_index == [5]


@pytest.mark.parametrize("actual, expected", [(-np.inf, np.inf), (np.inf, 5.0), (np.inf, np.nan)])
def test_unexpected_inf_is_inf_detected(actual, expected):
    e = np.array([0.5, expected, 0.5])
    a = np.array([0.5, actual, 0.5])
    result = validate_output(a, e)
    assert kinds(result) == ["InfDetected"]
    assert result.failures[0].index == [1] and result.failures[0].count == 1
    assert "where expected does not have the same Inf, first at [1]" in result.failures[0].message
    off = validate_output(a, e, check_inf=False)
    assert kinds(off) == ["ToleranceExceeded"]


def test_inf_expected_but_finite_actual_fails_even_with_rtol():
    e = np.array([np.inf, -np.inf], np.float32)
    a = np.array([1.0, -np.inf], np.float32)
    result = validate_output(a, e, tolerance=ToleranceConfig(1.0, 1.0))
    assert kinds(result) == ["ToleranceExceeded"]
    assert result.mismatch.max_abs_index == [0]


def test_nan_in_actual_where_expected_is_inf():
    result = validate_output(np.array([np.nan]), np.array([np.inf]))
    assert kinds(result) == ["NaNDetected"]


# -- integers and bool: exact -----------------------------------------------------------


def test_int64_values_above_2_53_are_not_merged():
    e = np.array([2**53, -(2**62), 7], np.int64)
    a = e.copy()
    a[0] += 1
    assert float(a[0]) == float(e[0])  # a float64 comparison would call these equal
    result = validate_output(a, e)
    assert kinds(result) == ["ToleranceExceeded"]
    assert "differ (exact comparison)" in result.failures[0].message
    assert "(actual 9007199254740993, expected 9007199254740992)" in result.failures[0].message
    assert result.mismatch.max_abs_diff == 1.0 and result.mismatch.max_abs_index == [0]


def test_uint64_extremes_and_mixed_signedness_compare_exactly():
    top = np.array([2**64 - 1, 2**63], np.uint64)
    assert validate_output(top, top.copy()).passed
    near = top - np.uint64(1)
    result = validate_output(near, top)
    assert result.mismatch.mismatched == 2 and result.max_diff == 1.0
    signed = np.array([-1, 2**62], np.int64)
    mixed = validate_output(signed, np.array([2**64 - 1, 2**62], np.uint64))
    assert kinds(mixed) == ["DtypeMismatch", "ToleranceExceeded"]
    assert mixed.mismatch.mismatched == 1 and mixed.max_diff == float(2**64)
    extreme = validate_output(np.array([-(2**63)], np.int64), np.array([2**63 - 1], np.int64))
    assert extreme.max_diff == float(2**64 - 1)


def test_integer_tolerance_can_be_overridden():
    e = np.array([10, 20, 30], np.int32)
    one = ToleranceConfig(atol=1.0, rtol=0.0)
    assert validate_output(e + 1, e, tolerance=one).passed
    result = validate_output(e + np.array([1, 2, 1], np.int32), e, tolerance=one)
    assert result.mismatch.mismatched == 1 and result.mismatch.max_abs_index == [1]


def test_bool_compares_exactly():
    e = np.array([[True, False], [False, True]])
    a = e.copy()
    a[1, 0] = True
    result = validate_output(a, e)
    assert kinds(result) == ["ToleranceExceeded"]
    assert result.mismatch.max_abs_index == [1, 0] and result.max_diff == 1.0


# -- layouts and chunking ---------------------------------------------------------------


def layouts(x: np.ndarray):
    """The same values as a transposed view and as a strided view."""
    t = np.ascontiguousarray(x.T).T
    wide = np.zeros((x.shape[0], x.shape[1] * 2), x.dtype)
    wide[:, ::2] = x
    return {"transposed": t, "strided": wide[:, ::2]}


@pytest.mark.parametrize("dtype", [DType.Float32, DType.BFloat16, DType.Float64, DType.Int64])
def test_non_contiguous_inputs_give_the_contiguous_verdict(dtype):
    e = sample(dtype, (300, 257), seed=6)
    a = e.copy()
    a[299, 3] = a[299, 3] + (50 if dtype.is_float else 1)
    a[17, 200] = a[17, 200] - (10 if dtype.is_float else 1)
    want = validate_output(a, e)
    for name, view in layouts(a).items():
        assert not view.flags.c_contiguous, name
        for got in (validate_output(view, e), validate_output(view, layouts(e)[name])):
            assert got.failures == want.failures, name
            assert got.mismatch == want.mismatch and got.max_diff == want.max_diff


def test_worst_element_in_the_last_chunk_of_a_multi_chunk_array():
    rows = (3 * CHUNK + 4321) // 128
    e = rng(7).standard_normal((rows, 128)).astype(np.float32)
    a = e.copy()
    a[-1, -2] += np.float32(3.0)  # the worst, in the last (partial) chunk
    a[0, 0] += np.float32(1.0)  # an earlier, smaller one in the first chunk
    a[rows // 2, 64] = np.nan
    result = validate_output(a, e)
    assert kinds(result) == ["ToleranceExceeded", "NaNDetected"]
    assert result.mismatch.mismatched == 2
    assert result.mismatch.max_abs_index == [rows - 1, 126]
    assert result.failures[1].index == [rows // 2, 64]
    ints = np.arange(rows * 128, dtype=np.int64).reshape(rows, 128)
    bumped = ints.copy()
    bumped[-1, -1] += 2**40
    assert validate_output(bumped, ints).mismatch.max_abs_index == [rows - 1, 127]


def test_ties_report_the_first_element_in_c_order_across_chunks():
    e = np.zeros(3 * CHUNK, np.float32)
    a = e.copy()
    a[[10, CHUNK + 7, 2 * CHUNK + 10]] = np.float32(0.5)
    for actual in (a, np.ascontiguousarray(a[::-1])[::-1]):
        result = validate_output(actual, e)
        assert result.mismatch.max_abs_index == [10] and result.failures[0].index == [10]


def test_large_float32_array_sanity():
    """The benchmark's shape of work (many chunks, float32 screen) checked for correctness."""
    e = rng(8).standard_normal(1 << 22).astype(np.float32)
    a = (e * np.float32(1 + 2e-6)).astype(np.float32)
    ok = validate_output(a, e)
    assert ok.passed and ok.max_diff == pytest.approx(
        np.abs(a.astype(np.float64) - e).max(), rel=1e-6)
    a[3_000_001] += np.float32(1e-3)
    bad = validate_output(a, e)
    assert bad.mismatch.mismatched == 1 and bad.mismatch.max_abs_index == [3_000_001]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=hnp.arrays(np.float32, st.integers(1, 3000),
                    elements=st.floats(-4, 4, width=32)),
    atol_exp=st.integers(-30, 0),
    rtol_exp=st.integers(-30, -1),
    noise=st.integers(0, 2**32 - 1),
)
def test_float32_screen_agrees_with_float64_rule(data, atol_exp, rtol_exp, noise):
    """Borderline elements: the float32 fast path must never disagree with float64."""
    tol = ToleranceConfig(2.0**atol_exp, 2.0**rtol_exp)
    g = rng(noise)
    allowed = (tol.atol + tol.rtol * np.abs(data.astype(np.float64)))
    scale = g.choice([0.999999, 1.0, 1.000001, 0.5, 2.0], data.shape)
    actual = (data + allowed * scale * g.choice([-1, 1], data.shape)).astype(np.float32)
    _, bad = numpy_verdict(actual, data, tol)
    result = validate_output(actual, data, tolerance=tol)
    assert (result.mismatch.mismatched if result.mismatch else 0) == bad.sum()


# -- the property of DESIGN.md ----------------------------------------------------------


def finite_arrays(dtype: DType):
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, max_side=6)
    if dtype is DType.BFloat16:
        base = hnp.arrays(np.float32, shapes, elements=st.floats(-(2.0**127), 2.0**127, width=32))
        return base.map(lambda x: x.astype(ml_dtypes.bfloat16)).filter(
            lambda x: np.isfinite(x).all())
    return hnp.arrays(dtype.numpy, shapes,
                      elements={"allow_nan": False, "allow_infinity": False} if dtype.is_float
                      else None)


def perturbed(x: np.ndarray, i: int) -> np.ndarray:
    """``x`` with element ``i`` (C order) moved beyond any default tolerance."""
    y = x.copy()
    flat = y.reshape(-1)
    v = flat[i]
    if x.dtype == np.bool_:
        flat[i] = not v
    elif x.dtype.kind in "iu":
        flat[i] = v - 1 if v == np.iinfo(x.dtype).max else v + 1
    else:
        flat[i] = -v if abs(float(v)) >= 1 else v + x.dtype.type(2)
    return y


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dtype=st.sampled_from(list(DType)), data=st.data())
def test_identity_passes_and_one_perturbed_element_is_reported(dtype, data):
    x = data.draw(finite_arrays(dtype))
    assert validate_output(x, x, vacuous="off").passed  # any array, all-zero ones included
    if x.size == 0:
        return
    i = data.draw(st.integers(0, x.size - 1))
    result = validate_output(perturbed(x, i), x, vacuous="off")
    assert kinds(result) == ["ToleranceExceeded"]
    want = [int(k) for k in np.unravel_index(i, x.shape)]
    assert result.mismatch.mismatched == 1 and result.mismatch.max_abs_index == want
    assert result.failures[0].index == want


# -- invariants through the pipeline and misuse -----------------------------------------


def test_invariants_run_after_the_value_stages():
    e = np.array([[0.5, -0.25]], np.float32)
    result = validate_output(e.copy(), e, invariants=["non_negative", "normalized"])
    assert kinds(result) == ["InvariantViolation", "InvariantViolation"]
    assert [f.invariant for f in result.failures] == ["non_negative", "normalized"]


def test_finite_invariant_overrides_nan_parity():
    e = np.array([1.0, np.nan], np.float32)
    assert validate_output(e.copy(), e).passed
    result = validate_output(e.copy(), e, invariants=["finite"])
    assert kinds(result) == ["InvariantViolation"] and result.failures[0].invariant == "finite"


def test_unknown_invariant_is_rejected_before_any_work():
    with pytest.raises(InvalidRequest, match=r"unknown invariant 'positive'; known invariants "
                                             r"are shape_preserved, non_negative"):
        validate_output(np.ones(2), np.ones(3), invariants=["finite", "positive"])
    assert set(INVARIANTS) == {"shape_preserved", "non_negative", "finite", "symmetric",
                               "normalized"}


def test_invalid_tolerance_and_dtype_are_rejected():
    with pytest.raises(ValueError, match=r"tolerance: atol and rtol must be finite and >= 0, "
                                         r"got atol=-1.0"):
        validate_output(np.ones(2), np.ones(2), tolerance=ToleranceConfig(-1.0, 0.0))
    with pytest.raises(InvalidRequest, match=r"actual: numpy dtype complex128 has no gpuemu DType"):
        validate_output(np.ones(2, complex), np.ones(2))


def test_result_round_trips_through_json_with_non_finite_numbers_as_null():
    e = np.array([1.0, 2.0], np.float32)
    result = validate_output(np.array([np.nan, np.inf], np.float32), e, check_nan=False)
    assert math.isnan(result.max_diff) and math.isnan(result.mismatch.actual_at_max)
    wire = msgspec.json.encode(result)

    def refuse(token):
        raise AssertionError(f"invalid JSON token {token} in {wire!r}")

    plain = json.loads(wire, parse_constant=refuse)
    assert plain["max_diff"] is None and plain["mismatch"]["actual_at_max"] is None
    back = msgspec.json.decode(wire, type=ValidationResult)
    assert back.failures == result.failures and isinstance(back.mismatch, MismatchReport)
