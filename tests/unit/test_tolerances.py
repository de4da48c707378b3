"""Tolerance profiles, the derived recommendations and calibration, on real arrays."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from gpuemu.dtypes import DType, FLOAT_DTYPES
from gpuemu.tolerances import (
    DEFAULT_TOLERANCES,
    ToleranceConfig,
    ToleranceProfile,
    calibrate_tolerance,
    get_recommended_tolerance,
    unit_roundoff,
)
from gpuemu.validate import validate_output

OP_TYPES = ["elementwise", "reduction", "matmul", "softmax"]


def at_least(a: ToleranceConfig, b: ToleranceConfig) -> bool:
    return a.atol >= b.atol and a.rtol >= b.rtol


def test_unit_roundoff_is_half_the_machine_epsilon():
    for d in FLOAT_DTYPES:
        eps = float(ml_dtypes.finfo(d.numpy).eps)
        assert unit_roundoff(d) == eps / 2
    assert unit_roundoff("int64") == 0.0 and unit_roundoff("Bool") == 0.0


def test_looser_takes_the_larger_of_each():
    assert ToleranceConfig(1e-3, 1e-6).looser(ToleranceConfig(1e-5, 1e-4)) == ToleranceConfig(
        1e-3, 1e-4)


def test_profiles():
    testing = ToleranceProfile.for_testing()
    production = ToleranceProfile.for_production()
    cross = ToleranceProfile.for_cross_framework()
    assert testing.name == "testing" and dict(testing.table) == DEFAULT_TOLERANCES
    assert testing.get("float32") == testing.get(DType.Float32) == ToleranceConfig(1e-5, 1e-5)
    for profile in (testing, production, cross):
        assert profile.get("int64").is_exact and profile.get("Bool").is_exact
    for d in FLOAT_DTYPES:
        u = unit_roundoff(d)
        assert at_least(testing.get(d), production.get(d))
        assert production.get(d).atol >= 2 * u and production.get(d).rtol >= 2 * u
        assert at_least(cross.get(d), testing.get(d))
    assert production.get("float32") == ToleranceConfig(pytest.approx(1e-6), pytest.approx(1e-6))
    assert production.get("bfloat16") == ToleranceConfig(2**-7, 2**-7)  # 2u beats 1e-3
    assert cross.get("float32").atol > 10 * testing.get("float32").atol
    with pytest.raises(TypeError):
        testing.table[DType.Float32] = ToleranceConfig(1.0, 1.0)


def test_recommended_never_below_default_and_grows_with_k():
    for d in list(DType):
        for op in OP_TYPES:
            previous = None
            for k in (1, 16, 256, 4096, 65536):
                rec = get_recommended_tolerance(d, op, k)
                assert at_least(rec, ToleranceConfig.for_dtype(d)), (d, op, k)
                if previous is not None:
                    assert at_least(rec, previous), (d, op, k)
                previous = rec
    assert get_recommended_tolerance("float32", "elementwise", 4096) == ToleranceConfig(1e-5, 1e-5)
    small, big = (get_recommended_tolerance("float32", "matmul", k) for k in (64, 4096))
    assert big.atol > small.atol > 1e-5 and big.rtol > small.rtol
    assert get_recommended_tolerance("int32", "matmul", 4096).is_exact


def test_recommended_follows_the_documented_formula():
    u = 2.0**-24
    rec = get_recommended_tolerance("float32", "matmul", 4096)
    assert rec.rtol == pytest.approx(6 * 64 * u + 2 * u)
    assert rec.atol == pytest.approx(6 * 4096 * u)
    softmax = get_recommended_tolerance("float32", "softmax", 4096)
    assert softmax.atol == 1e-5  # positive terms: no cancellation floor
    mixed = get_recommended_tolerance("float16", "matmul", 4096, accumulate="float32")
    assert mixed == ToleranceConfig(1e-2, 1e-2)  # fp32 accumulation stays inside fp16's default
    assert get_recommended_tolerance("float16", "matmul", 4096).atol == pytest.approx(
        6 * 4096 * 2.0**-11)


def test_recommended_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"op_type 'conv' has no error model; use one of "
                                         r"elementwise, reduction, matmul, softmax"):
        get_recommended_tolerance("float32", "conv")
    with pytest.raises(ValueError, match=r"k is the number of summed terms and must be >= 1, "
                                         r"got 0"):
        get_recommended_tolerance("float32", "reduction", 0)
    with pytest.raises(ValueError, match=r"accumulate must be a float dtype, got 'int32'"):
        get_recommended_tolerance("float16", "matmul", 8, accumulate="int32")


def test_recommended_accepts_a_real_float32_matmul_the_default_rejects():
    g = np.random.Generator(np.random.PCG64(0))
    k = 4096
    a = g.standard_normal((64, k)).astype(np.float32)
    b = g.standard_normal((k, 64)).astype(np.float32)
    out = a @ b
    ref = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
    default = validate_output(out, ref)
    assert [str(k) for k in default.failure_kinds] == ["ToleranceExceeded"]
    recommended = validate_output(out, ref,
                                  tolerance=get_recommended_tolerance("float32", "matmul", k))
    assert recommended.passed, recommended.failures


def fp16_exp(x: np.ndarray) -> np.ndarray:
    return np.exp(x)  # computed and rounded in float16 by numpy


def exact_exp(x: np.ndarray) -> np.ndarray:
    return np.exp(x.astype(np.float64))


def test_calibrate_tolerance_on_a_real_float16_op():
    tol = calibrate_tolerance(fp16_exp, exact_exp, [(32, 16)], "float16", n_samples=16, rng=3)
    u = 2.0**-11
    assert u <= tol.rtol <= 4 * 4 * u  # half an ulp or so of observed error, times the margin
    assert tol == calibrate_tolerance(fp16_exp, exact_exp, [(32, 16)], "float16", 16, rng=3)
    fresh = np.random.Generator(np.random.PCG64(99)).standard_normal((64, 64)).astype(np.float16)
    actual, expected = fp16_exp(fresh).astype(np.float64), exact_exp(fresh)  # exact upcast
    assert validate_output(actual, expected, tolerance=tol).passed
    assert not validate_output(actual, expected, tolerance=tol.scale(0.05)).passed


def test_calibrate_tolerance_covers_near_zero_results_with_atol():
    tol = calibrate_tolerance(lambda x: np.sin(x), lambda x: np.sin(x.astype(np.float64)),
                              [(256,)], "float32", rng=np.random.Generator(np.random.PCG64(1)))
    assert tol.rtol >= 2.0**-24 and tol.atol > 0


def test_calibrate_tolerance_rejects_disagreement_it_cannot_absorb():
    with pytest.raises(ValueError, match=r"sample 0: op returned shape \[4\] but the reference "
                                         r"\[2, 2\]"):
        calibrate_tolerance(lambda x: x, lambda x: x.reshape(2, 2), [(4,)], "float32")
    with pytest.raises(ValueError, match=r"sample 0: op and reference disagree on NaN/Inf"):
        calibrate_tolerance(lambda x: np.full_like(x, np.inf), lambda x: x, [(4,)], "float32")
