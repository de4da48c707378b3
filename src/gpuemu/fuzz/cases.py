"""Seeded test cases: one seed names one case in every tool (DESIGN.md "Reproducibility").

A case is a pure function of (case seed, FuzzConfig). The derivation is the original
gpuemu fuzzer's, so that a seed printed by either tool names the same case::

    case seed      derive_seed(root_seed, f"iter_{i}")
    dtype          SeededRng(case_seed).derive("dtype").choice(dtypes)
    layout         SeededRng(case_seed).derive("layout").choice(layouts)
    distribution   SeededRng(case_seed).derive("distribution").choice(distributions)  (ours)
    shapes         SeededRng(case_seed).derive("shape")                 (see spec_for_seed)
    input k        SeededRng(case_seed).derive("data").derive(f"input_{k}"), one draw per
                   element in C order of the logical shape               (see _DISTRIBUTIONS)

``spec_for_seed`` draws everything but the data into a CaseSpec; ``materialize`` turns a
spec into arrays. A spec is all that Reproduce and the minimizer need: it is small,
serialisable, and a shrunk spec is still a valid case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Annotated, Any

import ml_dtypes
import msgspec
import numpy as np

from ..config import DISTRIBUTIONS, LAYOUTS
from ..dtypes import DType
from ..errors import ConfigError, InvalidRequest
from ..rng import SeededRng, check_seed, derive_seed
from .config import FuzzConfig, check_choice

EDGE_SHAPES: tuple[tuple[int, ...], ...] = (
    (0,), (1,), (17,), (127,),                                  # 1-D: empty, single, odd
    (1, 1), (0, 16), (16, 0), (3, 17), (1, 33), (33, 1), (7, 15),
    (1, 1, 1), (2, 0, 32), (1, 3, 127), (3, 17, 33), (2, 5, 129),
)
"""Shapes drawn with probability ``edge_case_prob`` when there is no schema (ours; the
original's list was configurable and empty by default): size-0 and size-1 dims, odd sizes
and non-multiples of 16 (1, 3, 5, 7, 15, 17, 33, 127, 129), and 1-D shapes. They
ignore ``min_size`` -- they exist to be degenerate -- but obey the other limits."""

OFFSET_ELEMENTS = 3
"""Leading elements before an ``offset`` view: odd, so the data is misaligned for any vector width."""


class CaseSpec(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """Everything ``materialize`` needs to rebuild a case's inputs, and nothing else.

    ``shapes`` lists the inputs in order (input k draws from stream ``input_{k}``).
    ``nonzero``, if set, zeroes every element after the first ``nonzero`` in C order;
    ``value_scale``, if set (0..1), multiplies the drawn values before the cast to the
    dtype (integers: truncated toward zero; bool: 0 makes every element False). Both are
    the minimizer's knobs for simpler values; the draws themselves never change.
    """

    op_name: str
    seed: int
    dtype: str
    layout: str
    distribution: str
    shapes: dict[str, list[int]]
    kwargs: dict[str, Any] = {}
    value_range: tuple[float, float] = (-10.0, 10.0)
    nonzero: Annotated[int, msgspec.Meta(ge=0)] | None = None
    value_scale: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] | None = None


@dataclass(frozen=True, slots=True)
class TestCase:
    """A generated case: its spec and the input arrays (with the spec's memory layout)."""

    __test__ = False  # not a pytest test class

    spec: CaseSpec
    inputs: dict[str, np.ndarray]

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def op_name(self) -> str:
        return self.spec.op_name

    @property
    def dtype(self) -> DType:
        return DType.parse(self.spec.dtype)

    @property
    def layout(self) -> str:
        return self.spec.layout

    @property
    def distribution(self) -> str:
        return self.spec.distribution

    @property
    def shape(self) -> tuple[int, ...]:
        """The first input's shape (seed 002's TestCase has one shape)."""
        return tuple(next(iter(self.spec.shapes.values()), ()))

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(shape) for name, shape in self.spec.shapes.items()}

    @property
    def kwargs(self) -> dict[str, Any]:
        return self.spec.kwargs


def case_seed(root_seed: int, i: int) -> int:
    """The public seed of case ``i`` of a run with root seed ``root_seed``."""
    return derive_seed(root_seed, f"iter_{i}")


def spec_for_seed(config: FuzzConfig, seed: int, op_name: str = "") -> CaseSpec:
    """Draw the case named by ``seed``: dtype, layout, distribution and shapes.

    Shapes: with ``config.schema``, each symbolic dim (in schema order) picks
    ``shape_rng.derive(dim).choice(candidates)`` and literal sizes are kept, so inputs
    that name the same dim agree (matmul ``a[M, K]``, ``b[K, N]``). Without one, the
    shape rng draws ``gen_bool(edge_case_prob)``, then either ``choice(EDGE_SHAPES)`` or
    ``[choice(batch_sizes), choice(seq_lengths), choice(hidden_dims)]``, and every input
    gets that shape, adjusted only where it breaks a limit (see ``_limit``).
    """
    if not config.input_names:
        raise ConfigError(
            f"op {op_name!r} declares no input_names and its scripts read no input by a literal"
            " name (inputs[\"x\"]), so the daemon cannot name the inputs of the cases it"
            " generates; add input_names = [\"x\", ...] to its [[ops]] entry in gpuemu.toml")
    rng = SeededRng(check_seed(seed))
    return CaseSpec(
        op_name=op_name, seed=rng.seed,
        dtype=rng.derive("dtype").choice(config.dtypes).value,
        layout=rng.derive("layout").choice(config.layouts),
        distribution=rng.derive("distribution").choice(config.distributions),
        shapes=_draw_shapes(config, rng.derive("shape")),
        kwargs=config.kwargs, value_range=config.value_range)


def shapes_for_seed(config: FuzzConfig, seed: int) -> dict[str, list[int]]:
    """The input shapes of the case named by ``seed`` (the ``shapes`` of its spec)."""
    return _draw_shapes(config, SeededRng(check_seed(seed)).derive("shape"))


def _draw_shapes(config: FuzzConfig, shape_rng: SeededRng) -> dict[str, list[int]]:
    schema = config.schema
    if schema is not None:
        sizes = {d.name: shape_rng.derive(d.name).choice(d.candidates) for d in schema.dims}
        return {name: [sizes[r] if isinstance(r, str) else r for r in schema.inputs[name]]
                for name in config.input_names}
    edge = shape_rng.gen_bool(config.edge_case_prob)
    if edge:
        drawn: tuple[int, ...] = shape_rng.choice(EDGE_SHAPES)
    else:
        drawn = (shape_rng.choice(config.batch_sizes), shape_rng.choice(config.seq_lengths),
                 shape_rng.choice(config.hidden_dims))
    shape = _limit(drawn, config, edge)
    return {name: list(shape) for name in config.input_names}


def _limit(shape: tuple[int, ...], config: FuzzConfig, edge: bool) -> tuple[int, ...]:
    """Fit a drawn shape to the limits, changing nothing that already fits.

    Too many dims: the leading ones are dropped; too few: leading 1s are added. Then
    every size is capped at ``max_size`` and, for regular draws, raised to ``min_size``.
    No draws are made, so the defaults (which every regular draw fits) stay bit-exact.
    """
    dims = shape[max(0, len(shape) - config.max_dims):]
    dims = (1,) * max(0, config.min_dims - len(dims)) + dims
    least = 0 if edge else config.min_size
    return tuple(min(max(d, least), config.max_size) for d in dims)


def materialize(spec: CaseSpec) -> dict[str, np.ndarray]:
    """The inputs of ``spec``: values drawn, then nonzero/value_scale, cast, then the layout.

    The layout changes memory only: every layout holds the same logical values as
    ``contiguous``. Raises InvalidRequest naming the spec field when one is invalid.
    """
    dtype = DType.parse(spec.dtype, "spec.dtype")
    check_choice(spec.layout, "spec.layout", LAYOUTS, "layout")
    check_choice(spec.distribution, "spec.distribution", DISTRIBUTIONS, "distribution")
    if spec.nonzero is not None and (isinstance(spec.nonzero, bool) or spec.nonzero < 0):
        raise InvalidRequest(f"spec.nonzero: expected an integer >= 0, got {spec.nonzero!r}", "spec.nonzero")
    if spec.value_scale is not None and not 0.0 <= spec.value_scale <= 1.0:
        raise InvalidRequest(f"spec.value_scale: expected a number in [0, 1], got {spec.value_scale!r}",
                             "spec.value_scale")
    lo, hi = spec.value_range
    target = replace(_TARGETS[dtype], lo=lo, hi=hi)
    data_rng = SeededRng(spec.seed).derive("data")
    inputs = {}
    for k, (name, shape) in enumerate(spec.shapes.items()):
        if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
            raise InvalidRequest(f"spec.shapes.{name}: expected sizes >= 0, got {shape!r}",
                                 f"spec.shapes.{name}")
        drawn = _draw(target, spec.distribution, data_rng.derive(f"input_{k}"), math.prod(shape))
        shrunk = _shrink(drawn, target, spec.nonzero, spec.value_scale)
        inputs[name] = apply_layout(_cast(shrunk, dtype).reshape(shape), spec.layout)
    return inputs


def generate_case(config: FuzzConfig, seed: int, op_name: str = "") -> TestCase:
    """The case named by ``seed``: ``spec_for_seed`` then ``materialize``."""
    spec = spec_for_seed(config, seed, op_name)
    return TestCase(spec, materialize(spec))


# -- values: drawn in float64 (floats), int64/uint64 (ints) or bool, cast afterwards -------


@dataclass(frozen=True, slots=True)
class _Target:
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


def _make_target(dtype: DType) -> _Target:
    if dtype.is_float:
        f = ml_dtypes.finfo(dtype.numpy)
        return _Target(dtype, True, float(f.max), float(f.min), float(f.smallest_normal),
                       float(f.smallest_subnormal), int(f.nmant))
    if dtype is DType.Bool:
        return _Target(dtype, False, 1, 0, bits=1)
    i = np.iinfo(dtype.numpy)
    return _Target(dtype, i.min < 0, int(i.max), int(i.min), bits=i.bits)


_TARGETS = {d: _make_target(d) for d in DType}
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


def _clip_int(x: np.ndarray, t: _Target) -> np.ndarray:
    """Float values as the target's integers, clipped to its range (2**63 and 2**64 are not in it)."""
    hi = float(t.max)
    if hi > t.max:
        hi = float(np.nextafter(hi, 0.0))
    return np.clip(x, float(t.min), hi).astype(np.int64 if t.signed else np.uint64)


def _pick(rng: SeededRng, n: int, pool: np.ndarray) -> np.ndarray:
    return pool[rng.fill_u64(n) % np.uint64(len(pool))]


def _uniform(rng: SeededRng, n: int, t: _Target) -> np.ndarray:
    """The original: floats (u*2-1)*half + mid; signed ints gen_range(0,200)-100; unsigned low bits."""
    if t.dtype.is_float:
        mid, half = (t.lo + t.hi) / 2, (t.hi - t.lo) / 2
        return mid + (rng.fill_f64(n) * 2 - 1) * half
    if t.signed:
        return rng.fill_range(n, 0, 200) - 100
    return rng.fill_u64(n) & np.uint64(t.max)


def _normal(rng: SeededRng, n: int, t: _Target) -> np.ndarray:
    """Standard normal (as torch.randn); ints: round(10 z), absolute for unsigned."""
    z = rng.randn_f64(n)
    if t.dtype.is_float:
        return z
    z = np.rint(z * 10)
    return _clip_int(z if t.signed else np.abs(z), t)


def _tiny(rng: SeededRng, n: int, t: _Target) -> np.ndarray:
    """Subnormals and the smallest normals, either sign; ints -1, 0, 1."""
    u = rng.fill_u64(n)
    if t.dtype.is_float:
        exponent = _field(u, t.nmant + 4).astype(np.int32) - t.nmant
        return _with_sign(u, np.ldexp((1 + _unit(u)) * t.normal, exponent))
    return (u % np.uint64(3)).astype(np.int64) - 1 if t.signed else u % np.uint64(2)


def _huge(rng: SeededRng, n: int, t: _Target) -> np.ndarray:
    """Within 1/16 of the dtype's max magnitude (ints: within 16 of max or min)."""
    u = rng.fill_u64(n)
    if t.dtype.is_float:
        return _with_sign(u, t.max * (1 - _unit(u) / 16))
    off = (u >> np.uint64(1)) % np.uint64(16)
    if not t.signed:
        return np.uint64(t.max) - off
    off = off.astype(np.int64)
    return np.where(u >> np.uint64(63) == 1, t.max - off, t.min + off)


def _mixed_sign(rng: SeededRng, n: int, t: _Target) -> np.ndarray:
    """Both signs, magnitudes spread over 16 binades below max(|lo|, |hi|): cancellation."""
    u = rng.fill_u64(n)
    if t.dtype.is_float:
        bound = max(abs(t.lo), abs(t.hi))
        return _with_sign(u, np.ldexp(bound * (1 + _unit(u)) / 2, -_field(u, 16).astype(np.int32)))
    top = min(t.bits - t.signed, 16)
    magnitude = (u & _U32) >> (np.uint64(32) - _field(u, top + 1))
    return _with_sign(u, magnitude.astype(np.int64)) if t.signed else magnitude


def _equal(rng: SeededRng, n: int, t: _Target) -> np.ndarray:
    """One to four distinct uniform values (ties for max/argmax, zero variance)."""
    return _pick(rng, n, _uniform(rng, 1 + rng.gen_u64() % 4, t))


def _zeros(rng: SeededRng, n: int, t: _Target) -> np.ndarray:
    """Zeros; for floats +0.0 and -0.0."""
    if t.dtype.is_float:
        return _with_sign(rng.fill_u64(n), np.zeros(n))
    return np.zeros(n, dtype=np.int64 if t.signed else np.uint64)


def _boundary(rng: SeededRng, n: int, t: _Target) -> np.ndarray:
    """0, +-1, +-max, +-smallest normal, +-smallest subnormal (ints: 0, +-1, max, min, max-1, min+1)."""
    if t.dtype.is_float:
        pool = [0.0, 1.0, -1.0, t.max, -t.max, t.normal, -t.normal, t.subnormal, -t.subnormal]
        return _pick(rng, n, np.array(pool))
    pool = [0, 1, -1, t.max, t.min, t.max - 1, t.min + 1] if t.signed else [0, 1, t.max, t.max - 1]
    return _pick(rng, n, np.array(pool, dtype=np.int64 if t.signed else np.uint64))


def _nan_injected(rng: SeededRng, n: int, t: _Target) -> np.ndarray:
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


_DISTRIBUTIONS = {"uniform": _uniform, "normal": _normal, "tiny": _tiny, "huge": _huge,
                  "mixed_sign": _mixed_sign, "equal": _equal, "zeros": _zeros, "boundary": _boundary,
                  "nan_injected": _nan_injected}
_BOOL = {"zeros": lambda rng, n: np.zeros(n, dtype=bool), "huge": lambda rng, n: np.ones(n, dtype=bool),
         "equal": lambda rng, n: np.full(n, rng.gen_bool(0.5))}


def _draw(t: _Target, distribution: str, rng: SeededRng, n: int) -> np.ndarray:
    """``n`` values in C order; bool is gen_bool(0.5) except zeros (False), huge (True), equal."""
    if t.dtype is DType.Bool:
        return _BOOL.get(distribution, lambda rng, n: rng.fill_bool(n, 0.5))(rng, n)
    return _DISTRIBUTIONS[distribution](rng, n, t)


def _shrink(v: np.ndarray, t: _Target, nonzero: int | None, scale: float | None) -> np.ndarray:
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


def _cast(v: np.ndarray, dtype: DType) -> np.ndarray:
    """Round to nearest even; float16/bfloat16 go through float32 (as the original's draws did)."""
    if dtype is DType.Float64 or not dtype.is_float:
        return v if v.dtype == dtype.numpy else v.astype(dtype.numpy)
    with np.errstate(over="ignore"):  # a value_range beyond the dtype honestly becomes +-inf
        v32 = v.astype(np.float32)
        return v32 if dtype is DType.Float32 else v32.astype(dtype.numpy)


# -- layouts: same logical values, different memory ---------------------------------------


def _poison(dtype: np.dtype) -> Any:
    """Fill for memory outside the view: a kernel that reads it produces a visible error."""
    if dtype.kind == "b":
        return True
    return np.iinfo(dtype).max if dtype.kind in "iu" else np.nan


def _transposed(x: np.ndarray) -> np.ndarray | None:
    if x.ndim < 2:
        return None
    return np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)


def _strided(x: np.ndarray) -> np.ndarray | None:
    if x.ndim == 0:
        return None
    buf = np.full((*x.shape[:-1], 2 * x.shape[-1]), _poison(x.dtype), dtype=x.dtype)
    view = buf[..., ::2]
    view[...] = x
    return view


_CHANNELS_LAST = {3: (0, 2, 1), 4: (0, 2, 3, 1)}  # NCL -> NLC, NCHW -> NHWC


def _channels_last(x: np.ndarray) -> np.ndarray | None:
    perm = _CHANNELS_LAST.get(x.ndim)
    if perm is None:
        return None
    return np.ascontiguousarray(x.transpose(perm)).transpose(np.argsort(perm))


def _offset(x: np.ndarray) -> np.ndarray:
    buf = np.full(x.size + OFFSET_ELEMENTS, _poison(x.dtype), dtype=x.dtype)
    view = buf[OFFSET_ELEMENTS:].reshape(x.shape)
    view[...] = x
    return view


_LAYOUTS = {"transposed": _transposed, "strided": _strided, "channels_last": _channels_last,
            "offset": _offset}
_FALLBACKS = {"transposed": ("strided", "offset"), "channels_last": ("transposed", "strided", "offset"),
              "strided": ("offset",), "offset": ()}


def apply_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """``x`` (C-contiguous) with the memory of ``layout``; the logical values are unchanged.

    Where a layout cannot make the tensor non-contiguous (``transposed`` of a 1-D tensor
    or with a size-1 dim among the last two, ``channels_last`` of anything but 3-D/4-D or
    with one channel, ``strided`` of a 0-d tensor) the next one that can is used, in the order
    channels_last -> transposed -> strided -> offset. ``offset`` views start
    ``OFFSET_ELEMENTS`` into their buffer (contiguous, but misaligned). Size-0 tensors
    stay as they are. The spec keeps the layout that was drawn.
    """
    if check_choice(layout, "layout", LAYOUTS, "layout") == "contiguous" or x.size == 0:
        return x
    for name in (layout, *_FALLBACKS[layout]):
        out = _LAYOUTS[name](x)
        if out is not None and (name == "offset" or not out.flags.c_contiguous):
            return out
    raise AssertionError("unreachable: offset always applies")  # pragma: no cover
