"""The public generators of seed 002: shapes, dtypes, layouts and tensors, and SeededFuzzer.

The ``*_seeded`` functions are pure: item i is what case i of a ``SeededFuzzer`` with
that root seed (and config) uses, so a seed printed anywhere replays here. The plain
ones take an optional seed and otherwise pick one with ``rng.generate_seed()``: their
output differs from call to call, so use them for exploration and the seeded ones in
tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from ..config import LAYOUTS
from ..dtypes import DType
from ..errors import InvalidRequest
from ..rng import SeededRng, check_seed, generate_seed
from .cases import CaseSpec, TestCase, case_seed, generate_case, materialize, shapes_for_seed
from .config import FuzzConfig, check_choice

DEFAULT_DTYPES = (DType.Float32, DType.Float16, DType.BFloat16, DType.Float64)
"""What ``fuzz_dtypes`` draws from when given no dtypes."""


def fuzz_shapes_seeded(seed: int, n: int, config: FuzzConfig | None = None) -> list[tuple[int, ...]]:
    """The first input's shape of cases 0..n-1 of a run with root ``seed``."""
    config = config or FuzzConfig()
    return [tuple(next(iter(shapes_for_seed(config, case_seed(seed, i)).values()))) for i in range(n)]


def fuzz_dtypes_seeded(seed: int, n: int, dtypes: Sequence[DType | str] | None = None) -> list[DType]:
    """The dtypes of cases 0..n-1 of a run with root ``seed`` over ``dtypes``."""
    pool = _pool(dtypes, DEFAULT_DTYPES, "dtypes", lambda v, at: DType.parse(v, at))
    return [SeededRng(case_seed(seed, i)).derive("dtype").choice(pool) for i in range(n)]


def fuzz_layouts_seeded(seed: int, n: int, layouts: Sequence[str] | None = None) -> list[str]:
    """The layouts of cases 0..n-1 of a run with root ``seed`` over ``layouts`` (default: all)."""
    pool = _pool(layouts, LAYOUTS, "layouts", partial(check_choice, valid=LAYOUTS, kind="layout"))
    return [SeededRng(case_seed(seed, i)).derive("layout").choice(pool) for i in range(n)]


def fuzz_shapes(n: int, config: FuzzConfig | None = None, seed: int | None = None) -> list[tuple[int, ...]]:
    """``fuzz_shapes_seeded`` from ``seed``, else config.seed, else a fresh (unrepeatable) seed."""
    return fuzz_shapes_seeded(_root(seed, config.seed if config else None), n, config)


def fuzz_dtypes(n: int, dtypes: Sequence[DType | str] | None = None, seed: int | None = None) -> list[DType]:
    """``fuzz_dtypes_seeded`` from ``seed``, else a fresh (unrepeatable) seed."""
    return fuzz_dtypes_seeded(_root(seed), n, dtypes)


def fuzz_layouts(n: int, layouts: Sequence[str] | None = None, seed: int | None = None) -> list[str]:
    """``fuzz_layouts_seeded`` from ``seed``, else a fresh (unrepeatable) seed."""
    return fuzz_layouts_seeded(_root(seed), n, layouts)


def generate_random_tensor(shape: int | Sequence[int], dtype: DType | str, seed: int,
                           distribution: str = "uniform", layout: str = "contiguous",
                           value_range: tuple[float, float] = (-10.0, 10.0)) -> np.ndarray:
    """A tensor exactly like input 0 of the case with this seed, dtype, shape and layout."""
    dims = [shape] if isinstance(shape, int) else list(shape)
    spec = CaseSpec(op_name="", seed=check_seed(seed), dtype=DType.parse(dtype).value, layout=layout,
                    distribution=distribution, shapes={"x": dims}, value_range=tuple(value_range))
    return materialize(spec)["x"]


class SeededFuzzer:
    """Cases of one run: case i is ``generate_case(config, case_seed(seed, i), op_name)``.

    ``seed`` is ``config.seed``, or a fresh one (``rng.generate_seed()``) when that is
    None; ``config`` is then the given config with that seed, so it can be reported.
    """

    __slots__ = ("config", "op_name", "index")

    def __init__(self, config: FuzzConfig | None = None, op_name: str = ""):
        config = config or FuzzConfig()
        self.config = config if config.seed is not None else replace(config, seed=generate_seed())
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

    def run(self, fn: Callable[[TestCase], Any], iterations: int | None = None, fail_fast: bool = False,
            progress: Callable[[int, int], Any] | None = None) -> list[tuple[TestCase, Any]]:
        """Call ``fn(case)`` for the next ``iterations`` cases (default config.iterations).

        ``progress(done, total)`` is called after each case. With ``fail_fast`` the run
        stops after the first result that is False or has ``passed`` False (a
        ValidationResult). Exceptions from ``fn`` propagate.
        """
        total = self.config.iterations if iterations is None else iterations
        results = []
        for done in range(1, total + 1):
            case = self.next_test_case()
            result = fn(case)
            results.append((case, result))
            if progress is not None:
                progress(done, total)
            if fail_fast and (result is False or getattr(result, "passed", True) is False):
                break
        return results


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
