"""How an op's configuration becomes a check: the tolerance actually applied (scaled for
reductions), the comparison mode and the trivial-output guard.

Every place that judges an op's output -- ValidateOp, fuzz cases, Reproduce, regression
tests, the debug REPL -- goes through ``check_op_output``, so one op gets one verdict
everywhere, and each verdict records the tolerance it applied and where it came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import msgspec
import numpy as np

from .config import OpConfig
from .dtypes import DType, finfo
from .errors import ConfigError
from .tolerances import (
    OP_TYPE_MODELS, ToleranceConfig, get_recommended_tolerance, reduction_length,
)
from .validate import FailureKind, FailureReason, ValidationResult, fused, validate_output
from .validate.comparison import fused_params


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
                    vacuous: str = "warn", tolerance_dtype: str | None = None,
                    witness: ToleranceConfig | None = None) -> ValidationResult:
    """Validate ``actual`` against ``expected`` as ``op`` is configured.

    ``vacuous`` is the guard's mode when the op has ``vacuous_guard`` on (the default):
    "warn" for a check that stands alone, "report" for a fuzz case, whose run judges
    impostors over all its cases. The op's ``compare``/``max_ulp`` pick the value rule.
    ``tolerance_dtype`` (ValidateOp's ``dtype``) picks the tolerance of another dtype than
    the output's, e.g. an op that computes in float16 and returns float32.
    ``witness`` (gpuemu.oracle) widens a tolerance not set in [ops.tolerances] to what a
    float32 computation legitimately strays from a float64 oracle on this case.
    """
    dtype = _judged_dtype(actual, tolerance_dtype)
    other = DType.from_numpy(np.asarray(expected).dtype, "expected.dtype")
    applied = _tolerance(op, dtype, other, inputs, witness)
    result = validate_output(
        actual, expected, op_name=op.name, seed=seed, tolerance=applied.tolerance,
        invariants=op.invariants, inputs=inputs, check_nan=op.check_nan,
        check_inf=op.check_inf, compare=op.compare, max_ulp=op.max_ulp,
        vacuous=vacuous if op.vacuous_guard else "off",
    )
    result.tolerance_source = (applied.source if result.max_ulp is None
                               else f"compare = \"ulp\", max_ulp = {op.max_ulp:g} of op {op.name!r}")
    result.failures = [_within_dtype(f, result, dtype) for f in result.failures]
    if np.shape(actual) == np.shape(expected) and (  # else a ShapeMismatch says so already
            wrong := schema_output_failure(op, np.shape(actual), inputs)) is not None:
        result.failures.append(wrong)
        result.passed = False
    return result


def _judged_dtype(actual: np.ndarray, tolerance_dtype: str | None) -> DType:
    return (DType.from_numpy(np.asarray(actual).dtype, "output.dtype") if tolerance_dtype is None
            else DType.parse(tolerance_dtype, "dtype"))


def _tolerance(op: OpConfig, dtype: DType, other: DType, inputs: Mapping[str, np.ndarray],
               witness: ToleranceConfig | None) -> AppliedTolerance:
    """The tolerance for an output judged as ``dtype`` against an expected one of ``other``."""
    names = [n for n in op.input_names if n in inputs] or list(inputs)
    shapes = [np.shape(inputs[n]) for n in names]
    applied = applied_tolerance(op, dtype, shapes)
    if other is not dtype and other.is_float and dtype.is_float:
        # A DtypeMismatch fails the case already; the values are judged at the coarser
        # precision, so that the verdict does not also depend on the values' rounding.
        coarse = applied_tolerance(op, other, shapes)
        if coarse.tolerance.looser(applied.tolerance) != applied.tolerance:
            applied = AppliedTolerance(coarse.tolerance.looser(applied.tolerance), coarse.source)
    wide = applied.tolerance if witness is None else applied.tolerance.looser(witness)
    if dtype not in op.tolerances and wide != applied.tolerance:
        applied = AppliedTolerance(wide, f"{applied.source}, widened to atol {wide.atol:.3g}, rtol "
                                         f"{wide.rtol:.3g} by the float32 witness (gpuemu.oracle)")
    return applied


def predicted_pass(op: OpConfig, actual: np.ndarray, inputs: Mapping[str, np.ndarray],
                   tolerance_dtype: str | None = None) -> fused.Params | None:
    """The fused pass ``check_op_output`` will make over ``actual`` when the reference
    returns an output of its dtype and layout (None: it makes none), so that a warm
    worker can make it beside the reference's output (gpuemu.validate.fused)."""
    if op.compare == "ulp" or not fused.applies(actual, actual, ulp_mode=False, exact=False):
        return None
    own = DType.from_numpy(actual.dtype, "output.dtype")
    tol = _tolerance(op, _judged_dtype(actual, tolerance_dtype), own, inputs, None).tolerance
    return fused_params(actual.dtype, actual.dtype, tol, op.check_nan, op.check_inf)


def schema_output_failure(op: OpConfig, shape: Sequence[int],
                          inputs: Mapping[str, np.ndarray]) -> FailureReason | None:
    """A ShapeMismatch when the output's ``shape`` is not what ``[ops.schema] output`` gives
    for these inputs (its dims bound by the inputs' shapes); the reference's shape proves
    nothing when the reference shares the op's mistake. None without a declared output, or
    when the inputs leave a dim unbound (or do not follow the schema)."""
    schema = op.schema
    if schema is None or schema.output is None:
        return None
    sizes = schema.sizes_of({name: np.shape(x) for name, x in inputs.items()})
    if sizes is None or not all(isinstance(r, int) or r in sizes for r in schema.output):
        return None
    want = schema.shape(schema.output, sizes)
    if list(shape) == want:
        return None
    label = f"schema {schema.name!r}" if schema.name else "[ops.schema]"
    spelled = ", ".join(map(str, schema.output))
    return FailureReason(
        kind=FailureKind.ShapeMismatch,
        message=f"shape mismatch: the output is {list(shape)}, but the output of {label} is "
                f"[{spelled}] = {want} for these inputs; return that shape (or fix the schema's"
                f" output in op {op.name!r})",
        expected=str(want), actual=str(list(shape)))


def _within_dtype(failure: FailureReason, result: ValidationResult, dtype: DType) -> FailureReason:
    """A tolerance failure whose worst error is within one ULP of the output dtype says so:
    no output in that dtype could be closer, so the tolerance is what is wrong."""
    m = result.mismatch
    if failure.kind != FailureKind.ToleranceExceeded or m is None or not dtype.is_float:
        return failure
    e = abs(m.expected_at_max)
    info = finfo(dtype.numpy)
    if not math.isfinite(e) or not math.isfinite(m.max_abs_diff):
        return failure
    ulp = max(float(info.smallest_subnormal), 2.0 ** (math.floor(math.log2(e)) - int(info.nmant))
              if e > 0 else 0.0)
    if m.max_abs_diff > ulp:
        return failure
    return msgspec.structs.replace(failure, message=(
        f"{failure.message}; every mismatch is within one {dtype.short_name} ULP of the expected "
        f"value ({ulp:.3g} there), which is all the dtype can represent: the tolerance is "
        f"tighter than {dtype.short_name} allows -- loosen it, or use compare = \"ulp\""))
