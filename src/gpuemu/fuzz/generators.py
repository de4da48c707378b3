"""The public generators of seed 002: shapes, dtypes, layouts and tensors, and SeededFuzzer.

The ``*_seeded`` functions are pure: item i is what case i of a ``SeededFuzzer`` with
that root seed (and config) uses, so a seed printed anywhere replays here. The plain
ones take an optional seed and otherwise pick one with ``rng.generate_seed()``: their
output differs from call to call, so use them for exploration and the seeded ones in
tests. As seed 002 documents, each yields endlessly; given ``n`` it returns the first n
as a list instead.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from itertools import count
from typing import Any, TypeVar

import numpy as np

from .settings import LAYOUTS
from ..dtypes import DType
from ..errors import InvalidRequest
from ..rng import SeededRng, check_seed, generate_seed
from .cases import CaseSpec, TestCase, case_seed, generate_case, materialize, shapes_for_seed
from ..engine.runs import Tally, run_each
from ..engine.fuzz_results import FuzzResults
from ..validate.result import FailureKind, FailureReason, ValidationResult
from .config import FuzzConfig, check_choice
from ..engine.tracebacks import quote_traceback
from .failure import execution_error

T = TypeVar("T")

DEFAULT_DTYPES = (DType.Float32, DType.Float16, DType.BFloat16, DType.Float64)
"""What ``fuzz_dtypes`` draws from when given no dtypes."""


def _draws(item: Callable[[int], T], n: int | None) -> list[T] | Iterator[T]:
    """Items 0..n-1 as a list, or (n None) every item, lazily: seed 002's iterators."""
    return [item(i) for i in range(n)] if n is not None else map(item, count())


def _shape_config(config: FuzzConfig | None, limits: dict[str, int | None]) -> FuzzConfig:
    given = {k: v for k, v in limits.items() if v is not None}
    return replace(config or FuzzConfig(), **given)


def fuzz_shapes_seeded(seed: int, n: int | None = None, config: FuzzConfig | None = None, *,
                       min_dims: int | None = None, max_dims: int | None = None,
                       min_size: int | None = None, max_size: int | None = None
                       ) -> list[tuple[int, ...]] | Iterator[tuple[int, ...]]:
    """The first input's shape of cases 0, 1, ... of a run with root ``seed``: the first
    ``n`` as a list, or all of them as an iterator. The limits override the config's
    (default FuzzConfig: seed 002's 1..4 dims of 1..1024)."""
    config = _shape_config(config, dict(min_dims=min_dims, max_dims=max_dims,
                                        min_size=min_size, max_size=max_size))
    root = check_seed(seed)
    return _draws(lambda i: tuple(next(iter(shapes_for_seed(config, case_seed(root, i)).values()))), n)


def fuzz_dtypes_seeded(seed: int, n: int | None = None, dtypes: Sequence[DType | str] | None = None, *,
                       include: Sequence[DType | str] | None = None,
                       exclude: Sequence[DType | str] | None = None) -> list[str] | Iterator[str]:
    """The dtypes (numpy names: ``"float32"``) of cases 0, 1, ... of a run with root ``seed``,
    drawn from ``include`` (or ``dtypes``; default: DEFAULT_DTYPES) less ``exclude``."""
    pool = (_dtype_pool(include, exclude, "include") if include is not None
            else _dtype_pool(dtypes, exclude, "dtypes"))
    root = check_seed(seed)
    return _draws(lambda i: SeededRng(case_seed(root, i)).derive("dtype").choice(pool).short_name, n)


def fuzz_layouts_seeded(seed: int, n: int | None = None,
                        layouts: Sequence[str] | None = None) -> list[str] | Iterator[str]:
    """The layouts of cases 0, 1, ... of a run with root ``seed`` over ``layouts`` (default: all)."""
    pool = _pool(layouts, LAYOUTS, "layouts", partial(check_choice, valid=LAYOUTS, kind="layout"))
    root = check_seed(seed)
    return _draws(lambda i: SeededRng(case_seed(root, i)).derive("layout").choice(pool), n)


def fuzz_shapes(min_dims: int | None = None, max_dims: int | None = None,
                min_size: int | None = None, max_size: int | None = None, *,
                n: int | None = None, config: FuzzConfig | None = None,
                seed: int | None = None) -> list[tuple[int, ...]] | Iterator[tuple[int, ...]]:
    """``fuzz_shapes_seeded`` from ``seed``, else config.seed, else a fresh (unrepeatable) seed."""
    return fuzz_shapes_seeded(_root(seed, config.seed if config else None), n, config,
                              min_dims=min_dims, max_dims=max_dims, min_size=min_size,
                              max_size=max_size)


def fuzz_dtypes(include: Sequence[DType | str] | None = None,
                exclude: Sequence[DType | str] | None = None, *, n: int | None = None,
                seed: int | None = None) -> list[str] | Iterator[str]:
    """``fuzz_dtypes_seeded`` from ``seed``, else a fresh (unrepeatable) seed."""
    return fuzz_dtypes_seeded(_root(seed), n, include=include, exclude=exclude)


def fuzz_layouts(n: int | None = None, layouts: Sequence[str] | None = None,
                 seed: int | None = None) -> list[str] | Iterator[str]:
    """``fuzz_layouts_seeded`` from ``seed``, else a fresh (unrepeatable) seed."""
    return fuzz_layouts_seeded(_root(seed), n, layouts)


def generate_random_tensor(seed: int, shape: int | Sequence[int], dtype: DType | str = "float32",
                           domain: tuple[float, float] = (-1.0, 1.0), *,
                           distribution: str = "uniform", layout: str = "contiguous") -> np.ndarray:
    """A tensor exactly like input 0 of the case with this seed, dtype, shape, layout and
    value range ``domain`` (min, max)."""
    dims = [shape] if isinstance(shape, int) else list(shape)
    spec = CaseSpec(op_name="", seed=check_seed(seed), dtype=DType.parse(dtype).value, layout=layout,
                    distribution=distribution, shapes={"x": dims}, value_range=tuple(domain))
    return materialize(spec)["x"]


class SeededFuzzer:
    """Cases of one run: case i is ``generate_case(config, case_seed(seed, i), op_name)``.

    ``seed`` (else ``config.seed``, else a fresh one from ``rng.generate_seed()``) is the
    run's root seed; ``config`` is the given config with that seed, so it can be reported.
    """

    __slots__ = ("config", "op_name", "index")

    def __init__(self, seed: int | None = None, config: FuzzConfig | None = None, op_name: str = ""):
        config = config or FuzzConfig()
        root = seed if seed is not None else config.seed
        self.config = replace(config, seed=check_seed(root) if root is not None else generate_seed())
        self.op_name = op_name
        self.index = 0
        """The number of the next case."""

    @property
    def seed(self) -> int:
        return self.config.seed  # type: ignore[return-value]

    def next_test_case(self) -> TestCase:
        case = generate_case(self.config, case_seed(self.seed, self.index), self.op_name)
        self.index += 1
        return case

    def run(self, op_fn: Callable[[TestCase], Any], iterations: int | None = None,
            fail_fast: bool = False, progress: Callable[[int, int], Any] | None = None) -> FuzzResults:
        """Call ``op_fn(case)`` for the next ``iterations`` cases (default config.iterations).

        A case fails when ``op_fn`` returns False or a result whose ``passed`` is False (a
        ValidationResult, from ``validate_output`` or ``Client.validate_op``), or raises (an
        ExecutionError failure). ``progress(done, total)`` is called after each case; with
        ``fail_fast`` the run stops after the first failure.
        """
        total = self.config.iterations if iterations is None else iterations
        cases = (self.next_test_case() for _ in range(total))
        tally = run_each(cases, partial(_verdict, op_fn=op_fn), Tally(fail_fast=fail_fast),
                         total, progress)
        return tally.results(self.op_name, self.seed)


def _verdict(case: TestCase, *, op_fn: Callable[[TestCase], Any]) -> ValidationResult | None:
    """The failing result of one case, or None when it passed."""
    try:
        result = op_fn(case)
    except Exception:
        return execution_error(case.op_name, case.seed, quote_traceback(traceback.format_exc()),
                               case.spec)
    if result is False:
        reason = FailureReason(kind=FailureKind.InvariantViolation, invariant="op_fn",
                               message="op_fn returned False for this case")
        return ValidationResult(passed=False, op_name=case.op_name, seed=case.seed, failures=[reason])
    if getattr(result, "passed", True) is False:
        return result
    return None


def _dtype_pool(include: Sequence[DType | str] | None, exclude: Sequence[DType | str] | None,
                field: str) -> tuple[DType, ...]:
    pool = _pool(include, DEFAULT_DTYPES, field, lambda v, at: DType.parse(v, at))
    dropped = {DType.parse(v, f"exclude[{i}]") for i, v in enumerate(exclude or ())}
    kept = tuple(d for d in pool if d not in dropped)
    if DType.BFloat16 in kept:
        DType.BFloat16.numpy  # noqa: B018  registers "bfloat16" with numpy, so np.dtype(name) works
    if not kept:
        raise InvalidRequest(f"exclude: {[d.short_name for d in dropped]} leaves no dtype to draw "
                             f"from {[d.short_name for d in pool]}; exclude fewer", "exclude")
    return kept


def _root(seed: int | None, fallback: int | None = None) -> int:
    if seed is not None:
        return check_seed(seed)
    return fallback if fallback is not None else generate_seed()


def _pool(values: Sequence[Any] | None, default: tuple, field: str, convert: Callable[[Any, str], Any]) -> tuple:
    if values is None:
        return default
    if len(values) == 0:
        raise InvalidRequest(f"{field}: expected at least one value, got an empty list", field)
    return tuple(convert(v, f"{field}[{i}]") for i, v in enumerate(values))
