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

A pass can also be made where the expected output is (``tally``): the daemon's warm
worker compares its reference's output with the client's output beside it, where both
are in its memory, instead of the daemon faulting both in from shared memory (most of a
large ValidateOp's time on 4 KiB tmpfs pages). The daemon ``remember``s that pass for
the expected array; ``compare`` uses it when the same actual is judged with the same
``Params``, and makes its own pass otherwise (an impostor of the guard, a widened
tolerance, a worker that made none).
"""

from __future__ import annotations

import os
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
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


class Params(msgspec.Struct, frozen=True, array_like=True):
    """What a pass depends on besides the two arrays (``screen_f32``: see comparison)."""

    atol: float
    rtol: float
    screen_f32: bool
    check_nan: bool
    check_inf: bool


Spans = list[tuple[int, Any]]
"""A pass: per span, its first element's index and what the C pass found in it."""


def tally(actual: np.ndarray, expected: np.ndarray, params: Params,
          copy_to: np.ndarray | None = None) -> Spans:
    """The pass over two arrays ``applies`` to, span by span. ``copy_to`` (a writable
    uint8 array of expected's size) receives expected's bytes as the pass reads them: a
    warm worker sends its output so with one read of it, not two (a copy beside the pass
    cost it ~40% of a 64 MiB pass)."""
    flat_a = actual.reshape(-1).view(np.uint8)
    flat_e = expected.reshape(-1).view(np.uint8)
    kind, item = actual.dtype.name, actual.itemsize

    def span(base: int) -> tuple[int, Any]:
        end = min(base + SPAN, actual.size)
        a, e = flat_a[base * item:end * item], flat_e[base * item:end * item]
        found = _cmpfast.compare(a, e, kind, params.atol, params.rtol, params.screen_f32,
                                 params.check_nan, params.check_inf,
                                 None if copy_to is None else copy_to[base * item:end * item])
        release(a)  # pages of a received tensor go back as soon as they are read
        release(e)
        return base, found

    bases = range(0, actual.size, SPAN)
    threads = min(len(os.sched_getaffinity(0)), MAX_THREADS, len(bases))
    if threads == 1:
        return [span(base) for base in bases]
    with ThreadPoolExecutor(threads, thread_name_prefix="gpuemu-compare") as pool:
        return list(pool.map(span, bases))


def merge(spans: Spans, counts: tuple[Count, Count, Count], bests: tuple[Best, ...]) -> None:
    """Tally a pass into ``counts`` (violations, NaN, Inf) and ``bests`` (greatest abs and
    rel difference over all elements, then abs, rel and ULP distance over violations, ULPs
    counted on their own format), span by span in order: ties go to the first index, as
    in one pass."""
    for base, found in spans:
        for count, (n, first) in zip(counts, found[:3]):
            count.merge(n, None if first is None else base + first)
        for best, (value, index) in zip(bests, found[3:]):
            if index is not None:
                best.offer_one(value, base + index)


def compare(actual: np.ndarray, expected: np.ndarray, params: Params,
            counts: tuple[Count, Count, Count], bests: tuple[Best, ...]) -> None:
    """``merge`` the pass over ``actual`` and ``expected``: a remembered one if it fits."""
    merge(_recall(actual, expected, params) or tally(actual, expected, params), counts, bests)


_passes: dict[int, tuple] = {}  # id(expected) -> (its weakref, actual's _place, params, spans)


def remember(expected: np.ndarray, actual: np.ndarray, params: Params, spans: Spans) -> None:
    """A pass made elsewhere over ``actual`` and a copy of ``expected`` (a warm worker's),
    kept for as long as ``expected`` lives."""
    key = id(expected)
    _passes[key] = (weakref.ref(expected), _place(actual), params, spans)
    weakref.finalize(expected, _passes.pop, key, None)


def _recall(actual: np.ndarray, expected: np.ndarray, params: Params) -> Spans | None:
    known = _passes.get(id(expected))
    if known is None or known[0]() is not expected or known[1:3] != (_place(actual), params):
        return None
    return known[3]


def _place(arr: np.ndarray) -> tuple:
    """Which array this is, as far as a pass goes: its memory, layout and dtype."""
    return arr.__array_interface__["data"][0], arr.shape, arr.strides, arr.dtype.str
