"""Validation: check an op's output against its reference (see DESIGN.md, "Validation
semantics"). A plain library -- no sockets, no storage, no config."""

from .invariants import INVARIANTS
from .pipeline import validate_output
from .result import FailureKind, FailureReason, MismatchReport, ReproductionInfo, ValidationResult
from .ulp import ulp_distance

__all__ = [
    "INVARIANTS",
    "FailureKind",
    "FailureReason",
    "MismatchReport",
    "ReproductionInfo",
    "ValidationResult",
    "ulp_distance",
    "validate_output",
]
