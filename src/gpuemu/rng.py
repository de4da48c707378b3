"""The seeded RNG of the original gpuemu, bit for bit (DESIGN.md, "RNG").

One seed names one test case in every tool, so the sequence is a compatibility
contract: splitmix64 seeding, the original's xorshift128+ variant, and BLAKE2b seed
derivation. ``tests/data/rng_golden.json`` pins it. Bulk draws (``fill_u64``,
``randn``) run in the optional C extension ``gpuemu._rngfast`` when it is built and
fall back to the pure-Python loops below, which produce the same values.
"""

from __future__ import annotations

import hashlib
import math
import operator
import time
from collections.abc import MutableSequence, Sequence
from typing import Any, TypeVar

import numpy as np

from gpuemu.errors import InvalidRequest

try:
    from gpuemu import _rngfast
except ImportError:  # no compiler at install time: the pure-Python loops stand in
    _rngfast = None

T = TypeVar("T")

MASK64 = (1 << 64) - 1
_F64_SCALE = 1.0 / (1 << 53)
_F32_SCALE = 1.0 / (1 << 24)
_TWO_PI = 2.0 * math.pi
_U1_FLOOR = 1e-300


def check_seed(seed: Any, what: str = "seed") -> int:
    """``seed`` as an int in [0, 2**64), or InvalidRequest (a ValueError) naming it."""
    if isinstance(seed, bool):
        raise InvalidRequest(f"{what} {seed!r} is a bool; pass an integer in [0, 2**64)", what)
    try:
        value = operator.index(seed)
    except TypeError:
        raise InvalidRequest(
            f"{what} {seed!r} is a {type(seed).__name__}, not an integer; "
            "pass an integer in [0, 2**64)", what) from None
    if not 0 <= value <= MASK64:
        raise InvalidRequest(
            f"{what} {value} is outside [0, 2**64); seeds are unsigned 64-bit integers", what)
    return value


def _check_count(n: Any, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InvalidRequest(f"{what} must be a non-negative integer, got {n!r}", what)
    return int(n)


def splitmix64(z: int) -> int:
    """The standard splitmix64 finaliser of ``z`` (wrapping u64 arithmetic)."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def derive_seed(seed: int, domain: str) -> int:
    """BLAKE2b-64 of ``seed`` (8 little-endian bytes) + UTF-8 ``domain``, read little-endian."""
    seed = check_seed(seed)
    if not isinstance(domain, str):
        raise InvalidRequest(f"domain {domain!r} must be a str, e.g. 'iter_0' or 'dtype'", "domain")
    digest = hashlib.blake2b(seed.to_bytes(8, "little") + domain.encode("utf-8"), digest_size=8)
    return int.from_bytes(digest.digest(), "little")


def generate_seed() -> int:
    """A fresh seed: the current time in nanoseconds, masked to 64 bits (as the original)."""
    return time.time_ns() & MASK64


def _fill_u64_py(s0: int, s1: int, out: np.ndarray) -> tuple[int, int]:
    """Pure-Python twin of ``_rngfast.fill_u64``: the next len(out) draws into ``out``."""
    values = []
    for _ in range(len(out)):
        x, y = s0, s1
        s0 = y
        x ^= (x << 23) & MASK64
        x ^= x >> 17
        x ^= y ^ (y >> 26)
        s1 = x ^ y
        values.append((x + y) & MASK64)
    out[:] = values
    return s0, s1


def _fill_normal_py(s0: int, s1: int, out: np.ndarray) -> tuple[int, int]:
    """Pure-Python twin of ``_rngfast.fill_normal``: Box-Muller pairs in float64."""
    n = len(out)
    draws = np.empty(n + n % 2, dtype=np.uint64)
    state = _fill_u64_py(s0, s1, draws)
    values = []
    for u1_bits, u2_bits in zip(draws[0::2].tolist(), draws[1::2].tolist()):
        u1 = max((u1_bits >> 11) * _F64_SCALE, _U1_FLOOR)
        theta = _TWO_PI * ((u2_bits >> 11) * _F64_SCALE)
        r = math.sqrt(-2.0 * math.log(u1))
        values += (r * math.cos(theta), r * math.sin(theta))
    out[:] = values[:n]
    return state


# The backend in use; tests compare both backends directly.
HAVE_C_ACCEL = _rngfast is not None
_fill_u64 = _rngfast.fill_u64 if _rngfast is not None else _fill_u64_py
_fill_normal = _rngfast.fill_normal if _rngfast is not None else _fill_normal_py


def _shape_tuple(shape: int | Sequence[int]) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    for d in dims:
        _check_count(d, f"each dimension of shape {dims!r}")
    return tuple(int(d) for d in dims)


class SeededRng:
    """The original gpuemu generator: deterministic from ``seed`` alone.

    Scalar methods draw one u64 each (``randn`` draws two per pair); the ``fill_*``
    methods return exactly what as many scalar calls would, as numpy arrays.
    """

    __slots__ = ("_seed", "_s0", "_s1")

    def __init__(self, seed: int):
        self._seed = check_seed(seed)
        self._s0 = splitmix64(self._seed)
        self._s1 = splitmix64((self._seed + 1) & MASK64)
        if self._s0 == 0 and self._s1 == 0:
            self._s0 = 1

    @property
    def seed(self) -> int:
        """The seed this generator was made from (``derive`` starts from it)."""
        return self._seed

    @property
    def state(self) -> tuple[int, int]:
        """The current (s0, s1); two generators with equal states draw the same values."""
        return self._s0, self._s1

    def __repr__(self) -> str:
        return f"SeededRng(seed={self._seed})"

    def derive(self, domain: str) -> SeededRng:
        """An independent generator for ``domain``, from the seed (not the current state)."""
        return SeededRng(derive_seed(self._seed, domain))

    def gen_u64(self) -> int:
        """The next draw, an int in [0, 2**64)."""
        x, y = self._s0, self._s1
        self._s0 = y
        x ^= (x << 23) & MASK64
        x ^= x >> 17
        x ^= y ^ (y >> 26)
        self._s1 = x ^ y
        return (x + y) & MASK64

    def gen_f32(self) -> float:
        """A float in [0, 1) with 24 random bits (exactly representable as float32)."""
        return (self.gen_u64() >> 40) * _F32_SCALE

    def gen_f64(self) -> float:
        """A float in [0, 1) with 53 random bits."""
        return (self.gen_u64() >> 11) * _F64_SCALE

    def gen_range(self, lo: int, hi: int) -> int:
        """``lo + u64 % (hi - lo)``: an int in [lo, hi) (modulo bias kept, as the original)."""
        span = hi - lo
        if not 0 < span <= MASK64:
            raise InvalidRequest(
                f"gen_range({lo}, {hi}): need lo < hi with hi - lo < 2**64", "range")
        return lo + self.gen_u64() % span

    def choice(self, xs: Sequence[T]) -> T:
        """``xs[u64 % len(xs)]``."""
        if len(xs) == 0:
            raise InvalidRequest("choice() from an empty sequence; pass at least one item", "xs")
        return xs[self.gen_u64() % len(xs)]

    def gen_bool(self, p: float) -> bool:
        """True with probability ``p``: ``gen_f64() < p``."""
        if not 0.0 <= p <= 1.0:
            raise InvalidRequest(f"gen_bool probability {p!r} is outside [0, 1]", "p")
        return self.gen_f64() < p

    def shuffle(self, xs: MutableSequence[Any]) -> None:
        """Shuffle ``xs`` in place: Fisher-Yates from the last index, j = u64 % (i + 1)."""
        for i in range(len(xs) - 1, 0, -1):
            j = self.gen_u64() % (i + 1)
            xs[i], xs[j] = xs[j], xs[i]

    def fill_u64(self, n: int) -> np.ndarray:
        """The next ``n`` gen_u64 values as a uint64 array (advances the state by ``n``)."""
        out = np.empty(_check_count(n, "fill_u64 count"), dtype=np.uint64)
        self._s0, self._s1 = _fill_u64(self._s0, self._s1, out)
        return out

    def fill_f64(self, n: int) -> np.ndarray:
        """The next ``n`` gen_f64 values as a float64 array."""
        return (self.fill_u64(n) >> np.uint64(11)).astype(np.float64) * _F64_SCALE

    def fill_range(self, n: int, lo: int, hi: int) -> np.ndarray:
        """The next ``n`` gen_range(lo, hi) values as an int64 array (bounds within int64)."""
        if not (-(1 << 63) <= lo < hi <= (1 << 63) and hi - lo <= MASK64):
            raise InvalidRequest(
                f"fill_range({lo}, {hi}): need -2**63 <= lo < hi <= 2**63 and hi - lo < 2**64 "
                "for an int64 result; use fill_u64 for wider ranges", "range")
        offsets = self.fill_u64(n) % np.uint64(hi - lo)
        # Wrapping u64 addition, then a two's-complement view: exact because lo <= v < hi.
        return (offsets + np.uint64(lo & MASK64)).view(np.int64)

    def fill_bool(self, n: int, p: float) -> np.ndarray:
        """The next ``n`` gen_bool(p) values as a bool array."""
        if not 0.0 <= p <= 1.0:
            raise InvalidRequest(f"fill_bool probability {p!r} is outside [0, 1]", "p")
        return self.fill_f64(n) < p

    def randn_f64(self, shape: int | Sequence[int]) -> np.ndarray:
        """Standard normals of ``shape`` in float64, Box-Muller pairs filled in C order.

        Each pair draws two u64 (u1 = max(gen_f64, 1e-300), u2 = gen_f64) and yields
        r*cos(2*pi*u2) then r*sin(2*pi*u2); an odd count drops the last sine.
        """
        dims = _shape_tuple(shape)
        out = np.empty(math.prod(dims), dtype=np.float64)
        self._s0, self._s1 = _fill_normal(self._s0, self._s1, out)
        return out.reshape(dims)

    def randn(self, shape: int | Sequence[int]) -> np.ndarray:
        """``randn_f64(shape)`` cast to float32 (the draws are made in float64)."""
        return self.randn_f64(shape).astype(np.float32)
