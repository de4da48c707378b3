"""Tolerances: the per-dtype defaults and the (atol, rtol) pair every check applies.

A pair passes an element when ``|actual - expected| <= atol + rtol * |expected|``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from dataclasses import dataclass
from types import MappingProxyType

import msgspec
import numpy as np

from .dtypes import DType
from .readable import KeyAccess


class ToleranceConfig(msgspec.Struct, KeyAccess, frozen=True):
    """An absolute and a relative tolerance. Integers and bool compare exactly (0, 0).
    Reads as ``tol.atol`` and as ``tol["atol"]`` (``dict(tol)`` is ``{"atol": ..., "rtol": ...}``)."""

    atol: float
    rtol: float

    @classmethod
    def for_dtype(cls, dtype: DType | str) -> ToleranceConfig:
        """The default for ``dtype`` (DESIGN.md: float32 1e-5, float16/bfloat16 1e-2, ...)."""
        return DEFAULT_TOLERANCES.get(DType.parse(dtype), EXACT)

    @classmethod
    def strict(cls) -> ToleranceConfig:
        return cls(atol=1e-7, rtol=1e-7)

    @classmethod
    def relaxed(cls) -> ToleranceConfig:
        return cls(atol=1e-3, rtol=1e-3)

    def scale(self, factor: float) -> ToleranceConfig:
        """Both tolerances multiplied by ``factor`` (e.g. for a longer reduction)."""
        if not factor > 0:
            raise ValueError(f"tolerance scale factor must be > 0, got {factor!r}")
        return ToleranceConfig(atol=self.atol * factor, rtol=self.rtol * factor)

    def looser(self, other: ToleranceConfig) -> ToleranceConfig:
        """The element-wise larger of two pairs: accepts whatever either accepts."""
        return ToleranceConfig(atol=max(self.atol, other.atol), rtol=max(self.rtol, other.rtol))

    @property
    def is_exact(self) -> bool:
        return self.atol == 0 and self.rtol == 0


EXACT = ToleranceConfig(0.0, 0.0)
DEFAULT_TOLERANCES: dict[DType, ToleranceConfig] = {
    DType.Float64: ToleranceConfig(1e-10, 1e-10),
    DType.Float32: ToleranceConfig(1e-5, 1e-5),
    DType.Float16: ToleranceConfig(1e-2, 1e-2),
    DType.BFloat16: ToleranceConfig(1e-2, 1e-2),
}

UNIT_ROUNDOFF: dict[DType, float] = {
    DType.Float16: 2.0**-11,
    DType.BFloat16: 2.0**-8,
    DType.Float32: 2.0**-24,
    DType.Float64: 2.0**-53,
}
"""u: the largest relative error of one rounding to nearest (half an ulp at 1)."""


def unit_roundoff(dtype: DType | str) -> float:
    """``u`` of a float dtype; 0 for integers and bool, whose arithmetic is exact."""
    return UNIT_ROUNDOFF.get(DType.parse(dtype), 0.0)


CROSS_FRAMEWORK_K = 1024
"""A typical reduction length (hidden size) for the cross-framework profile."""

CONFIDENCE = 6.0
"""lambda of the probabilistic bound: a sum of K independent rounding errors, each at most
u*|s_j|, exceeds lambda*u*sqrt(sum s_j^2) with probability <= 2*exp(-lambda^2/2) ~ 3e-8
(Hoeffding), so a correct kernel trips it less than once per 30 million elements."""

# op_type -> (roundings of each output outside the sum, sums K terms, terms may cancel)
_OP_MODELS: dict[str, tuple[int, bool, bool]] = {
    "elementwise": (2, False, False),  # the op and the reference each round once
    "reduction": (1, True, True),      # the final rounding to the output dtype
    "matmul": (2, True, True),         # plus the rounding of each product
    "softmax": (3, True, False),       # exp, divide, output; the sum's terms are positive
}


class _ProfileGet:
    """``ToleranceProfile.get(name)`` (seed 002) on the class, ``profile.get(dtype)`` on one."""

    def __get__(self, profile: ToleranceProfile | None, cls: type[ToleranceProfile]):
        return cls.named if profile is None else profile.for_dtype


@dataclass(frozen=True, slots=True)
class ToleranceProfile:
    """A named table DType -> ToleranceConfig; dtypes it leaves out get their default
    (integers and bool: exact). Seed 002 reads a profile as one ToleranceConfig: its
    ``atol``/``rtol`` are the float32 entry's."""

    name: str
    table: Mapping[DType, ToleranceConfig]

    get = _ProfileGet()

    def __post_init__(self) -> None:
        table = {DType.parse(d): t for d, t in self.table.items()}
        object.__setattr__(self, "table", MappingProxyType(table))

    def for_dtype(self, dtype: DType | str) -> ToleranceConfig:
        d = DType.parse(dtype)
        return self.table.get(d) or ToleranceConfig.for_dtype(d)

    @property
    def atol(self) -> float:
        return self.for_dtype(DType.Float32).atol

    @property
    def rtol(self) -> float:
        return self.for_dtype(DType.Float32).rtol

    def __getitem__(self, key: str) -> float:
        if key not in ("atol", "rtol"):
            raise KeyError(f"a tolerance profile reads as 'atol' and 'rtol' (float32's); "
                           f"use .for_dtype(dtype) for another dtype, not {key!r}")
        return getattr(self, key)

    @classmethod
    def named(cls, name: str) -> ToleranceProfile:
        """The profile called ``name``: "testing", "production" or "cross_framework" (any case,
        "-" or " " for "_", "for_" in front; "test"/"dev", "prod", "cross" also do)."""
        key = name.strip().lower().replace("-", "_").replace(" ", "_").removeprefix("for_")
        key = _PROFILE_ALIASES.get(key, key)
        if key not in _PROFILES:
            raise ValueError(f"no tolerance profile {name!r}; the profiles are "
                             f"{', '.join(map(repr, _PROFILES))}")
        return getattr(cls, _PROFILES[key])()

    @classmethod
    def for_testing(cls) -> ToleranceProfile:
        """The per-dtype defaults of DESIGN.md."""
        return cls("testing", DEFAULT_TOLERANCES)

    @classmethod
    def for_production(cls) -> ToleranceProfile:
        """Ten times tighter than the defaults, but never below 2u: the op and the
        reference may each round the true value once, in opposite directions."""
        return cls("production", {
            d: ToleranceConfig(max(t.atol / 10, 2 * UNIT_ROUNDOFF[d]),
                               max(t.rtol / 10, 2 * UNIT_ROUNDOFF[d]))
            for d, t in DEFAULT_TOLERANCES.items()
        })

    @classmethod
    def for_cross_framework(cls, k: int = CROSS_FRAMEWORK_K) -> ToleranceProfile:
        """Two correct frameworks summing ``k`` terms in different orders (half types
        accumulating in float32, as torch and jax do) can each be off by the bound of
        get_recommended_tolerance("reduction"), so they differ by up to twice it. Only
        float32 ends up looser than its default: the half-type defaults already cover an
        ulp or two of an fp32-accumulated result, and float64's error sits far below 1e-10."""
        def bound(d: DType) -> ToleranceConfig:
            acc = DType.Float32 if d in (DType.Float16, DType.BFloat16) else d
            return _error_bound(d, "reduction", k, acc).scale(2).looser(DEFAULT_TOLERANCES[d])
        return cls("cross_framework", {d: bound(d) for d in DEFAULT_TOLERANCES})


_PROFILES = {"testing": "for_testing", "production": "for_production",
             "cross_framework": "for_cross_framework"}
_PROFILE_ALIASES = {"test": "testing", "tests": "testing", "dev": "testing",
                    "development": "testing", "prod": "production", "strict": "production",
                    "cross": "cross_framework", "crossframework": "cross_framework",
                    "cross_frameworks": "cross_framework"}


def get_recommended_tolerance(
    dtype: DType | str,
    op_type: str = "elementwise",
    k: int = 1,
    *,
    accumulate: DType | str | None = None,
    floor: ToleranceConfig | None = None,
) -> ToleranceConfig:
    """The tolerance an op of ``op_type`` over ``k`` terms needs in ``dtype``; never
    below ``floor`` (default: the dtype default). ``accumulate`` is the sum's dtype
    (default: ``dtype``; pass "float32" for the usual half-precision kernels that
    accumulate in float32). Seed 001's order, ``(op_type, dtype)``, is read the same way.

    The rule ops get (``gpuemu.op_checks``): an op whose config declares op_type
    reduction, softmax, matmul or attention is checked with this tolerance, floored at
    its configured one, with K from ``reduction_length``. So rtol grows like sqrt(K) and,
    for sums whose terms may cancel, atol like K: float32 sums of 4096 terms get
    rtol ~ 2.3e-5 and atol ~ 1.5e-3; short sums keep the defaults.

    Derivation (probabilistic, Higham & Mary 2019/2020, not the worst-case K*u): a sum
    of K terms rounded with unit roundoff u has error <= lambda*u*sqrt(sum_j s_j^2) over
    its partial sums s_j. Partial sums of terms with mean mu and spread sigma grow like
    j*|mu| + sigma*sqrt(j), so the error is <= lambda*sqrt(K)*u*|s| + lambda*K*u*sigma.
    Hence rtol = lambda*sqrt(K)*u_acc + r*u_out (r = roundings outside the sum, see
    _OP_MODELS) and, where terms may cancel, atol = lambda*K*u_acc with sigma = 1: inputs
    of order one, as normalised activations and weights are. Elementwise ops need only
    rtol = 2u, so their defaults stand. Integers and bool stay exact.
    """
    if dtype in _OP_MODELS and op_type not in _OP_MODELS:  # seed 001's (op, dtype) order
        dtype, op_type = op_type, dtype
    d = DType.parse(dtype)
    base = ToleranceConfig.for_dtype(d) if floor is None else floor
    return base.looser(_error_bound(d, op_type, k, accumulate or d))


OP_TYPE_MODELS: dict[str, str] = {
    "reduction": "reduction", "softmax": "softmax", "matmul": "matmul", "attention": "matmul",
}
"""A config op_type -> its error model above; other op types keep their tolerance."""


def reduction_length(op_type: str, shapes: Sequence[Sequence[int]],
                     reduce_dims: Sequence[int] = ()) -> int:
    """K, the number of terms summed into each output, from the input shapes (in order).

    reduction, softmax: the product of the first input's sizes along ``reduce_dims``
    (default: its last dim). matmul: the first input's last dim (a[..., M, K] @
    b[..., K, N]). attention: the longer of its two sums, the head dim (q's last) and
    the key length (k's second-last, when there is a second input). At least 1.
    """
    if op_type not in OP_TYPE_MODELS:
        raise ValueError(f"op_type {op_type!r} sums nothing; one of {', '.join(OP_TYPE_MODELS)}"
                         " has a reduction length")
    first = list(shapes[0]) if shapes else []
    if not first:
        return 1
    if op_type in ("reduction", "softmax"):
        dims = list(reduce_dims) or [-1]
        bad = [d for d in dims if not -len(first) <= d < len(first)]
        if bad:
            raise ValueError(f"reduce_dims {dims} do not fit the first input's shape {first}: "
                             f"dim {bad[0]} is out of range")
        return max(1, math.prod(first[d] for d in dims))
    k = first[-1]
    if op_type == "attention" and len(shapes) > 1 and len(shapes[1]) >= 2:
        k = max(k, shapes[1][-2])
    return max(1, k)


def _error_bound(d: DType, op_type: str, k: int, accumulate: DType | str) -> ToleranceConfig:
    """The derived (atol, rtol) of get_recommended_tolerance, before the default floor."""
    if op_type not in _OP_MODELS:
        raise ValueError(
            f"op_type {op_type!r} has no error model; use one of {', '.join(_OP_MODELS)}"
        )
    if k < 1:
        raise ValueError(f"k is the number of summed terms and must be >= 1, got {k}")
    if not d.is_float:
        return EXACT
    u_out, u_acc = UNIT_ROUNDOFF[d], unit_roundoff(accumulate)
    if u_acc == 0:
        raise ValueError(f"accumulate must be a float dtype, got {accumulate!r}")
    roundings, sums, cancels = _OP_MODELS[op_type]
    rtol = roundings * u_out + (CONFIDENCE * math.sqrt(k) * u_acc if sums else 0.0)
    atol = CONFIDENCE * k * u_acc if cancels else 0.0
    return ToleranceConfig(atol=atol, rtol=rtol)


CALIBRATION_MARGIN = 4.0
"""The worst of a few dozen samples underestimates the tail of the error; a factor 4
(two more bits) leaves room for it without hiding a real bug."""


def calibrate_tolerance(
    op_fn: Callable[..., np.ndarray] | Any,
    ref_fn: Callable[..., np.ndarray] | str | None = None,
    shapes: Sequence[Sequence[int]] | None = None,
    dtype: DType | str = "float32",
    n_samples: int = 100,
    rng: np.random.Generator | int | None = None,
    *,
    margin: float | None = None,
    iterations: int | None = None,
    run_op: Callable[..., Any] | None = None,
) -> ToleranceConfig:
    """Observe how far ``op_fn`` strays from ``ref_fn`` and return a tolerance with margin.

    Each sample draws one standard-normal input per entry of ``shapes`` (cast to
    ``dtype``) and calls both functions with the same arrays. ``rng`` is a Generator or a
    seed (None means seed 0): calibration is repeatable. rtol is ``margin`` (default
    CALIBRATION_MARGIN) times the largest relative error among the larger half of
    |reference| values (where relative error means something); atol covers, with the
    same margin, whatever rtol leaves over near zero. Floors: rtol >= u, atol >= the
    dtype's smallest normal number.

    The FAQ's form, ``calibrate_tolerance(client, "my_op", dtype="float32",
    iterations=100)``, measures a configured op through the daemon instead: on
    ``iterations`` seeded cases (root seed ``rng``, default 0) of ``dtype``, run by the
    daemon (a script-based op) or by ``run_op(inputs, **kwargs)`` here, it returns the
    tightest tolerance that passes them all (margin 1): the largest absolute and the
    largest relative difference seen.
    """
    if isinstance(ref_fn, str):
        return _calibrate_op(op_fn, ref_fn, dtype, iterations or n_samples, run_op,
                             0 if rng is None else rng, 1.0 if margin is None else margin)
    if ref_fn is None or shapes is None:
        raise TypeError("calibrate_tolerance(op_fn, ref_fn, shapes, dtype) or "
                        "calibrate_tolerance(client, op_name, dtype=..., iterations=...)")
    margin = CALIBRATION_MARGIN if margin is None else margin
    d = DType.parse(dtype)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.Generator(
        np.random.PCG64(0 if rng is None else rng))
    errs, mags = [], []
    for i in range(n_samples):
        inputs = [_draw(gen, tuple(s), d) for s in shapes]
        out = np.asarray(op_fn(*inputs), dtype=np.float64)
        ref = np.asarray(ref_fn(*inputs), dtype=np.float64)
        if out.shape != ref.shape:
            raise ValueError(f"calibrate_tolerance: sample {i}: op returned shape "
                             f"{list(out.shape)} but the reference {list(ref.shape)}")
        same = (np.isnan(out) & np.isnan(ref)) | (np.isinf(out) & (out == ref))
        err, mag = np.abs(out - ref)[~same], np.abs(ref)[~same]
        if not np.isfinite(err).all():
            raise ValueError(f"calibrate_tolerance: sample {i}: op and reference disagree on "
                             "NaN/Inf; no tolerance absorbs that - fix the op or the inputs")
        errs.append(err)
        mags.append(mag)
    return observed_tolerance(np.concatenate(errs), np.concatenate(mags), d, margin)


def observed_tolerance(err: np.ndarray, mag: np.ndarray, dtype: DType | str,
                       margin: float = CALIBRATION_MARGIN) -> ToleranceConfig:
    """A tolerance that accepts errors ``err`` at reference magnitudes ``mag`` (finite, flat),
    with ``margin``: rtol from the larger half of |reference| (where relative error means
    something), atol for whatever rtol leaves over near zero. Floors: rtol >= u, atol >=
    the dtype's smallest normal number; integers get an atol only."""
    d = DType.parse(dtype)
    if not d.is_float:
        return ToleranceConfig(atol=margin * float(err.max(initial=0.0)), rtol=0.0)
    big = (mag >= np.median(mag)) & (mag > 0) if mag.size else np.zeros(0, bool)
    rel = float((err[big] / mag[big]).max(initial=0.0))
    slack = float((err - rel * mag).max(initial=0.0))
    tiny = float(np.finfo(d.numpy).smallest_normal)
    return ToleranceConfig(atol=max(margin * slack, tiny), rtol=max(margin * rel, UNIT_ROUNDOFF[d]))


def _calibrate_op(client: Any, op_name: str, dtype: DType | str, n: int,
                  run_op: Callable[..., Any] | None, seed: int, margin: float) -> ToleranceConfig:
    """The FAQ's calibration through a daemon (``client`` is a gpuemu.Client)."""
    from .fuzz.cases import case_seed

    d = DType.parse(dtype)
    if run_op is None:  # a script-based op: the daemon runs it, and stores every case
        run = client.fuzz_op(op_name, iterations=n, seed=seed, dtypes=[d.short_name])
        results = [client.get_result(case_seed(seed, i), op_name) for i in range(run.total)]
    else:
        results = [client.submit_output(op_name, case["seed"], run_op(case["inputs"], **case["kwargs"]))
                   for case in client.get_test_batch(op_name, count=n, seed=seed,
                                                     dtypes=[d.short_name])]
    atol = rtol = 0.0
    for r in results:
        other = [f for f in r.failures if f.kind != "ToleranceExceeded"]
        if other:
            raise ValueError(f"calibrate_tolerance({op_name!r}): case {r.seed} cannot pass at any "
                             f"tolerance: {other[0].message}; fix the op first")
        if r.max_diff is not None:  # None: nothing finite to compare (empty, NaN parity)
            atol, rtol = max(atol, r.max_diff), max(rtol, r.max_rel_diff or 0.0)
    tiny = float(np.finfo(d.numpy).smallest_normal) if d.is_float else 0.0
    return ToleranceConfig(atol=max(margin * atol, tiny),
                           rtol=max(margin * rtol, UNIT_ROUNDOFF.get(d, 0.0)))


def _draw(gen: np.random.Generator, shape: tuple[int, ...], d: DType) -> np.ndarray:
    if d.is_float:
        return gen.standard_normal(shape).astype(d.numpy)
    if d is DType.Bool:
        return gen.random(shape) < 0.5
    info = np.iinfo(d.numpy)
    low, high = max(info.min, -100), min(info.max, 100)
    return gen.integers(low, high, shape, dtype=d.numpy, endpoint=True)
