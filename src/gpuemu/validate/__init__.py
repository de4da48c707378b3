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
    "validate_op",
    "validate_output",
]


def __getattr__(name: str):
    # Seed 004 imports the client's context manager from here; importing it lazily keeps
    # this package free of the client (and of pynng) for the daemon and the scripts.
    if name == "validate_op":
        from ..validation import validate_op

        return validate_op
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
