"""The validation pipeline: ordered stages reporting into one ValidationResult.

shape -> dtype -> values (tolerance, NaN and Inf in one chunked pass) -> invariants
-> the trivial-output guard (``guards``: would zeros, a constant, NaN or a copy of an
input pass too?).

Values pass when ``|actual - expected| <= atol + rtol*|expected|`` computed in float64,
or, with ``compare="ulp"``, when they are at most ``max_ulp`` ULPs apart on the expected
output's format (``rule``); integers and bool on both sides compare exactly (int64
values above 2^53 stay distinct). NaN parity: NaN facing NaN, or an Inf facing the same
Inf, is a match. Every float mismatch report also gives ULP distances.

The values stage is one pass over both arrays (``comparison``), fast where it matters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

import numpy as np

from ..dtypes import DType
from ..errors import InvalidRequest
from ..tolerances import ToleranceConfig
from .comparison import Comparison
from .guards import VACUOUS_MODES, find_impostors, vacuous_warning
from .invariants import check_invariants, resolve_invariants
from .result import FailureKind, FailureReason, ValidationResult
from .rule import ElementRule


def validate_output(
    actual,
    expected,
    *,
    op_name: str = "",
    seed: int = 0,
    tolerance: ToleranceConfig | None = None,
    invariants: Sequence[str] = (),
    inputs: Mapping[str, np.ndarray] | None = None,
    check_nan: bool = True,
    check_inf: bool = True,
    compare: str = "allclose",
    max_ulp: float | None = None,
    vacuous: str = "warn",
) -> ValidationResult:
    """Check an op's ``actual`` output against the reference's ``expected``.

    ``tolerance`` None means the default of the dtypes: the looser of the two defaults
    when they differ (the dtype stage already fails the case; the value stage then says
    whether the values are right at the coarser precision). ``invariants`` name entries
    of INVARIANTS (unknown names raise InvalidRequest before any work); ``inputs`` feed
    ``shape_preserved``. ``check_nan``/``check_inf`` False do not accept unexpected
    NaN/Inf: such elements count as ToleranceExceeded mismatches instead of failing
    their own stage. To accept NaN/Inf, the reference must produce them (NaN parity).

    ``compare="ulp"`` judges float values by ULP distance (at most ``max_ulp``) instead
    of atol/rtol, which then stay unused (the result's are None). ``vacuous`` is what the
    trivial-output guard does when an impostor would pass too (see guards.VACUOUS_MODES):
    "warn" adds a VacuousCheck entry to ``result.warnings`` (never a failure: a right
    output passes such a check too), "report" only lists ``result.impostors``.

    ``max_diff``/``max_rel_diff`` cover every element but NaN/Inf parity matches (a NaN
    difference ranks highest); relative differences skip elements where expected is 0
    or non-finite. The mismatch report names the worst violating elements instead.
    """
    started = time.perf_counter()
    actual, expected = np.asarray(actual), np.asarray(expected)
    a_dt = DType.from_numpy(actual.dtype, field="actual")
    e_dt = DType.from_numpy(expected.dtype, field="expected")
    checks = resolve_invariants(invariants)
    if vacuous not in VACUOUS_MODES:
        raise InvalidRequest(f"vacuous: unknown mode {vacuous!r}; expected one of "
                             f"{', '.join(VACUOUS_MODES)}", field="vacuous")
    tol = _checked(tolerance) if tolerance is not None else (
        ToleranceConfig.for_dtype(a_dt).looser(ToleranceConfig.for_dtype(e_dt)))
    rule = ElementRule.build(actual.dtype, expected.dtype, tol, compare, max_ulp)
    result = ValidationResult(
        passed=False, op_name=op_name, seed=seed, dtype=a_dt.value,
        shape=list(actual.shape), max_ulp=rule.max_ulp,
        atol=None if rule.ulp_mode else tol.atol, rtol=None if rule.ulp_mode else tol.rtol,
    )
    if actual.shape != expected.shape:
        result.failures = [FailureReason(
            kind=FailureKind.ShapeMismatch,
            message=f"shape mismatch: actual {list(actual.shape)} vs expected "
                    f"{list(expected.shape)}; the op must return the reference's shape "
                    "(values were not compared)",
            expected=str(list(expected.shape)), actual=str(list(actual.shape)),
        )]
    else:
        failures = []
        if a_dt is not e_dt:
            failures.append(FailureReason(
                kind=FailureKind.DtypeMismatch,
                message=f"dtype mismatch: actual is {a_dt.short_name} but expected is "
                        f"{e_dt.short_name}; the op must return the reference's dtype "
                        "(values were still compared, in float64 unless both are integers)",
                expected=e_dt.value, actual=a_dt.value,
            ))
        values = Comparison(actual, expected, rule, check_nan, check_inf)
        values.run()
        failures += values.failures()
        result.max_diff, result.max_rel_diff = values.max_diffs()
        result.max_ulp_diff = values.max_ulp_diff()
        result.mismatch = values.report()
        failures += check_invariants(checks, actual, inputs or {}, tol)
        if vacuous != "off":
            found = find_impostors(expected, rule, checks, inputs or {},
                                   lambda output: Comparison(output, expected, rule).matches_all())
            result.impostors = [i.name for i in found]
            if found and vacuous == "warn":
                result.warnings = [vacuous_warning(found, rule)]
        result.failures = failures
    result.passed = not result.failures
    result.duration_ms = (time.perf_counter() - started) * 1e3
    return result


def _checked(tol: ToleranceConfig) -> ToleranceConfig:
    if all(math.isfinite(v) and v >= 0 for v in (tol.atol, tol.rtol)):
        return tol
    raise InvalidRequest(
        f"tolerance: atol and rtol must be finite and >= 0, got atol={tol.atol!r}, "
        f"rtol={tol.rtol!r}", field="tolerance",
    )
