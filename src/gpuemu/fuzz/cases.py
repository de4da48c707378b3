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

from dataclasses import dataclass, replace
from typing import Annotated, Any

import msgspec
import numpy as np

from .settings import DISTRIBUTIONS, LAYOUTS
from ..dtypes import DType
from ..errors import ConfigError, InvalidRequest
from ..rng import SeededRng, check_seed, derive_seed
from .config import FuzzConfig, check_choice
from .strategies import mix_shape
from .values import cast, draw, shrink, target

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
        layout=rng.derive("layout").choice(config.layout_pool),
        distribution=rng.derive("distribution").choice(config.distribution_pool),
        shapes=_draw_shapes(config, rng.derive("shape")),
        kwargs=config.kwargs, value_range=config.value_range)


def shapes_for_seed(config: FuzzConfig, seed: int) -> dict[str, list[int]]:
    """The input shapes of the case named by ``seed`` (the ``shapes`` of its spec)."""
    return _draw_shapes(config, SeededRng(check_seed(seed)).derive("shape"))


def _draw_shapes(config: FuzzConfig, shape_rng: SeededRng) -> dict[str, list[int]]:
    schema = config.schema
    if schema is not None:
        sizes = {d.name: shape_rng.derive(d.name).choice(d.candidates) for d in schema.dims}
        return {name: schema.shape(schema.inputs[name], sizes) for name in config.input_names}
    if config.mixed_shapes:
        return {name: list(mix_shape(shape_rng)) for name in config.input_names}
    edge = shape_rng.gen_bool(config.edge_case_prob)
    if edge:
        drawn: tuple[int, ...] = shape_rng.choice(config.edge_cases or EDGE_SHAPES)
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
    drawing = replace(target(dtype), lo=lo, hi=hi)
    data_rng = SeededRng(spec.seed).derive("data")
    inputs = {}
    for k, (name, shape) in enumerate(spec.shapes.items()):
        if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
            raise InvalidRequest(f"spec.shapes.{name}: expected sizes >= 0, got {shape!r}",
                                 f"spec.shapes.{name}")
        drawn = draw(drawing, spec.distribution, data_rng.derive(f"input_{k}"), tuple(shape))
        shrunk = shrink(drawn, drawing, spec.nonzero, spec.value_scale)
        inputs[name] = apply_layout(cast(shrunk, dtype).reshape(shape), spec.layout)
    return inputs


def generate_case(config: FuzzConfig, seed: int, op_name: str = "") -> TestCase:
    """The case named by ``seed``: ``spec_for_seed`` then ``materialize``."""
    spec = spec_for_seed(config, seed, op_name)
    return TestCase(spec, materialize(spec))


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
