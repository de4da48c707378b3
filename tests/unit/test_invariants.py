"""The invariant table: each check's pass, its violation and the numbers it reports."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from gpuemu.errors import InvalidRequest
from gpuemu.tolerances import ToleranceConfig
from gpuemu.validate import INVARIANTS, FailureKind
from gpuemu.validate.invariants import check_invariants, resolve_invariants

F32 = ToleranceConfig.for_dtype("float32")


def check(name, actual, tol=F32, inputs=None):
    return INVARIANTS[name](np.asarray(actual), inputs or {}, tol)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def assert_violation(failure, name):
    assert failure is not None
    assert failure.kind == FailureKind.InvariantViolation and failure.invariant == name
    assert failure.message.startswith(f"invariant {name!r}: ")


def test_table_names_and_resolution():
    assert list(INVARIANTS) == ["shape_preserved", "non_negative", "finite", "symmetric",
                                "normalized"]
    assert [n for n, _ in resolve_invariants(["finite", "finite", "symmetric"])] == [
        "finite", "symmetric"]
    assert [n for n, _ in resolve_invariants("finite")] == ["finite"]
    assert [n for n, _ in resolve_invariants(frozenset({"normalized", "finite"}))] == [
        "finite", "normalized"]
    with pytest.raises(InvalidRequest, match=r"unknown invariant 'sorted'; known invariants are "
                                             r"shape_preserved, non_negative, finite, "
                                             r"symmetric, normalized") as info:
        resolve_invariants(["finite", "sorted"])
    assert isinstance(info.value, ValueError) and info.value.field == "invariants"


def test_check_invariants_collects_violations_in_order():
    x = np.array([[-1.0, np.nan], [-1.0, 0.5]])
    failures = check_invariants(resolve_invariants(["normalized", "finite", "non_negative"]),
                                x, {}, F32)
    assert [f.invariant for f in failures] == ["normalized", "finite", "non_negative"]


def test_shape_preserved_compares_with_the_first_input():
    out = np.zeros((4, 8))
    assert check("shape_preserved", out, inputs={"x": np.ones((4, 8)), "w": np.ones(3)}) is None
    failure = check("shape_preserved", out, inputs={"w": np.ones((8, 4)), "x": np.ones((4, 8))})
    assert_violation(failure, "shape_preserved")
    assert "output shape [4, 8] differs from input 'w' shape [8, 4]" in failure.message
    assert (failure.actual, failure.expected) == ("[4, 8]", "[8, 4]")
    with pytest.raises(InvalidRequest, match=r"'shape_preserved' .* no inputs were given; pass "
                                             r"inputs="):
        check("shape_preserved", out)


def test_non_negative_counts_and_points_at_the_first_negative():
    assert check("non_negative", np.array([0.0, 3.0, np.nan])) is None  # NaN is not negative
    assert check("non_negative", np.array([0, 7], np.uint8)) is None
    x = np.zeros((3, 4), np.float32)
    x[2, 0], x[1, 2] = -1.0, -0.25
    failure = check("non_negative", x)
    assert_violation(failure, "non_negative")
    assert (failure.count, failure.index) == (2, [1, 2])
    assert "2 of 12 elements are negative, first at [1, 2] (value -0.25)" in failure.message
    bf = check("non_negative", np.array([1, -2], ml_dtypes.bfloat16))
    assert bf.index == [1]


def test_finite_reports_nan_and_inf_counts():
    assert check("finite", np.arange(5)) is None
    x = np.array([[1.0, np.inf], [np.nan, np.nan]], np.float16)
    failure = check("finite", x)
    assert_violation(failure, "finite")
    assert (failure.count, failure.index) == (3, [0, 1])
    assert "3 of 4 elements are not finite (2 NaN, 1 Inf), first at [0, 1] (value inf)" in (
        failure.message)


def test_symmetric_within_tolerance_and_batched():
    a = np.random.default_rng(0).standard_normal((3, 5, 5))
    sym = a + np.swapaxes(a, -1, -2)
    assert check("symmetric", sym, ToleranceConfig(1e-10, 1e-10)) is None
    nudged = sym.copy()
    nudged[1, 0, 2] += 1e-12  # inside 1e-10 + 1e-10*|x|
    assert check("symmetric", nudged, ToleranceConfig(1e-10, 1e-10)) is None
    nudged[2, 4, 1] += 1e-3
    failure = check("symmetric", nudged, ToleranceConfig(1e-10, 1e-10))
    assert_violation(failure, "symmetric")
    assert failure.count == 2 and failure.index == [2, 1, 4]  # both (1,4) and (4,1) differ
    assert "first at [2, 1, 4]" in failure.message and "but [2, 4, 1] is" in failure.message


def test_symmetric_handles_nan_and_integers_and_rejects_non_square():
    m = np.array([[1.0, np.nan], [np.nan, 2.0]])
    assert check("symmetric", m) is None
    ints = np.array([[2**60, 1], [1, 0]], np.int64)
    assert check("symmetric", ints, ToleranceConfig(0.0, 0.0)) is None
    ints[0, 1] += 1
    assert check("symmetric", ints, ToleranceConfig(0.0, 0.0)).count == 2
    for shape in [(3, 4), (5,)]:
        failure = check("symmetric", np.zeros(shape))
        assert_violation(failure, "symmetric")
        assert f"needs square matrices in the last two dims, got shape {list(shape)}" in (
            failure.message)


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16, np.float32, np.float64])
def test_normalized_accepts_softmax_rows_at_their_dtype_tolerance(dtype):
    x = np.random.default_rng(1).standard_normal((6, 4, 1000))
    out = softmax(x).astype(dtype)
    assert check("normalized", out, ToleranceConfig.for_dtype(str(np.dtype(dtype)))) is None


def test_normalized_bound_is_n_atol_plus_rtol_sum_abs():
    tol = ToleranceConfig(atol=1e-4, rtol=1e-3)
    n = 50
    row = np.full((2, n), 1.0 / n)
    allowed = n * tol.atol + tol.rtol * 1.0
    inside = row.copy()
    inside[0] += 0.99 * allowed / n
    assert check("normalized", inside, tol) is None
    outside = row.copy()
    outside[1] += 1.01 * allowed / n
    failure = check("normalized", outside, tol)
    assert_violation(failure, "normalized")
    assert (failure.count, failure.index) == (1, [1])
    assert "1 of 2 rows (length 50 along the last axis) do not sum to 1" in failure.message


def test_normalized_leaves_nan_and_inf_rows_to_the_nan_and_inf_stages():
    out = np.array([[0.25, 0.75], [np.nan, np.nan], [np.inf, 0.0], [0.5, 0.4]])
    failure = check("normalized", out, ToleranceConfig(1e-6, 0.0))
    assert (failure.count, failure.index) == (1, [3])  # only the finite row that is off


def test_normalized_edge_shapes():
    assert check("normalized", np.float32(1.0)) is None
    assert check("normalized", np.zeros((0, 3))) is None
    assert check("normalized", np.zeros((2, 0))).count == 2
    one_hot = np.eye(4, dtype=np.int8)
    assert check("normalized", one_hot, ToleranceConfig(0.0, 0.0)) is None
    one_hot[2, 0] = 1
    assert check("normalized", one_hot, ToleranceConfig(0.0, 0.0)).index == [2]
    assert check("normalized", np.array([[0.5, np.nan]])) is None  # the NaN stage judges it
