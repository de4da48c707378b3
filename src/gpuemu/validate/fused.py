"""The fused compare: one C pass (``gpuemu._cmpfast``) over actual and expected instead
of the pipeline's chunked ufuncs, where it applies.

It applies to the common case of a large check: both outputs of one float dtype
(float16, bfloat16, float32 or float64), C-contiguous, judged by atol/rtol. Everything
else (integers, mixed dtypes, strided views, ULP mode) takes the numpy path, which stays
the reference semantics; the C pass gives the same counts, first indices and worst
elements (tests/unit/test_fused.py compares them on random, NaN, Inf and subnormal data).
Without a compiler the extension is not built and every check takes the numpy path.

The pass goes SPAN elements per call, up to MAX_THREADS calls at once: the tallies merge
across calls, in order, as within one, and after each call the pages it read of a
shared-memory output are handed back (``release``), so that a daemon comparing a mapped
256 MiB tensor holds at most MAX_THREADS spans of it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..shm import release
from .tally import Best, Count

try:
    from .. import _cmpfast
except ImportError:  # built without a C compiler: the numpy path does it all
    _cmpfast = None

enabled = _cmpfast is not None and os.environ.get("GPUEMU_FUSED_COMPARE", "1") != "0"
"""False: every check takes the numpy path (GPUEMU_FUSED_COMPARE=0, or no extension)."""

KINDS = frozenset({"float16", "bfloat16", "float32", "float64"})
SPAN = 1 << 22
"""Elements per call: 16 MiB of float32, the pages handed back between calls."""
MAX_THREADS = 4
"""Spans compared at once (the C pass runs without the GIL): a large compare is bound by
memory and, over a received tensor's mapping, by its page faults, both of which the cores
share out."""


def applies(actual: np.ndarray, expected: np.ndarray, ulp_mode: bool, exact: bool) -> bool:
    return (enabled and not ulp_mode and not exact and actual.dtype == expected.dtype
            and actual.dtype.name in KINDS and actual.size > 0
            and actual.flags.c_contiguous and expected.flags.c_contiguous)


def compare(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float,
            screen_f32: bool, check_nan: bool, check_inf: bool,
            counts: tuple[Count, Count, Count], bests: tuple[Best, ...]) -> None:
    """Tally ``actual`` against ``expected`` into ``counts`` (violations, NaN, Inf) and
    ``bests`` (greatest abs and rel difference over all elements, then abs, rel and ULP
    distance over violations, ULPs counted on their own format)."""
    kind = actual.dtype.name
    flat_a = actual.reshape(-1).view(np.uint8)
    flat_e = expected.reshape(-1).view(np.uint8)
    item = actual.itemsize

    def span(base: int) -> tuple:
        end = min(base + SPAN, actual.size)
        a, e = flat_a[base * item:end * item], flat_e[base * item:end * item]
        found = _cmpfast.compare(a, e, kind, atol, rtol, screen_f32, check_nan, check_inf)
        release(a)  # pages of a received tensor go back as soon as they are read
        release(e)
        return found

    bases = range(0, actual.size, SPAN)
    threads = min(len(os.sched_getaffinity(0)), MAX_THREADS, len(bases))
    if threads > 1:
        with ThreadPoolExecutor(threads, thread_name_prefix="gpuemu-compare") as pool:
            spans = list(pool.map(span, bases))
    else:
        spans = [span(base) for base in bases]
    for base, found in zip(bases, spans):  # in order: ties go to the first index, as in one pass
        for count, (n, first) in zip(counts, found[:3]):
            count.merge(n, None if first is None else base + first)
        for best, (value, index) in zip(bests, found[3:]):
            if index is not None:
                best.offer_one(value, base + index)
