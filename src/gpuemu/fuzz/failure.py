"""The record of a case whose script raised, as complete as a tolerance failure's.

A tolerance failure says what ran (dtype, shape, layout through its repro_info) because
the check saw the output; a case that raised has no output, so its record takes the
case's own dtype and shape instead. Every runner (daemon, client-side, in-process) builds
it here, so the text, JSON, JUnit, SARIF and editor reports read the same fields.
"""

from __future__ import annotations

from ..validate import FailureKind, FailureReason, ValidationResult
from .cases import CaseSpec


def execution_error(op_name: str, seed: int, message: str,
                    spec: CaseSpec | None = None) -> ValidationResult:
    """An ExecutionError verdict for the case ``spec`` (when known) named by ``seed``."""
    result = ValidationResult(passed=False, op_name=op_name, seed=seed, failures=[
        FailureReason(kind=FailureKind.ExecutionError, message=message)])
    return result if spec is None else described(result, spec)


def described(result: ValidationResult, spec: CaseSpec) -> ValidationResult:
    """``result`` with the case's dtype and first input's shape where it has none."""
    if result.dtype is None:
        result.dtype = spec.dtype
    if result.shape is None:
        result.shape = list(next(iter(spec.shapes.values()), []))
    return result


def first_error_line(message: str, limit: int = 200) -> str:
    """The last non-empty line of an error message (a traceback's final exception), cut to
    ``limit`` characters: what a one-line summary quotes."""
    line = next((ln.strip() for ln in reversed(message.splitlines()) if ln.strip()), "")
    return line if len(line) <= limit else line[:limit - 3] + "..."
