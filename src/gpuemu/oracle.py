"""The reference as an oracle: run in float64, judged against with the op's own tolerance.

With ``oracle = "float64"`` (the default) float inputs of 32 bits or fewer are promoted
to float64 for the reference only -- the op under test sees its real dtype -- and the
reference's float64 output is cast back to the inputs' dtype, so ``expected`` is the
true result rounded once. The op is then judged with its dtype's tolerance.

Correct low-precision kernels still differ legitimately from that oracle (summation
order, fused operations, transcendental approximations), more so for long reductions
and ill-conditioned inputs. Before a tolerance failure is final, the reference runs once
more on the inputs in float32 -- the precision a correct kernel computes in -- and the
tolerance widens to ``WITNESS_MARGIN`` times what that witness strays from the oracle
on this very case. That bound follows the reduction length and the conditioning of the
inputs without knowing the op; bugs (wrong element, missing max-subtraction, half
precision accumulation) err by far more.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import numpy as np

from .config import OpConfig
from .dtypes import DType
from .errors import ReferenceScriptFailed
from .op_checks import check_op_output
from .promotion import cast_back, cast_inputs, native_dtype
from .tolerances import ToleranceConfig, observed_tolerance
from .validate import FailureKind, ValidationResult

Reference = Callable[[dict[str, np.ndarray]], np.ndarray]
"""Runs the op's reference (with the case's kwargs) on the given inputs."""

ExpectedOf = Callable[[dict[str, np.ndarray], "np.dtype | None"], np.ndarray]
"""The expected output for the inputs: the reference's output, or with a native dtype,
its output on the inputs promoted to float64, cast back to that dtype (gpuemu.promotion)."""

WITNESS_MARGIN = 16.0
"""How far beyond the float32 witness's error a correct kernel may stray: numpy sums
pairwise, a kernel may sum sequentially or in another tree (about sqrt(K)/log2(K) worse
for K terms, below 6 up to K = 8192), with room for a fused multiply-add or an
approximate exp."""


def judge(op: OpConfig, actual: np.ndarray, inputs: Mapping[str, np.ndarray], seed: int,
          reference: Reference, *, vacuous: str = "report",
          tolerance_dtype: str | None = None, expected_of: ExpectedOf | None = None,
          ) -> tuple[np.ndarray, ValidationResult]:
    """The expected output for ``inputs`` (per ``op.oracle``) and the op's verdict on ``actual``
    (``tolerance_dtype``: see check_op_output). ``expected_of`` makes the expected output
    where it is cheaper than here (gpuemu.engine: in the reference's warm worker); the
    float64 output itself is then asked of ``reference`` only when the float32 witness
    needs it."""
    check = partial(check_op_output, op, actual, seed=seed, vacuous=vacuous,
                    tolerance_dtype=tolerance_dtype)
    native = None if op.oracle == "native" else native_dtype(inputs)
    raw = None
    if expected_of is not None:
        expected = expected_of(dict(inputs), native)
    elif native is None:
        expected = reference(dict(inputs))
    else:
        raw = np.asarray(reference(cast_inputs(inputs, np.float64)))
        expected = cast_back(raw, native)
    result = check(expected, inputs)
    if (native is None or FailureKind.ToleranceExceeded not in result.failure_kinds
            or not np.asarray(actual).dtype.kind == "f"):
        return expected, result
    try:
        witness = np.asarray(reference(cast_inputs(inputs, np.float32)), dtype=np.float64)
        raw = np.asarray(reference(cast_inputs(inputs, np.float64))) if raw is None else raw
    except ReferenceScriptFailed:  # a reference that cannot run in float32 gives no witness
        return expected, result
    if witness.shape != raw.shape:
        return expected, result
    return expected, check(expected, inputs,
                           witness=witness_tolerance(witness, raw, actual.dtype))


def witness_tolerance(witness: np.ndarray, oracle: np.ndarray, dtype) -> ToleranceConfig:
    """``WITNESS_MARGIN`` times how far ``witness`` strays from ``oracle`` where both are finite."""
    oracle = oracle.astype(np.float64)
    finite = np.isfinite(witness) & np.isfinite(oracle)
    err, mag = np.abs(witness - oracle)[finite], np.abs(oracle)[finite]
    return observed_tolerance(err, mag, DType.from_numpy(np.dtype(dtype)), WITNESS_MARGIN)
