"""The default strategy mix: what an op is fuzzed with when its [ops.fuzz] table says nothing.

Kernel authors rarely write fuzz tables, so the defaults decide which bugs are found.
Each case draws, from its own seed alone (so Reproduce and Minimize regenerate it), one
class per axis, uniformly, in the manner of Hypothesis' strategies:

    layout        MIX_LAYOUTS        stream "layout" (as the original; a wider pool)
    values        MIX_DISTRIBUTIONS  stream "distribution"
    sizes         SIZE_CLASSES       stream "shape" -> "size"; rank from "shape" -> "rank"

With 100 iterations every class is drawn about 100/len(pool) times (at least a few
times for all but very unlucky seeds); the run's coverage counts what was reached.
An axis whose knobs the op's table (or a request's fuzz_config) sets explicitly draws
as the original did instead (``FuzzConfig.mix``).
"""

from __future__ import annotations

import math

from .settings import LAYOUTS
from ..rng import SeededRng

AXES = ("layouts", "values", "shapes")
"""The axes of a case the mix can draw: ``FuzzConfig.mix`` holds those it does."""

AXIS_KEYS: dict[str, tuple[str, ...]] = {
    "layouts": ("layouts",),
    "values": ("distributions", "value_range"),
    "shapes": ("batch_sizes", "seq_lengths", "hidden_dims", "min_dims", "max_dims", "min_size",
               "max_size", "edge_case_prob", "op_schema"),
}
"""The original's knobs per axis: setting any of them makes that axis draw as the original."""

MIX_LAYOUTS = LAYOUTS
"""Contiguous, transposed, strided (gaps filled with NaN), channels_last, offset views."""

MIX_DISTRIBUTIONS = ("uniform", "normal", "scaled", "large", "tiny", "mixed_sign", "constant_rows",
                     "ties", "nan_injected")
"""Normal and uniform at several scales, magnitudes that overflow exp (not sums), subnormals,
cancellation, constant rows, ties, and NaN/+-Inf at random positions (judged with NaN
parity). ``huge`` and ``boundary`` are left out: sums of values within 1/16 of the max
overflow in any finite-precision order, so a correct kernel could fail against a float64
oracle."""

SIZE_CLASSES = ("empty", "one", "prime", "pow2", "block", "long")
"""Which sizes a case's dims get: a 0 somewhere, 1s somewhere, a prime last dim, 2^k +- 1,
a multiple of a block size +- 1, or a long last dim (>= 4096)."""

MIX_RANKS = (1, 2, 2, 3, 4, 4)
"""Ranks drawn (2-D rows and 4-D for channels_last weigh double)."""

MIX_MAX_ELEMENTS = 1 << 14
"""Elements per input outside the ``long`` class (fast cases; the minimizer shrinks anyway)."""

LONG_ROWS = (4095, 4096, 4097, 5003, 8192)
"""Last dims of the ``long`` class: longer than any one block of a typical kernel."""

BLOCKS = (16, 32, 64, 128, 256, 1024)
PRIMES = (2, 3, 5, 7, 11, 13, 17, 31, 37, 61, 67, 97, 127, 131, 251, 257, 509, 521, 1021)
_SMALL = (1, 2, 3, 4, 5, 7, 8, 16)
"""Leading dims: small, so that the case's elements go to its last dim."""


def mix_shape(rng: SeededRng) -> tuple[int, ...]:
    """A shape of one of SIZE_CLASSES, drawn from ``rng`` (the case's "shape" stream)."""
    rank = rng.derive("rank").choice(MIX_RANKS)
    size = rng.derive("size")
    kind = size.choice(SIZE_CLASSES)
    dims = [size.choice(_SMALL) for _ in range(rank - 1)]
    if kind == "long":
        last = size.choice(LONG_ROWS)
        return (*_fit(dims, MIX_MAX_ELEMENTS // 2 // last or 1), last)
    if kind == "prime":
        last = size.choice(PRIMES)
    elif kind == "pow2":
        last = max(1, 2 ** size.gen_range(1, 11) + size.gen_range(0, 3) - 1)
    elif kind == "block":
        last = size.choice(BLOCKS) * size.gen_range(1, 4) + size.gen_range(0, 3) - 1
    else:
        last = size.choice(PRIMES[:8])
    shape = [*_fit(dims, MIX_MAX_ELEMENTS // last or 1), last]
    if kind in ("empty", "one"):
        shape[size.gen_range(0, rank)] = 0 if kind == "empty" else 1
    return tuple(shape)


def _fit(dims: list[int], budget: int) -> list[int]:
    """Leading dims whose product is at most ``budget`` (the largest halved first)."""
    dims = list(dims)
    while dims and math.prod(dims) > budget:
        i = dims.index(max(dims))
        dims[i] = max(1, dims[i] // 2)
    return dims


def size_classes(shape: list[int] | tuple[int, ...]) -> list[str]:
    """Every SIZE_CLASSES entry ``shape`` belongs to (a shape can be in several)."""
    found = []
    last = shape[-1] if shape else 1
    if 0 in shape:
        found.append("empty")
    if 1 in shape or not shape:
        found.append("one")
    if _is_prime(last):
        found.append("prime")
    if any(abs(last - 2 ** k) <= 1 for k in range(1, 14)):
        found.append("pow2")
    if last >= 15 and any(abs(last - b * round(last / b)) <= 1 for b in BLOCKS):
        found.append("block")
    if last >= LONG_ROWS[0]:
        found.append("long")
    return found


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % p for p in range(2, math.isqrt(n) + 1))
