"""Compare the latest result of every op with a stored baseline: a pure function.

An op regresses when it went from passed to failed, or when its greatest difference
grew by more than ``regression_factor`` (the cases compared are usually different
seeds, so some drift is normal). A baseline difference of 0 means the op was exact:
any difference now is growth beyond every factor. An unknown difference (None, or
NaN in a result that did not go through JSON) is never compared.
"""

from __future__ import annotations

import math

import msgspec

from gpuemu.errors import InvalidRequest
from gpuemu.validate.result import ValidationResult

# (baseline passed, current passed) -> (bucket, reason) when the verdict changed.
_VERDICT_CHANGES = {
    (True, False): ("regressions", "passed -> failed"),
    (False, True): ("improvements", "failed -> passed"),
}


class OpComparison(msgspec.Struct, frozen=True):
    """One op: why it sits in its bucket, and the two results (None on the side it lacks)."""

    op_name: str
    reason: str
    baseline: ValidationResult | None = None
    current: ValidationResult | None = None


class BaselineComparison(msgspec.Struct, frozen=True):
    """The verdict per op, each bucket sorted by op name. ``missing``: in the baseline,
    absent now; ``new``: the reverse."""

    tag: str = ""
    regression_factor: float = 2.0
    regressions: list[OpComparison] = []
    improvements: list[OpComparison] = []
    unchanged: list[OpComparison] = []
    missing: list[OpComparison] = []
    new: list[OpComparison] = []

    @property
    def has_regressions(self) -> bool:
        """True when some op got worse (missing ops are reported, not counted)."""
        return bool(self.regressions)


def compare_baseline(baseline: dict[str, ValidationResult], current: dict[str, ValidationResult],
                     regression_factor: float = 2.0, *, tag: str = "") -> BaselineComparison:
    """Sort every op of ``baseline`` and ``current`` (op name -> result) into regressions,
    improvements, unchanged, missing and new."""
    if not regression_factor >= 1.0:  # also rejects NaN
        raise InvalidRequest(f"regression_factor {regression_factor} must be >= 1 (how many "
                             "times the baseline max_diff may grow); 2.0 is the default",
                             field="regression_factor")
    buckets: dict[str, list[OpComparison]] = {
        "regressions": [], "improvements": [], "unchanged": [],
        "missing": [OpComparison(op, "not in the current results", baseline=baseline[op])
                    for op in sorted(baseline.keys() - current.keys())],
        "new": [OpComparison(op, "not in the baseline", current=current[op])
                for op in sorted(current.keys() - baseline.keys())],
    }
    for op_name in sorted(baseline.keys() & current.keys()):
        before, after = baseline[op_name], current[op_name]
        bucket, reason = _classify(before, after, regression_factor)
        buckets[bucket].append(OpComparison(op_name, reason, before, after))
    return BaselineComparison(tag=tag, regression_factor=regression_factor, **buckets)


def _classify(base: ValidationResult, cur: ValidationResult, factor: float) -> tuple[str, str]:
    """(bucket, reason) for an op present on both sides."""
    change = _VERDICT_CHANGES.get((base.passed, cur.passed))
    if change is not None:
        bucket, reason = change
        kinds = ", ".join(cur.failure_kinds)
        return bucket, f"{reason} ({kinds})" if kinds and not cur.passed else reason
    same = "unchanged", "passed both times" if cur.passed else "failed both times"
    before, after = _known(base.max_diff), _known(cur.max_diff)
    if before is None or after is None:
        return same
    if after > before * factor:
        was = "the baseline was exact" if before == 0 else f"more than {factor:g}x"
        return "regressions", f"max_diff grew from {before:.3g} to {after:.3g} ({was})"
    if after * factor < before:
        return "improvements", f"max_diff shrank from {before:.3g} to {after:.3g}"
    return same


def _known(value: float | None) -> float | None:
    """The difference if it is a number (Inf included), None when unknown (None or NaN)."""
    return None if value is None or math.isnan(value) else value
