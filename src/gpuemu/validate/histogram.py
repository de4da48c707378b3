"""The distribution of |actual - expected| over a failing output, in decades.

One worst element says where to look; the histogram says what kind of wrong it is: a
few elements off by 1e2 (an indexing bug) reads differently from everything off by 1e-3
(an accumulation-order or precision problem). Computed only for failing outputs, in
one chunked float64 pass, so it costs passing checks nothing.
"""

from __future__ import annotations

import numpy as np

DECADES = tuple(range(-8, 3))
"""Bucket edges 1e-8 .. 1e2; below and above them are one bucket each."""

CHUNK = 1 << 16


def error_histogram_labels() -> list[str]:
    """The buckets of ``error_histogram``, in order: exact, below 1e-8, one per decade,
    1e2 and more, non-finite (NaN or Inf on one side only, or Inf - Inf)."""
    decades = [f"1e{lo}..1e{hi}" for lo, hi in zip(DECADES, DECADES[1:])]
    return ["0", f"<1e{DECADES[0]}", *decades, f">=1e{DECADES[-1]}", "non-finite"]


def error_histogram(actual: np.ndarray, expected: np.ndarray) -> list[int]:
    """Element counts per bucket of ``error_histogram_labels``. NaN facing NaN and an Inf
    facing the same Inf count as exact (NaN parity)."""
    edges = np.array([10.0 ** k for k in DECADES])
    counts = np.zeros(len(edges) + 3, dtype=np.int64)
    if actual.size == 0:
        return counts.tolist()
    it = np.nditer([actual, expected], flags=["external_loop", "buffered", "zerosize_ok"],
                   op_dtypes=[np.float64] * 2, casting="unsafe", buffersize=CHUNK, order="C")
    with np.errstate(all="ignore"):
        for a, e in it:
            d = np.abs(a - e)
            same = (a == e) | (np.isnan(a) & np.isnan(e))
            finite = np.isfinite(d) & ~same
            counts[0] += int(same.sum())
            counts[-1] += int((~same & ~finite).sum())
            counts[1:-1] += np.bincount(np.searchsorted(edges, d[finite], side="right"),
                                        minlength=len(edges) + 1)
    return counts.tolist()
