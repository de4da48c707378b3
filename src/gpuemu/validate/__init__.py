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
    "fuzz_op",
    "reproduce",
    "validate_op",
    "validate_output",
]


def __getattr__(name: str):
    # Seeds 001 and 004 import the client's helpers from here; importing them lazily keeps
    # this package free of the client (and of pynng) for the daemon and the scripts.
    if name in ("validate_op", "fuzz_op", "reproduce"):
        from .. import validation

        return getattr(validation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
