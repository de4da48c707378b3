"""The element rule: when one actual element matches its expected one.

Shared by the pipeline (which screens most elements faster and sends the rest here) and
the trivial-output guard (which asks whether an impostor output would match), so that
both judge by exactly the same rule:

- integers and bool on both sides: ``|a - e| <= atol + rtol*|e|`` computed exactly;
- otherwise, in float64: NaN facing NaN, or an Inf facing the same Inf, matches (NaN
  parity); any other element matches when ``|a - e|`` is finite and within
  ``atol + rtol*|e|`` -- or, in ULP mode, within ``max_ulp`` ULPs on the ``grid`` format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidRequest
from ..tolerances import ToleranceConfig
from .ulp import is_ulp_dtype, ulp_distance

COMPARE_MODES = ("allclose", "ulp")


@dataclass(frozen=True, slots=True)
class ElementRule:
    """``tol`` always; ``max_ulp`` set means ULP mode. ``grid`` is the float format ULPs
    are counted on (None when neither side is a float); ``exact`` that both are integers."""

    tol: ToleranceConfig
    max_ulp: float | None = None
    grid: np.dtype | None = None
    exact: bool = False

    @classmethod
    def build(cls, actual: np.dtype, expected: np.dtype, tol: ToleranceConfig,
              compare: str = "allclose", max_ulp: float | None = None) -> ElementRule:
        """The rule for a pair of dtypes; raises InvalidRequest for a bad compare/max_ulp.

        ULPs are counted on the expected output's format (the actual's when only it is a
        float). ULP mode does not apply to integer outputs, which stay exact.
        """
        if compare not in COMPARE_MODES:
            raise InvalidRequest(f"compare: unknown mode {compare!r}; expected one of "
                                 f"{', '.join(COMPARE_MODES)}", field="compare")
        if compare == "ulp" and not (isinstance(max_ulp, (int, float)) and not isinstance(
                max_ulp, bool) and math.isfinite(max_ulp) and max_ulp >= 0):
            raise InvalidRequest(f"max_ulp: compare = 'ulp' needs max_ulp, a finite number "
                                 f">= 0 of ULPs, got {max_ulp!r}", field="max_ulp")
        exact = actual.kind in "biu" and expected.kind in "biu"
        grid = next((d for d in (expected, actual) if is_ulp_dtype(d)), None)
        ulp_mode = compare == "ulp" and grid is not None and not exact
        return cls(tol=tol, max_ulp=float(max_ulp) if ulp_mode else None, grid=grid, exact=exact)

    @property
    def ulp_mode(self) -> bool:
        return self.max_ulp is not None

    def ulps(self, a: np.ndarray, e: np.ndarray) -> np.ndarray:
        """ULP distances of float64 (or grid) values, counted on the grid format."""
        return ulp_distance(_on(a, self.grid), _on(e, self.grid))

    def within(self, a: np.ndarray, e: np.ndarray, d: np.ndarray, mag: np.ndarray,
               ulps: np.ndarray | None = None) -> np.ndarray:
        """Float elements ``a``, ``e`` with ``d = |a - e|`` and ``mag = |e|``, parity aside
        (``ulps``: their ULP distances, when the caller has them already)."""
        if self.ulp_mode:
            ulps = self.ulps(a, e) if ulps is None else ulps
            return np.isfinite(d) & (ulps <= self.max_ulp)
        return np.isfinite(d) & (d <= self.tol.atol + self.tol.rtol * mag)

    def matches(self, a: np.ndarray, e: np.ndarray) -> np.ndarray:
        """Whether each element of ``a`` matches ``e`` (any dtypes; broadcasting allowed)."""
        if self.exact:
            a, e = np.broadcast_arrays(a, e)
            return int_distance(a, e) <= self.tol.atol + self.tol.rtol * np.abs(
                e.astype(np.float64))
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        with np.errstate(all="ignore"):
            ok = self.within(a, e, np.abs(a - e), np.abs(e))
            if ok.all():  # the usual answer, without the parity terms
                return ok
            return ok | (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))

    def describe(self) -> str:
        """The rule as a message shows it."""
        if self.ulp_mode:
            return f"max_ulp={self.max_ulp:g} ULPs of {self.grid}"
        if self.tol.is_exact:
            return "exact comparison"
        return f"atol={self.tol.atol:g} + rtol={self.tol.rtol:g}*|expected|"


def _on(x: np.ndarray, grid: np.dtype) -> np.ndarray:
    return x if x.dtype == grid else x.astype(grid)


def int_distance(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """|a - e| of integer/bool arrays as float64, exact up to that final rounding."""
    common = np.promote_types(a.dtype, e.dtype)
    if common.kind not in "biu":  # int64 against uint64: no integer type holds both
        return np.array([abs(int(p) - int(q)) for p, q in zip(a.ravel().tolist(),
                                                               e.ravel().tolist())],
                        dtype=np.float64).reshape(a.shape)
    common = np.dtype(np.uint8) if common.kind == "b" else common
    a, e = a.astype(common), e.astype(common)
    unsigned = np.dtype(f"u{common.itemsize}")
    # hi - lo wraps modulo 2^bits in the unsigned view, which is exact for 0 <= hi - lo < 2^bits
    return (np.maximum(a, e).view(unsigned) - np.minimum(a, e).view(unsigned)).astype(np.float64)
