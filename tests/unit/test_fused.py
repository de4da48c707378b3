"""The fused C compare (gpuemu._cmpfast via validate.fused) gives the numpy path's
verdicts: same failures, counts, first indices and worst elements, on random data with
NaN, Inf, signed zeros and subnormals, in every float dtype, across blocks and spans."""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuemu.tolerances import ToleranceConfig
from gpuemu.validate import fused, validate_output

pytestmark = pytest.mark.skipif(fused._cmpfast is None, reason="gpuemu._cmpfast is not built"
                                " (python setup.py build_ext --inplace)")

DTYPES = [np.float16, ml_dtypes.bfloat16, np.float32, np.float64]
TOLERANCES = [(1e-5, 1e-5), (1e-2, 0.0), (0.0, 0.0), (1e-3, 1e-3), (2.0**-110, 0.5),
              (1e-8, 2.0), (1e30, 0.0)]
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-42, -3e-310, 6e-8, 1e38, 7e4]


def case(seed: int, dtype, n: int) -> tuple[np.ndarray, np.ndarray]:
    """expected, and an actual near it with some elements far off, NaN, Inf, subnormal,
    some of them facing the same special in expected (parity)."""
    g = np.random.default_rng(seed)
    with np.errstate(all="ignore"):  # values beyond float16's range become Inf: wanted
        return _case(g, dtype, n)


def _case(g: np.random.Generator, dtype, n: int) -> tuple[np.ndarray, np.ndarray]:
    e = (g.standard_normal(n) * 10.0 ** g.integers(-6, 6)).astype(dtype)
    a = (e.astype(np.float64) * (1 + g.standard_normal(n) * 10.0 ** -g.integers(2, 9))
         ).astype(dtype)
    for arr in (a, e):
        at = g.integers(0, n, g.integers(0, 1 + n // 50))
        arr[at] = np.array(g.choice(SPECIALS, at.size)).astype(dtype)
    both = g.integers(0, n, g.integers(0, 4))
    a[both] = e[both]
    far = g.integers(0, n, g.integers(0, 4))
    a[far] = (e[far].astype(np.float64) + 10.0 ** g.integers(-3, 3)).astype(dtype)
    return a, e


def both_paths(a, e, **kw):
    fast = validate_output(a, e, **kw)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused, "enabled", False)
        return fast, validate_output(a, e, **kw)


def greatest_abs(a: np.ndarray, e: np.ndarray) -> float | None:
    """max |a - e| in float64 over all elements but parity matches (NaN ranks highest)."""
    a, e = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(all="ignore"):
        parity = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
        d = np.abs(a - e)[~parity]
    if not d.size:
        return None
    return math.nan if np.isnan(d).any() else float(d.max())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(DTYPES),
       n=st.integers(1, 3000), tol=st.sampled_from(TOLERANCES),
       check_nan=st.booleans(), check_inf=st.booleans())
def test_fused_pass_gives_the_numpy_verdict(seed, dtype, n, tol, check_nan,
                                            check_inf):
    a, e = case(seed, dtype, n)
    assert fused.applies(a, e, ulp_mode=False, exact=False)
    kw = dict(tolerance=ToleranceConfig(*tol), check_nan=check_nan, check_inf=check_inf)
    fast, slow = both_paths(a, e, **kw)
    assert fast.passed == slow.passed
    assert fast.failures == slow.failures
    # worst abs/rel/ULP elements, counts, histogram (repr: NaN == NaN)
    assert repr(fast.mismatch) == repr(slow.mismatch)
    assert fast.impostors == slow.impostors
    want = greatest_abs(a, e)
    # the numpy path ranks screened elements in float32, so on a float32 tie it may
    # name another element of the same rounded size; the C pass ranks in float64
    assert fast.max_diff == want or (math.isnan(want) and math.isnan(fast.max_diff))
    if repr(fast.max_rel_diff) != repr(slow.max_rel_diff):
        assert fast.max_rel_diff == pytest.approx(slow.max_rel_diff, rel=2**-20)


@pytest.mark.parametrize("threads", [1, 4])
def test_tallies_merge_across_spans_as_within_one(monkeypatch, threads):
    """Spans compared one after another or at once (threads) merge to the one-pass verdict;
    equally bad elements in different spans report the first, as one pass does."""
    a, e = case(7, np.float32, 10_000)
    a[[17, 5_000, 9_999]] = [np.nan, np.inf, 1e6]
    a[[2_500, 7_500]] = e[[2_500, 7_500]] + np.float32(3e5)  # a tie across spans
    whole = validate_output(a, e)
    monkeypatch.setattr(fused, "SPAN", 1_000)
    monkeypatch.setattr(fused, "MAX_THREADS", threads)
    split = validate_output(a, e)
    def verdict(r):
        return repr((r.failures, r.mismatch, r.max_diff, r.max_rel_diff))

    assert verdict(split) == verdict(whole) and whole.mismatch.mismatched > 3


@pytest.mark.parametrize("actual, expected", [
    (np.arange(4, dtype=np.int64) + 2**60, np.arange(4, dtype=np.int64) + 2**60 + 1),
    (np.zeros((8, 8), np.float32).T[::2], np.zeros((4, 8), np.float32)),  # strided
    (np.zeros(8, np.float32), np.zeros(8, np.float64)),  # mixed dtypes
])
def test_integers_strided_and_mixed_dtypes_take_the_numpy_path(actual, expected):
    assert not fused.applies(actual, expected, ulp_mode=False,
                             exact=actual.dtype.kind in "iu")
    if actual.dtype.kind in "iu":  # exact beyond 2^53: 2^60 and 2^60 + 1 differ
        assert validate_output(actual, expected, tolerance=ToleranceConfig(0, 0)
                               ).mismatch.mismatched == 4


def test_ulp_mode_takes_the_numpy_path():
    a = np.ones(4, np.float32)
    assert not fused.applies(a, a, ulp_mode=True, exact=False)


@pytest.mark.parametrize("dtype, scale", [(np.float32, 1e-30), (np.float32, 1e-37),
                                          (np.float64, 1e-300), (np.float64, 1e-305)])
def test_the_greatest_relative_difference_among_tiny_values_is_found(dtype, scale):
    g = np.random.default_rng(11)
    e = (g.random(5000) * scale + scale).astype(dtype)
    a = (e.astype(np.float64) * (1 + g.random(5000) * 1e-6)).astype(dtype)
    got = validate_output(a, e, tolerance=ToleranceConfig(1.0, 0.0), vacuous="off")
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    rel = np.abs(a64 - e64) / np.abs(e64)
    assert got.passed and got.max_rel_diff == rel.max()
    assert got.max_diff == np.abs(a64 - e64).max()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shift", [0, 1, 8])
def test_a_pass_that_copies_expected_out_tallies_the_same(monkeypatch, dtype, shift):
    """``copy_to`` gets expected's exact bytes (NaN payloads, signed zeros) across blocks
    and spans, at any alignment, and the tallies are those of the pass alone."""
    monkeypatch.setattr(fused, "SPAN", 3_000)
    a, e = case(3, dtype, 10_007)
    params = fused.Params(atol=1e-3, rtol=1e-3, screen_f32=False, check_nan=True,
                          check_inf=True)
    room = np.zeros(e.nbytes + shift, np.uint8)
    copied = fused.tally(a, e, params, copy_to=room[shift:])
    assert room[shift:].tobytes() == e.tobytes() and not room[:shift].any()
    assert repr(copied) == repr(fused.tally(a, e, params))
    with pytest.raises(ValueError, match="copy_to holds"):
        fused._cmpfast.compare(a, e, np.dtype(dtype).name, 0.0, 0.0, False, True, True,
                               room[:8])
