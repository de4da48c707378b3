"""Value distributions: what a case's elements are, drawn per element in C order.

Each distribution takes the input's stream, its shape and a ``Target`` (what it needs to
know about the dtype) and returns float64 (floats), int64/uint64 (ints) or bool values;
``cast`` then rounds them to the dtype. The original's ``uniform`` is bit-exact
(DESIGN.md "RNG"); the others are ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..dtypes import DType, finfo
from ..rng import SeededRng

# -- values: drawn in float64 (floats), int64/uint64 (ints) or bool, cast afterwards -------


@dataclass(frozen=True, slots=True)
class Target:
    """What a distribution needs to know about the dtype it draws for."""

    dtype: DType
    signed: bool
    max: float | int
    min: float | int
    normal: float = 0.0  # smallest normal (floats)
    subnormal: float = 0.0  # smallest subnormal (floats)
    nmant: int = 0
    bits: int = 0
    lo: float = -10.0
    hi: float = 10.0


@cache
def target(dtype: DType) -> Target:
    """What drawing for ``dtype`` needs (made on first use: BFloat16's imports ml_dtypes)."""
    if dtype.is_float:
        f = finfo(dtype.numpy)
        return Target(dtype, True, float(f.max), float(f.min), float(f.smallest_normal),
                       float(f.smallest_subnormal), int(f.nmant))
    if dtype is DType.Bool:
        return Target(dtype, False, 1, 0, bits=1)
    i = np.iinfo(dtype.numpy)
    return Target(dtype, i.min < 0, int(i.max), int(i.min), bits=i.bits)


_U32 = np.uint64(0xFFFFFFFF)


def _unit(u: np.ndarray) -> np.ndarray:
    """The low 32 bits of each draw as a float in [0, 1)."""
    return (u & _U32).astype(np.float64) / 2.0**32


def _field(u: np.ndarray, modulus: int) -> np.ndarray:
    """Bits 32..47 of each draw, modulo ``modulus``."""
    return ((u >> np.uint64(32)) & np.uint64(0xFFFF)) % np.uint64(modulus)


def _with_sign(u: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Bit 63 of each draw picks the sign."""
    return np.where(u >> np.uint64(63) == 1, -magnitude, magnitude)


def _clip_int(x: np.ndarray, t: Target) -> np.ndarray:
    """Float values as the target's integers, clipped to its range (2**63 and 2**64 are not in it)."""
    hi = float(t.max)
    if hi > t.max:
        hi = float(np.nextafter(hi, 0.0))
    return np.clip(x, float(t.min), hi).astype(np.int64 if t.signed else np.uint64)


def _pick(rng: SeededRng, n: int, pool: np.ndarray) -> np.ndarray:
    return pool[rng.fill_u64(n) % np.uint64(len(pool))]


def _uniform(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """The original: floats (u*2-1)*half + mid; signed ints gen_range(0,200)-100; unsigned low bits."""
    if t.dtype.is_float:
        mid, half = (t.lo + t.hi) / 2, (t.hi - t.lo) / 2
        return mid + (rng.fill_f64(n) * 2 - 1) * half
    if t.signed:
        return rng.fill_range(n, 0, 200) - 100
    return rng.fill_u64(n) & np.uint64(t.max)


def _normal(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """Standard normal (as torch.randn); ints: round(10 z), absolute for unsigned."""
    z = rng.randn_f64(n)
    if t.dtype.is_float:
        return z
    z = np.rint(z * 10)
    return _clip_int(z if t.signed else np.abs(z), t)


def _tiny(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """Subnormals and the smallest normals, either sign; ints -1, 0, 1."""
    u = rng.fill_u64(n)
    if t.dtype.is_float:
        exponent = _field(u, t.nmant + 4).astype(np.int32) - t.nmant
        return _with_sign(u, np.ldexp((1 + _unit(u)) * t.normal, exponent))
    return (u % np.uint64(3)).astype(np.int64) - 1 if t.signed else u % np.uint64(2)


def _huge(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """Within 1/16 of the dtype's max magnitude (ints: within 16 of max or min)."""
    u = rng.fill_u64(n)
    if t.dtype.is_float:
        return _with_sign(u, t.max * (1 - _unit(u) / 16))
    off = (u >> np.uint64(1)) % np.uint64(16)
    if not t.signed:
        return np.uint64(t.max) - off
    off = off.astype(np.int64)
    return np.where(u >> np.uint64(63) == 1, t.max - off, t.min + off)


def _mixed_sign(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """Both signs, magnitudes spread over 16 binades below max(|lo|, |hi|): cancellation."""
    u = rng.fill_u64(n)
    if t.dtype.is_float:
        bound = max(abs(t.lo), abs(t.hi))
        return _with_sign(u, np.ldexp(bound * (1 + _unit(u)) / 2, -_field(u, 16).astype(np.int32)))
    top = min(t.bits - t.signed, 16)
    magnitude = (u & _U32) >> (np.uint64(32) - _field(u, top + 1))
    return _with_sign(u, magnitude.astype(np.int64)) if t.signed else magnitude


def _equal(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """One to four distinct uniform values (ties for max/argmax, zero variance)."""
    return _pick(rng, n, _uniform(rng, 1 + rng.gen_u64() % 4, t))


def _zeros(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """Zeros; for floats +0.0 and -0.0."""
    if t.dtype.is_float:
        return _with_sign(rng.fill_u64(n), np.zeros(n))
    return np.zeros(n, dtype=np.int64 if t.signed else np.uint64)


def _boundary(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """0, +-1, +-max, +-smallest normal, +-smallest subnormal (ints: 0, +-1, max, min, max-1, min+1)."""
    if t.dtype.is_float:
        pool = [0.0, 1.0, -1.0, t.max, -t.max, t.normal, -t.normal, t.subnormal, -t.subnormal]
        return _pick(rng, n, np.array(pool))
    pool = [0, 1, -1, t.max, t.min, t.max - 1, t.min + 1] if t.signed else [0, 1, t.max, t.max - 1]
    return _pick(rng, n, np.array(pool, dtype=np.int64 if t.signed else np.uint64))


def _nan_injected(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """Uniform, then 1-4 distinct positions (stream ``nan_injected``) set to NaN, Inf, -Inf, NaN.

    The first is always NaN. Integers cannot hold NaN: they get the uniform values.
    """
    out = _uniform(rng, n, t)
    if t.dtype.is_float and n:
        inj = rng.derive("nan_injected")
        drawn = inj.fill_u64(1 + inj.gen_u64() % 4) % np.uint64(n)
        _, first = np.unique(drawn, return_index=True)
        where = drawn[np.sort(first)]
        out[where] = np.resize([np.nan, np.inf, -np.inf], len(where))
    return out


_SCALES = (1e-4, 1e-2, 1e2, 1e4)


def _scaled(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """Standard normal or uniform in [-1, 1), times 1e-4, 1e-2, 1e2 or 1e4 (stream ``scale``):
    kernels must be right at every scale, not only near 1. Ints: uniform."""
    if not t.dtype.is_float:
        return _uniform(rng, n, t)
    pick = rng.derive("scale")
    scale = pick.choice(_SCALES)
    base = rng.randn_f64(n) if pick.gen_bool(0.5) else rng.fill_f64(n) * 2 - 1
    return base * scale


_F32_MAX = float(np.finfo(np.float32).max)


def large_range(t: Target) -> tuple[float, float]:
    """Magnitudes where exp overflows the dtype (1.2 ln max and up) but sums and squares of a
    few thousand of them still fit in float32, where a correct kernel computes: so a
    softmax without max-subtraction, or a half-precision accumulator, overflows, and a
    correct kernel does not."""
    return 1.2 * math.log(t.max), min(t.max, math.sqrt(_F32_MAX)) / 256


def _large(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """Log-uniform magnitudes in ``large_range``, either sign; ints: as ``huge``."""
    if not t.dtype.is_float:
        return _huge(rng, n, t)
    lo, hi = large_range(t)
    u = rng.fill_u64(n)
    return _with_sign(u, np.exp(math.log(lo) + _unit(u) * math.log(hi / lo)))


_DYADIC = np.arange(-80, 81) / 8.0
"""Values with three fraction bits: sums of thousands of them are exact in float32, so a
constant row has a mean that is exactly its value and a variance of exactly 0."""


def _dyadic(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    pool = _DYADIC if t.dtype.is_float else np.arange(-10, 11) if t.signed else np.arange(21)
    return _pick(rng, n, pool)


def _constant_rows(rng: SeededRng, shape: tuple[int, ...], t: Target) -> np.ndarray:
    """Every row (the last dim) one value: zero variance, all ties, max == min."""
    n = math.prod(shape)
    row = shape[-1] if shape and shape[-1] else 1
    return np.repeat(_dyadic(rng, -(-n // row), t), row)[:n]


def _ties(rng: SeededRng, n: int, t: Target) -> np.ndarray:
    """Two to four distinct dyadic values: ties for max/argmax/sort and exact sums."""
    return _pick(rng, n, _dyadic(rng, 2 + rng.gen_u64() % 3, t))


_DISTRIBUTIONS = {"uniform": _uniform, "normal": _normal, "tiny": _tiny, "huge": _huge,
                  "mixed_sign": _mixed_sign, "equal": _equal, "zeros": _zeros, "boundary": _boundary,
                  "nan_injected": _nan_injected, "scaled": _scaled, "large": _large, "ties": _ties}
_BY_SHAPE = {"constant_rows": _constant_rows}
"""Distributions that need the shape, not only the element count."""
_BOOL = {"zeros": lambda rng, n: np.zeros(n, dtype=bool), "huge": lambda rng, n: np.ones(n, dtype=bool),
         "equal": lambda rng, n: np.full(n, rng.gen_bool(0.5))}


def draw(t: Target, distribution: str, rng: SeededRng, shape: tuple[int, ...]) -> np.ndarray:
    """The values of a ``shape`` input in C order; bool is gen_bool(0.5) except zeros
    (False), huge (True), equal."""
    n = math.prod(shape)
    if t.dtype is DType.Bool:
        return _BOOL.get(distribution, lambda rng, n: rng.fill_bool(n, 0.5))(rng, n)
    if distribution in _BY_SHAPE:
        return _BY_SHAPE[distribution](rng, shape, t)
    return _DISTRIBUTIONS[distribution](rng, n, t)


def shrink(v: np.ndarray, t: Target, nonzero: int | None, scale: float | None) -> np.ndarray:
    """Apply the minimizer's knobs (see CaseSpec) to freshly drawn values."""
    if nonzero is not None:
        v[nonzero:] = 0
    if scale is None or scale == 1:
        return v
    if t.dtype is DType.Bool:
        return v & (scale != 0)
    if t.dtype.is_float:
        return v * scale
    return _clip_int(np.trunc(v.astype(np.float64) * scale), t)


def cast(v: np.ndarray, dtype: DType) -> np.ndarray:
    """Round to nearest even; float16/bfloat16 go through float32 (as the original's draws did)."""
    if dtype is DType.Float64 or not dtype.is_float:
        return v if v.dtype == dtype.numpy else v.astype(dtype.numpy)
    with np.errstate(over="ignore"):  # a value_range beyond the dtype honestly becomes +-inf
        v32 = v.astype(np.float32)
        return v32 if dtype is DType.Float32 else v32.astype(dtype.numpy)
