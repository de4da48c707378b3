"""What one fuzz run produced: its verdicts, what it tried, and why it might be vacuous.

The runner (daemon, client-side loop, SeededFuzzer) builds a FuzzResults; the daemon
sends it as FuzzOp's reply just as it is, so it is a tagged Response (gpuemu.message).
"""

from __future__ import annotations

import msgspec

from ..coverage import FuzzCoverage
from ..message import Response
from ..validate.result import ValidationResult


class HealthIssue(msgspec.Struct, omit_defaults=True):
    """A reason to distrust a fuzz run. ``severity`` "error" makes the run vacuous."""

    kind: str
    message: str
    severity: str = "error"


class FuzzResults(Response):
    """``vacuous`` is true when a health issue of severity "error" says the run could not
    have failed a wrong op (every case filtered or identical, an impostor passing every
    case, a configured dtype or layout never reached); such a run fails like a failed case."""

    op_name: str
    seed: int
    iterations: int
    passed: int
    failed: int
    failures: list[ValidationResult] = []
    duration_ms: float = 0.0
    coverage: FuzzCoverage | None = None
    health: list[HealthIssue] = []
    vacuous: bool = False

    __key_aliases__ = ("total",)

    @property
    def total(self) -> int:
        """Seed 002's name for the number of cases run."""
        return self.iterations
