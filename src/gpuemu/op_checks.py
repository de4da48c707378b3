"""How an op's configuration becomes a check: the tolerance actually applied (scaled for
reductions), the comparison mode and the trivial-output guard.

Every place that judges an op's output -- ValidateOp, fuzz cases, Reproduce, regression
tests, the debug REPL -- goes through ``check_op_output``, so one op gets one verdict
everywhere, and each verdict records the tolerance it applied and where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .config import OpConfig
from .dtypes import DType
from .errors import ConfigError
from .tolerances import (
    OP_TYPE_MODELS, ToleranceConfig, get_recommended_tolerance, reduction_length,
)
from .validate import ValidationResult, validate_output


@dataclass(frozen=True, slots=True)
class AppliedTolerance:
    """The tolerance an op's check applies to one dtype, and its origin in words."""

    tolerance: ToleranceConfig
    source: str


def applied_tolerance(op: OpConfig, dtype: DType | str,
                      input_shapes: Sequence[Sequence[int]] = ()) -> AppliedTolerance:
    """The op's tolerance for ``dtype`` and inputs of ``input_shapes`` (in input order).

    An explicit ``[ops.tolerances]`` entry is applied as written. Otherwise the base is
    ``[validation.tolerances]`` or the dtype default, and an op whose op_type sums terms
    (reduction, softmax, matmul, attention) gets ``get_recommended_tolerance`` over its
    reduction length K (``tolerances.reduction_length``), never tighter than the base.
    """
    dt = DType.parse(dtype)
    if dt in op.tolerances:
        return AppliedTolerance(op.tolerances[dt], f"[ops.tolerances] of op {op.name!r}")
    if dt in op.global_tolerances:
        base, source = op.global_tolerances[dt], "[validation.tolerances]"
    else:
        base, source = ToleranceConfig.for_dtype(dt), f"the {dt.short_name} default"
    model = OP_TYPE_MODELS.get(op.op_type)
    if model is None or not dt.is_float:
        return AppliedTolerance(base, source)
    try:
        k = reduction_length(op.op_type, input_shapes, op.reduce_dims)
    except ValueError as exc:
        raise ConfigError(f"op {op.name!r}: {exc}; fix reduce_dims in its [[ops]] entry") from None
    scaled = get_recommended_tolerance(dt, model, k, floor=base)
    if scaled == base:
        return AppliedTolerance(base, source)
    return AppliedTolerance(scaled, f"{source}, scaled for op_type {op.op_type!r} over K={k} "
                                    "terms (tolerances.get_recommended_tolerance)")


def check_op_output(op: OpConfig, actual: np.ndarray, expected: np.ndarray,
                    inputs: Mapping[str, np.ndarray], seed: int, *,
                    vacuous: str = "warn") -> ValidationResult:
    """Validate ``actual`` against ``expected`` as ``op`` is configured.

    ``vacuous`` is the guard's mode when the op has ``vacuous_guard`` on (the default):
    "warn" for a check that stands alone, "report" for a fuzz case, whose run judges
    impostors over all its cases. The op's ``compare``/``max_ulp`` pick the value rule.
    """
    dtype = DType.from_numpy(np.asarray(actual).dtype, "output.dtype")
    names = [n for n in op.input_names if n in inputs] or list(inputs)
    applied = applied_tolerance(op, dtype, [np.shape(inputs[n]) for n in names])
    result = validate_output(
        actual, expected, op_name=op.name, seed=seed, tolerance=applied.tolerance,
        invariants=op.invariants, inputs=inputs, check_nan=op.check_nan,
        check_inf=op.check_inf, compare=op.compare, max_ulp=op.max_ulp,
        vacuous=vacuous if op.vacuous_guard else "off",
    )
    result.tolerance_source = (applied.source if result.max_ulp is None
                               else f"compare = \"ulp\", max_ulp = {op.max_ulp:g} of op {op.name!r}")
    return result
