"""ULP distance and the ULP comparison mode (validate/ulp.py, validate/rule.py, pipeline)."""

from __future__ import annotations

import math

import ml_dtypes
import msgspec
import numpy as np
import pytest

from gpuemu.errors import InvalidRequest
from gpuemu.validate import FailureKind, validate_output
from gpuemu.validate.ulp import is_ulp_dtype, ulp_distance

FORMATS = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64, ml_dtypes.float8_e4m3fn,
           ml_dtypes.float8_e5m2, ml_dtypes.float8_e4m3fnuz, ml_dtypes.float4_e2m1fn]


def step(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` moved ``k`` representable values away from zero (positive x: upwards)."""
    unsigned = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[x.itemsize]
    return (x.view(unsigned) + unsigned(k)).view(x.dtype)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: np.dtype(f).name)
def test_neighbours_are_one_ulp_apart_in_every_format(fmt):
    x = np.array([1.0, -1.0, 0.5, 1.5, -1.5], dtype=fmt)  # 3 steps up stay in float4
    assert ulp_distance(x, step(x, 1)).tolist() == [1.0] * 5
    assert ulp_distance(step(x, 3), x).tolist() == [3.0] * 5  # symmetric
    zero, neg_zero = np.array([0.0], fmt), np.array([-0.0], fmt)
    tiny = step(zero, 1)
    assert ulp_distance(zero, neg_zero).tolist() == [0.0]  # +0 and -0 are one point
    assert ulp_distance(tiny, -tiny).tolist() == [2.0]  # across zero: through 0
    assert is_ulp_dtype(fmt)


def test_float32_distance_matches_counting_nextafter_steps():
    g = np.random.default_rng(0)
    a = g.standard_normal(200).astype(np.float32)
    k = g.integers(0, 40, 200)
    b = a.copy()
    for _ in range(40):
        move = k > 0
        b[move] = np.nextafter(b[move], np.float32(np.inf))
        k -= move
    want = np.array([_count_steps(p, q) for p, q in zip(a, b)])
    assert ulp_distance(a, b).tolist() == want.tolist()


def _count_steps(p: np.float32, q: np.float32) -> int:
    n = 0
    while p != q:
        p = np.nextafter(p, q)
        n += 1
    return n


def test_float64_counts_stay_exact_at_large_magnitudes():
    x = np.array([1e300, 1.0, -1e-300])
    assert ulp_distance(x, np.nextafter(x, np.inf)).tolist() == [1.0, 1.0, 1.0]
    big = ulp_distance(np.array([-np.finfo(np.float64).max]), np.array([np.finfo(np.float64).max]))
    assert big[0] == 2.0 * 0x7FEFFFFFFFFFFFFF


def test_nan_and_inf():
    a = np.array([np.nan, np.nan, 1.0, np.inf, np.finfo(np.float32).max], np.float32)
    b = np.array([np.nan, 1.0, np.nan, np.inf, np.inf], np.float32)
    assert ulp_distance(a, b).tolist() == [0.0, math.inf, math.inf, 0.0, 1.0]


def test_refuses_mixed_or_integer_dtypes():
    with pytest.raises(TypeError, match=r"one float dtype, got float32 and float64"):
        ulp_distance(np.ones(2, np.float32), np.ones(2))
    with pytest.raises(TypeError, match="int32"):
        ulp_distance(np.ones(2, np.int32), np.ones(2, np.int32))
    assert not is_ulp_dtype(np.int32) and not is_ulp_dtype(np.bool_)


# -- the ULP comparison mode ----------------------------------------------------------


def signal(n: int = 256, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(1).standard_normal(n).astype(dtype)


@pytest.mark.parametrize("fmt", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64],
                         ids=lambda f: np.dtype(f).name)
def test_ulp_mode_passes_within_max_ulp_and_fails_beyond(fmt):
    e = signal(dtype=fmt)
    a = step(e, 2)
    ok = validate_output(a, e, compare="ulp", max_ulp=2)
    assert ok.passed and ok.max_ulp == 2 and ok.max_ulp_diff == 2
    assert ok.atol is None and ok.rtol is None  # not applied in ULP mode
    a[7] = step(e[7:8], 3)[0]
    bad = validate_output(a, e, compare="ulp", max_ulp=2)
    assert bad.failure_kinds == [FailureKind.ToleranceExceeded]
    assert bad.mismatch.mismatched == 1 and bad.mismatch.max_ulp_index == [7]
    assert (bad.mismatch.max_ulp_diff, bad.mismatch.max_ulp) == (3.0, 2.0)
    assert f"exceed max_ulp=2 ULPs of {np.dtype(fmt).name}" in bad.failures[0].message
    assert "max 3 ULPs at [7]" in bad.failures[0].message


def test_ulp_mode_is_scale_free_where_atol_is_not():
    """Values near 1e-20 and near 1e20: one ULP each; atol/rtol defaults judge them differently."""
    e = np.array([1e-20, -3e-20, 1e20, -7e20, 1.5, 2.5], np.float32)
    a = step(e, 1)
    assert validate_output(a, e, compare="ulp", max_ulp=1).passed
    assert not validate_output(step(e, 2), e, compare="ulp", max_ulp=1).passed


def test_ulp_mode_keeps_nan_parity_and_inf_checks():
    e = np.array([np.nan, 1.0, np.inf, 2.0], np.float32)
    assert validate_output(e.copy(), e, compare="ulp", max_ulp=0).passed
    a = e.copy()
    a[3] = np.inf  # 2.0 -> inf: the Inf check fails it, whatever the ULP count
    assert validate_output(a, e, compare="ulp", max_ulp=1e30).failure_kinds == [
        FailureKind.InfDetected]


def test_integer_outputs_stay_exact_in_ulp_mode():
    e = np.arange(-8, 8, dtype=np.int32)
    result = validate_output(e + 1, e, compare="ulp", max_ulp=4)
    assert result.failure_kinds == [FailureKind.ToleranceExceeded]
    assert result.max_ulp is None and result.mismatch.ulp_at_max is None


@pytest.mark.parametrize("bad", [None, -1, math.nan, math.inf, True, "2"])
def test_ulp_mode_needs_a_finite_max_ulp(bad):
    with pytest.raises(InvalidRequest, match=r"max_ulp: compare = 'ulp' needs max_ulp"):
        validate_output(signal(), signal(), compare="ulp", max_ulp=bad)


def test_unknown_compare_mode_is_refused():
    with pytest.raises(InvalidRequest, match=r"compare: unknown mode 'ulps'; expected one of "
                                             r"allclose, ulp"):
        validate_output(signal(), signal(), compare="ulps")


def test_every_float_mismatch_report_gives_ulp_distances():
    e = signal(64)
    a = e.copy()
    a[5] = step(e[5:6], 1000)[0]
    a[9] += np.float32(0.5)
    result = validate_output(a, e)  # allclose mode
    report = result.mismatch
    assert report.max_abs_index == [9]
    assert report.ulp_at_max == ulp_distance(a[9:10], e[9:10])[0]
    assert report.max_ulp_diff == max(report.ulp_at_max, 1000.0)
    assert report.max_ulp is None  # not ULP mode: atol/rtol applied
    assert f"{report.ulp_at_max:g} ULPs apart" in result.failures[0].message


def test_ulp_fields_travel_as_json_with_non_finite_as_null():
    e = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    a = e.copy()
    a[1] = np.nan
    result = validate_output(a, e, compare="ulp", max_ulp=1, check_nan=False)
    data = msgspec.json.decode(msgspec.json.encode(result))
    assert data["mismatch"]["ulp_at_max"] is None  # an infinite ULP distance
    assert data["max_ulp"] == 1.0
    old_reader = msgspec.json.decode(msgspec.json.encode(validate_output(e, e, vacuous="off")))
    assert "max_ulp" not in old_reader and "impostors" not in old_reader  # omitted defaults
