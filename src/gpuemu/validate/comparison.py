"""The values stage of the validation pipeline: one pass over both arrays, tallying the
tolerance, NaN and Inf checks, and the mismatch report it gives.

Speed (DESIGN.md wants 256 MiB of float32 at >= 1.5 GiB/s): two C-contiguous outputs of
one float dtype go through the fused C pass (``fused``, same tallies, ~2x memcpy);
everything else, and every check without the extension, goes the numpy way: the arrays are walked in C
order, CHUNK elements at a time (np.nditer buffers and casts strided or narrow inputs
chunk by chunk, so nothing full-size is ever allocated), and each chunk is screened by
ufuncs writing into preallocated buffers -- in float32 when both sides fit, with a
margin that makes a screen pass imply the float64 pass. The elements the screen cannot
vouch for (mismatches, NaN/Inf, borderline values) are gathered and judged exactly in
float64. Measured on 2 cores: ~2 GiB/s for passing float32, float64 or NaN-parity data;
a chunk full of mismatches costs ~10x more; transposed inputs pay numpy's strided
gather (~0.2 GiB/s) and float16 numpy's slow float16 cast (~0.3 GiB/s). ULP mode counts
ULPs of every element (integer ops on the bit patterns, no screen). The guard costs a
sample per impostor unless the check is vacuous (see ``guards``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..dtypes import DType
from ..tolerances import ToleranceConfig
from . import fused
from .histogram import error_histogram
from .result import FailureKind, FailureReason, MismatchReport
from .rule import ElementRule, int_distance
from .tally import CHUNK, Best, Count, unravel

_SCREEN_MARGIN = 1.0 - 2.0**-20
"""Tightens the float32 screen by far more than its roundings (a few 2^-24), so that a
float32 pass implies a float64 pass; elements inside the margin get the exact check."""

_FITS_FLOAT32 = frozenset({DType.Float16, DType.BFloat16, DType.Float32})


@dataclass(slots=True)
class Comparison:
    """One pass over both arrays, tallying the tolerance, NaN and Inf stages."""

    actual: np.ndarray
    expected: np.ndarray
    rule: ElementRule
    check_nan: bool = True
    check_inf: bool = True
    bad: Count = field(default_factory=Count)
    nan: Count = field(default_factory=Count)
    inf: Count = field(default_factory=Count)
    worst_abs: Best = field(default_factory=Best)  # among violations
    worst_rel: Best = field(default_factory=Best)
    all_abs: Best = field(default_factory=Best)    # among all elements
    all_rel: Best = field(default_factory=Best)
    worst_ulp: Best = field(default_factory=Best)  # among violations
    all_ulp: Best = field(default_factory=Best)    # among all elements, ULP mode only
    _atol: np.ndarray | None = None  # screen constants and scratch buffers, set by run()
    _rtol: np.ndarray | None = None
    _scratch: list[np.ndarray] = field(default_factory=list)
    _mask: np.ndarray | None = None

    @property
    def tol(self) -> ToleranceConfig:
        return self.rule.tol

    @property
    def exact(self) -> bool:
        return self.rule.exact

    def run(self) -> None:
        if fused.applies(self.actual, self.expected, self.rule.ulp_mode, self.exact):
            fused.compare(self.actual, self.expected,
                          fused_params(self.actual.dtype, self.expected.dtype, self.tol,
                                       self.check_nan, self.check_inf),
                          (self.bad, self.nan, self.inf),
                          (self.all_abs, self.all_rel, self.worst_abs, self.worst_rel,
                           self.worst_ulp))
            return
        if self.exact:
            work, step = None, self._exact_int_chunk
        elif _fit_float32(self.actual.dtype, self.expected.dtype) and (self.rule.ulp_mode or _screens_in_float32(self.tol)):
            work, step = np.dtype(np.float32), self._screen_chunk
        else:
            work, step = np.dtype(np.float64), self._screen_chunk
        if work is not None:
            margin = _SCREEN_MARGIN if work == np.float32 else 1.0
            self._atol = np.array(self.tol.atol * margin, dtype=work)
            self._rtol = np.array(self.tol.rtol * margin, dtype=work)
            self._scratch = [np.empty(CHUNK, work) for _ in range(3)]
        self._mask = np.empty(CHUNK, bool)
        if self.actual.size == 0:
            return
        it = np.nditer(
            [self.actual, self.expected], flags=["external_loop", "buffered", "zerosize_ok"],
            op_flags=[["readonly"], ["readonly"]], op_dtypes=None if work is None else [work] * 2,
            casting="unsafe", buffersize=CHUNK, order="C",
        )
        base = 0
        with np.errstate(all="ignore"):
            for x, y in it:
                step(x, y, base)
                base += x.size

    def _screen_chunk(self, x: np.ndarray, y: np.ndarray, base: int) -> None:
        """Screen a chunk; only the elements it cannot vouch for are evaluated exactly."""
        k = x.size
        d, mag, t = (b[:k] for b in self._scratch)
        ok = self._mask[:k]
        np.subtract(x, y, out=d)
        np.abs(d, out=d)
        np.abs(y, out=mag)
        ulps = self.rule.ulps(x, y) if self.rule.ulp_mode else None
        if ulps is None:
            np.multiply(mag, self._rtol, out=t)
            np.add(t, self._atol, out=t)
            np.less_equal(d, t, out=ok)
        else:  # exact ULP counts: no screen needed
            np.less_equal(ulps, self.rule.max_ulp, out=ok)
        i = int(d.argmax())  # a NaN or Inf anywhere shows up here
        if not (ok.all() and math.isfinite(d[i])):
            ok &= np.isfinite(d)  # |a - e| = Inf passes `d <= t` where expected is Inf
            at = np.flatnonzero(~ok)
            self._exact_float(x[at], y[at], base, at)
            d[at], mag[at] = -1.0, 1.0  # ... and leave the statistics below to the rest
            i = int(d.argmax())
            if ulps is not None:
                ulps[at] = -1.0
        if ulps is not None:
            self.all_ulp.offer(ulps, base)
        self.all_abs.offer(d[i : i + 1], base + i)
        np.divide(d, mag, out=t)
        j = int(t.argmax())
        if not math.isfinite(t[j]):
            # expected is 0 somewhere (0/0, x/0): mask those out with arithmetic, because
            # masked ufuncs (where=, putmask) run ~30x slower on scattered masks.
            np.multiply(t, mag, out=d)  # NaN where |e| = 0, +Inf where d/|e| overflowed
            if np.fmax.reduce(d) == math.inf:  # |e| tiny: those quotients are the greatest
                over = np.flatnonzero(np.isposinf(d))
                a, e = x[over].astype(np.float64), y[over].astype(np.float64)
                self.all_rel.offer(np.abs(a - e) / np.abs(e), base, over)
                t[over], d[over] = -1.0, 0.0
            np.multiply(d, 0, out=d)
            np.add(t, d, out=t)  # NaN where |e| = 0
            np.fmax(t, -1.0, out=t)  # ... and -1 there: "no relative diff"
            j = int(t.argmax())
        self.all_rel.offer(t[j : j + 1], base + j)

    def _exact_float(self, x: np.ndarray, y: np.ndarray, base: int, at: np.ndarray) -> None:
        """The DESIGN.md rule in float64 for the elements ``x``, ``y`` at chunk positions ``at``."""
        a, e = x.astype(np.float64), y.astype(np.float64)
        a_nan, a_inf = np.isnan(a), np.isinf(a)
        parity = (a_nan & np.isnan(e)) | (a_inf & (a == e))
        d, mag = np.abs(a - e), np.abs(e)
        ulps = None if self.rule.grid is None else self.rule.ulps(a, e)
        within = self.rule.within(a, e, d, mag, ulps)
        flagged = parity | within
        if self.check_nan:
            nan = a_nan & ~np.isnan(e)
            self.nan.add(nan, base, at)
            flagged |= nan
        if self.check_inf:
            inf = a_inf & ~parity
            self.inf.add(inf, base, at)
            flagged |= inf
        has_rel = ~parity & (mag > 0) & np.isfinite(mag)
        rel = d / mag
        rel[~has_rel] = -1.0
        self.all_abs.offer(np.where(parity, -1.0, d), base, at)
        self.all_rel.offer(rel, base, at)
        if self.rule.ulp_mode:
            self.all_ulp.offer(np.where(parity, -1.0, ulps), base, at)
        bad = ~flagged
        if bad.any():
            self.bad.add(bad, base, at)
            self.worst_abs.offer(np.where(bad, d, -1.0), base, at)
            self.worst_rel.offer(np.where(bad, rel, -1.0), base, at)
            if ulps is not None:
                self.worst_ulp.offer(np.where(bad, ulps, -1.0), base, at)

    def _exact_int_chunk(self, x: np.ndarray, y: np.ndarray, base: int) -> None:
        differs = np.not_equal(x, y, out=self._mask[: x.size])
        if not differs.any():
            return
        at = np.flatnonzero(differs)
        d = int_distance(x[at], y[at])
        mag = np.abs(y[at].astype(np.float64))
        rel = np.divide(d, mag, out=np.full_like(d, -1.0), where=mag > 0)
        self.all_abs.offer(d, base, at)
        self.all_rel.offer(rel, base, at)
        bad = ~(d <= self.tol.atol + self.tol.rtol * mag)
        if bad.any():
            self.bad.add(bad, base, at)
            self.worst_abs.offer(np.where(bad, d, -1.0), base, at)
            self.worst_rel.offer(np.where(bad, rel, -1.0), base, at)

    # -- what the pass found --------------------------------------------------------

    def max_diffs(self) -> tuple[float | None, float | None]:
        abs_diff = None if self.all_abs.index is None else self._at(self.all_abs.index)[2]
        rel_diff = None if self.all_rel.index is None else self._at(self.all_rel.index)[3]
        if self.exact and self.actual.size:  # equal integers were never offered
            abs_diff = 0.0 if abs_diff is None else abs_diff
            if rel_diff is None and np.any(self.expected):
                rel_diff = 0.0
        return abs_diff, rel_diff

    def matches_all(self) -> bool:
        """Run, and say whether every element matched (NaN/Inf parity included)."""
        self.run()
        return not (self.bad.count or self.nan.count or self.inf.count)

    def max_ulp_diff(self) -> float | None:
        """The greatest ULP distance of any element but parity matches (ULP mode only)."""
        if not self.rule.ulp_mode or not self.actual.size:
            return None
        return max(self.all_ulp.value, 0.0)

    def report(self) -> MismatchReport | None:
        if not self.bad.count:
            return None
        a, e, d, _ = self._at(self.worst_abs.index)
        rel_at, ulp_at = self.worst_rel.index, self.worst_ulp.index
        ulp_mode = self.rule.ulp_mode
        return MismatchReport(
            mismatched=self.bad.count, total=self.actual.size,
            percent=100.0 * self.bad.count / self.actual.size,
            max_abs_diff=d, max_abs_index=unravel(self.worst_abs.index, self.actual.shape),
            max_rel_diff=None if rel_at is None else self._at(rel_at)[3],
            max_rel_index=[] if rel_at is None else unravel(rel_at, self.actual.shape),
            atol=0.0 if ulp_mode else self.tol.atol, rtol=0.0 if ulp_mode else self.tol.rtol,
            actual_at_max=float(a), expected_at_max=float(e),
            ulp_at_max=self._ulps_at(self.worst_abs.index),
            max_ulp_diff=None if ulp_at is None else self.worst_ulp.value,
            max_ulp_index=[] if ulp_at is None else unravel(ulp_at, self.actual.shape),
            max_ulp=self.rule.max_ulp,
            error_histogram=error_histogram(self.actual, self.expected),
        )

    def _ulps_at(self, flat: int) -> float | None:
        if self.rule.grid is None:
            return None
        a, e = (np.array([float(v.flat[flat])]) for v in (self.actual, self.expected))
        with np.errstate(all="ignore"):
            return float(self.rule.ulps(a, e)[0])

    def failures(self) -> list[FailureReason]:
        found = []
        if self.bad.count:
            found.append(self._tolerance_failure())
        total, shape = self.actual.size, self.actual.shape
        if self.nan.count:
            a, e, _, _ = self._at(self.nan.first)
            found.append(FailureReason(
                kind=FailureKind.NaNDetected, count=self.nan.count,
                index=unravel(self.nan.first, shape), actual=str(a), expected=str(e),
                message=f"actual has NaN at {self.nan.count} of {total} positions where "
                        f"expected does not, first at {unravel(self.nan.first, shape)} "
                        f"(expected {e!s}); if NaN is right there, the reference must "
                        "produce it too (NaN parity)",
            ))
        if self.inf.count:
            a, e, _, _ = self._at(self.inf.first)
            found.append(FailureReason(
                kind=FailureKind.InfDetected, count=self.inf.count,
                index=unravel(self.inf.first, shape), actual=str(a), expected=str(e),
                message=f"actual has Inf at {self.inf.count} of {total} positions where "
                        f"expected does not have the same Inf, first at "
                        f"{unravel(self.inf.first, shape)} (actual {a!s}, expected {e!s})",
            ))
        return found

    def _tolerance_failure(self) -> FailureReason:
        n, total, shape = self.bad.count, self.actual.size, self.actual.shape
        if not self.rule.ulp_mode and self.tol.is_exact:
            head = f"{n} of {total} elements ({100 * n / total:.2f}%) differ (exact comparison)"
        else:
            head = f"{n} of {total} elements ({100 * n / total:.2f}%) exceed {self.rule.describe()}"
        a, e, d, _ = self._at(self.worst_abs.index)
        where = unravel(self.worst_abs.index, shape)
        ulps = self._ulps_at(self.worst_abs.index)
        apart = "" if ulps is None else f", {ulps:g} ULPs apart"
        text = f"{head}; max abs diff {d:.2e} at {where} (actual {a!s}, expected {e!s}){apart}"
        if self.worst_rel.index is None:
            text += ", no relative diff (expected is 0 or non-finite at every mismatch)"
        else:
            ra, re, _, r = self._at(self.worst_rel.index)
            text += (f", max rel diff {r:.2e} at {unravel(self.worst_rel.index, shape)} "
                     f"(actual {ra!s}, expected {re!s})")
        if self.rule.ulp_mode and self.worst_ulp.index is not None:
            text += (f", max {self.worst_ulp.value:g} ULPs at "
                     f"{unravel(self.worst_ulp.index, shape)}")
        return FailureReason(
            kind=FailureKind.ToleranceExceeded, message=text, count=n, index=where,
            actual=str(a), expected=str(e),
        )

    def _at(self, flat: int):
        """actual, expected, |a - e| and |a - e|/|e| (None where undefined) at ``flat``,
        recomputed from the original elements: exact for integers, float64 otherwise."""
        a, e = self.actual.flat[flat], self.expected.flat[flat]
        if self.exact:
            a, e = int(a), int(e)
            d, mag = float(abs(a - e)), float(abs(e))
        else:
            d, mag = abs(float(a) - float(e)), abs(float(e))
        rel = d / mag if 0 < mag < math.inf else None
        return a, e, d, rel


def fused_params(actual: np.dtype, expected: np.dtype, tol: ToleranceConfig, check_nan: bool,
                 check_inf: bool) -> fused.Params:
    """What the fused pass over outputs of these dtypes is given."""
    return fused.Params(tol.atol, tol.rtol, _fit_float32(actual, expected) and _screens_in_float32(tol),
                        check_nan, check_inf)


def _fit_float32(actual: np.dtype, expected: np.dtype) -> bool:
    return {DType.from_numpy(actual), DType.from_numpy(expected)} <= _FITS_FLOAT32


def _screens_in_float32(tol: ToleranceConfig) -> bool:
    """Whether the float32 screen is sound: both constants normal in float32, far from
    overflow, and atol > 0 so that underflow in rtol*|e| stays negligible next to it."""
    normal = 2.0**-100
    return normal <= tol.atol <= 2.0**100 and (tol.rtol == 0 or normal <= tol.rtol <= 1)
