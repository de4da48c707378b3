"""The float64 oracle and its float32 witness (gpuemu.oracle)."""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from gpuemu.config import OpConfig, parse_config
from gpuemu.dtypes import DType
from gpuemu.errors import ConfigError, ReferenceScriptFailed
from gpuemu.oracle import judge
from gpuemu.tolerances import ToleranceConfig


def op(**kw) -> OpConfig:
    return OpConfig(name="op", reference=Path("ref.py"), input_names=("x",), **kw)


def rowsum_reference(seen: list):
    def reference(given):
        seen.append(given["x"].dtype)
        return given["x"].sum(axis=-1)
    return reference


def test_the_reference_sees_float64_and_its_output_is_cast_back():
    x = np.linspace(-3, 3, 40, dtype=np.float16).reshape(4, 10)
    seen: list = []
    expected, result = judge(op(), x.astype(np.float32).sum(-1).astype(np.float16), {"x": x}, 1,
                             rowsum_reference(seen))
    assert seen == [np.float64] and expected.dtype == np.float16 and x.dtype == np.float16
    np.testing.assert_array_equal(expected, x.astype(np.float64).sum(-1).astype(np.float16))
    assert result.passed, result.failures


def test_native_oracle_runs_the_reference_on_the_inputs_as_they_are():
    x = np.ones((2, 3), ml_dtypes.bfloat16)
    seen: list = []
    expected, _ = judge(op(oracle="native"), x.sum(-1), {"x": x}, 1, rowsum_reference(seen))
    assert seen == [x.dtype] and expected.dtype == x.dtype


def test_integer_inputs_are_left_alone():
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    seen: list = []
    judge(op(), x.sum(-1), {"x": x}, 1, rowsum_reference(seen))
    assert seen == [np.int32]


def cancelling_rows(k: int = 4096) -> np.ndarray:
    """Rows whose terms cancel exactly: the sum is 0, so every rounding shows."""
    rng = np.random.default_rng(0)
    v = rng.standard_normal((8, k // 2)) * 10
    return rng.permuted(np.concatenate([v, -v], axis=1), axis=1).astype(np.float32)


def sequential(x: np.ndarray, acc) -> np.ndarray:
    total = np.zeros(x.shape[:-1], acc)
    for j in range(x.shape[-1]):
        total = (total.astype(np.float32) + x[..., j]).astype(acc)
    return total.astype(x.dtype)


def test_a_correct_float32_sum_in_another_order_passes_through_the_witness():
    x = cancelling_rows()
    actual = sequential(x, np.float32)
    _, result = judge(op(), actual, {"x": x}, 1, lambda g: g["x"].sum(axis=-1))
    assert result.passed, result.failures
    assert result.max_diff > 1e-4 and "float32 witness" in (result.tolerance_source or "")


def test_a_bfloat16_accumulator_still_fails_with_the_witness():
    x = cancelling_rows()
    _, result = judge(op(), sequential(x, ml_dtypes.bfloat16), {"x": x}, 1, lambda g: g["x"].sum(axis=-1))
    assert not result.passed and "ToleranceExceeded" in result.failure_kinds


def test_a_reference_that_cannot_run_in_float32_leaves_the_verdict_alone():
    x = cancelling_rows()

    def reference(given):
        if given["x"].dtype == np.float32:
            raise ReferenceScriptFailed("float64 only")
        return given["x"].sum(axis=-1)

    _, result = judge(op(), sequential(x, ml_dtypes.bfloat16), {"x": x}, 1, reference)
    assert not result.passed


def test_an_explicit_tolerance_is_not_widened_and_a_one_ulp_miss_says_so():
    x = np.array([[1.0, 2.0, 3.0]], np.float16)
    strict = op(tolerances={DType.Float16: ToleranceConfig(0.0, 0.0)})
    actual = np.nextafter(x.astype(np.float64).sum(-1).astype(np.float16), np.float16(100))
    _, result = judge(strict, actual, {"x": x}, 1, lambda g: g["x"].sum(axis=-1))
    assert not result.passed
    assert "within one float16 ULP" in result.failures[0].message


def test_oracle_key_is_parsed_and_a_bad_value_rejected(tmp_path):
    (tmp_path / "ref.py").write_text("")
    head = '[[ops]]\nname = "a"\nreference = "ref.py"\ninput_names = ["x"]\n'
    assert parse_config(head + 'oracle = "native"\n', tmp_path / "gpuemu.toml").op("a").oracle == "native"
    assert parse_config(head, tmp_path / "gpuemu.toml").op("a").oracle == "float64"
    with pytest.raises(ConfigError, match="oracle"):
        parse_config(head + 'oracle = "float128"\n', tmp_path / "gpuemu.toml")
