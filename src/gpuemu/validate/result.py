"""What a validation produces: the structs that travel on the wire and into storage.

Non-finite numbers are encoded as JSON null by msgspec, which is why every float
field that may hold NaN/Inf is typed ``float | None``.
"""

from __future__ import annotations

import time
from enum import StrEnum

import msgspec

from ..dtypes import DType
from ..readable import KeyAccess


class FailureKind(StrEnum):
    ShapeMismatch = "ShapeMismatch"
    DtypeMismatch = "DtypeMismatch"
    ToleranceExceeded = "ToleranceExceeded"
    NaNDetected = "NaNDetected"
    InfDetected = "InfDetected"
    InvariantViolation = "InvariantViolation"
    ExecutionError = "ExecutionError"
    VacuousCheck = "VacuousCheck"
    """An impostor (zeros, a constant, NaN, a copy of an input) would pass the same check.
    Only ever a warning: a right output passes such a check too."""
    NonDeterministic = "NonDeterministic"
    """Runs of the op on copies of the same inputs gave outputs that differ bitwise."""
    InputMutated = "InputMutated"
    """The op wrote into one of its inputs."""


class FailureReason(msgspec.Struct, KeyAccess, omit_defaults=True, frozen=True):
    """One reason a case failed, of a ``kind`` (its value on the wire); the optional fields
    carry the numbers a reader needs (counts, indices, the invariant's name)."""

    kind: FailureKind
    message: str
    count: int | None = None
    index: list[int] | None = None
    invariant: str | None = None
    expected: str | None = None
    actual: str | None = None


class MismatchReport(msgspec.Struct, omit_defaults=True, frozen=True):
    """Enough to debug a tolerance failure without re-running it.

    For float outputs the ULP fields count representable values of the expected output's
    format: ``ulp_at_max`` at the greatest absolute difference, ``max_ulp_diff`` (at
    ``max_ulp_index``) the greatest among the mismatches. ``max_ulp`` is set in ULP mode,
    where it is the tolerance applied (and atol, rtol are 0: unused).
    ``error_histogram`` counts every element by |actual - expected|, in the buckets of
    ``validate.histogram.error_histogram_labels()`` (exact, decades, non-finite).
    """

    mismatched: int
    total: int
    percent: float
    max_abs_diff: float | None
    max_abs_index: list[int]
    max_rel_diff: float | None
    max_rel_index: list[int]
    atol: float
    rtol: float
    actual_at_max: float | None = None
    expected_at_max: float | None = None
    ulp_at_max: float | None = None
    max_ulp_diff: float | None = None
    max_ulp_index: list[int] = []
    max_ulp: float | None = None
    error_histogram: list[int] = []


class ReproductionInfo(msgspec.Struct, KeyAccess, omit_defaults=True):
    """How to get the same case again: the seed and the command that replays it. For
    fuzz cases also the layout the inputs really had and the value distribution drawn
    (what ``gpuemu coverage`` counts)."""

    seed: int
    op_name: str
    command: str = ""
    input_shapes: dict[str, list[int]] = {}
    input_dtypes: dict[str, str] = {}
    input_strides: dict[str, list[int]] = {}
    kwargs: dict = {}
    layout: str = ""
    distribution: str = ""

    __key_aliases__ = ("shape", "strides", "dtype", "fuzz_config", "input_snapshot")

    # Seed 002's fields, read from the first input (the original described one input).
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(next(iter(self.input_shapes.values()), ()))

    @property
    def strides(self) -> tuple[int, ...]:
        return tuple(next(iter(self.input_strides.values()), ()))

    @property
    def dtype(self) -> str:
        """The first input's dtype as numpy names it (``"float32"``)."""
        first = next(iter(self.input_dtypes.values()), "")
        return first and DType.parse(first).short_name

    @property
    def fuzz_config(self) -> None:
        """A case is regenerated from its seed and the op's config (``command``), so no
        fuzz config travels with it."""
        return None

    @property
    def input_snapshot(self) -> dict:
        """Client inputs are kept in the daemon's store (``gpuemu reproduce``), not here."""
        return {}

    @classmethod
    def from_dict(cls, data: dict) -> ReproductionInfo:
        return msgspec.convert(data, cls)


class ValidationResult(msgspec.Struct, KeyAccess, omit_defaults=True):
    """The verdict of one case. ``atol``/``rtol`` are the tolerance actually applied
    (None in ULP mode, where ``max_ulp`` is), ``tolerance_source`` says where it came
    from (e.g. scaled for a reduction over K terms). ``max_ulp_diff`` is the greatest ULP
    distance (ULP mode only). ``impostors`` names the outputs that would also have passed
    this check ("zeros", "constant", "nan", "copy:NAME"); the guard adds a VacuousCheck
    entry to ``warnings`` for them or, in fuzz runs, the run-level health check weighs them.
    ``warnings`` never change the verdict: they say how much a pass proves. ``case_index``
    is the case's index within its fuzz run (None outside one). ``dtype`` and ``shape`` are
    the output's; for a case whose script raised (an ExecutionError) the case's dtype and
    first input's shape, so that every failure says what it ran on."""

    passed: bool
    op_name: str
    seed: int = 0
    max_diff: float | None = None
    max_rel_diff: float | None = None
    failures: list[FailureReason] = []
    timestamp: float = msgspec.field(default_factory=time.time)
    duration_ms: float = 0.0
    dtype: str | None = None
    shape: list[int] | None = None
    atol: float | None = None
    rtol: float | None = None
    mismatch: MismatchReport | None = None
    repro_info: ReproductionInfo | None = None
    max_ulp: float | None = None
    max_ulp_diff: float | None = None
    tolerance_source: str | None = None
    impostors: list[str] = []
    warnings: list[FailureReason] = []
    case_index: int | None = None

    @property
    def failure_kinds(self) -> list[FailureKind]:
        return [f.kind for f in self.failures]

    def to_dict(self) -> dict:
        return msgspec.to_builtins(self)

    @classmethod
    def from_dict(cls, data: dict) -> ValidationResult:
        return msgspec.convert(data, cls)
