"""Shrink a failing case to a smaller case that fails the same way.

The minimizer works on CaseSpecs, never on arrays: every candidate is a spec, so the
minimized case is as reproducible as the original (``materialize`` rebuilds it exactly).
It is greedy, in the manner of Hypothesis's shrinker: each pass proposes simpler specs,
the first that still fails *the same way* (the same set of failure kinds) is kept, and
the passes repeat until a whole round keeps nothing or the budget of op runs is spent.

Passes, simplest result first:

    shrink_dims       each dim: first the small sizes (0 .. 8) and the op schema's smaller
                      candidates, smallest first; if none fails, a binary search down to
                      them, then a few steps of n-1. Failures need not grow with size (a bug
                      at odd sizes, at sizes that are not a multiple of the vector width),
                      so halving alone is not enough. A symbolic dim shared between inputs
                      (matmul's K) shrinks in all of them at once
    simplify_layout   try the contiguous layout
    simplify_dtype    try float32 (float cases only)
    shrink_values     binary search on ``nonzero`` (zero the tail), then on ``value_scale``

A minimized size outside the op schema's candidates is kept (it is the smaller failing
case) and named by ``outside_schema``, so that a report can say so.

The strategy names the main pass: ``BinarySearchDims`` runs shrink_dims,
``BinarySearchValues`` runs shrink_values; both then simplify layout and dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import msgspec

from ..config import OpSchema
from ..dtypes import DType
from ..errors import InvalidRequest
from .cases import CaseSpec

Verdict = frozenset[str] | None
"""What a run of a candidate says: the failure kinds, or None when it passed."""

SMALL_SIZES = tuple(range(9))
"""Sizes shrink_dims tries directly, smallest first, before any bisection."""

STEPS_DOWN = 4
"""How many times shrink_dims tries n-1 after a bisection (bisection assumes monotonicity)."""

SCALE_STEPS = 6
"""Bisections of ``value_scale`` in (0, 1]: enough to find the binade where a failure starts."""


@dataclass(frozen=True, slots=True)
class MinimizeOutcome:
    minimized: CaseSpec
    steps: list[tuple[str, str]]
    """(pass name, what it changed), in the order they were kept."""
    calls: int
    """How many candidates were run."""
    outside_schema: list[str] = field(default_factory=list)
    """Dims of the minimized case whose size is not among the op schema's candidates."""


@dataclass(slots=True)
class _Search:
    """The state one minimization carries between passes: budget, cache, the kept steps."""

    run: Callable[[CaseSpec], Verdict]
    target: frozenset[str]
    budget: int
    best: CaseSpec
    calls: int = 0
    steps: list[tuple[str, str]] = field(default_factory=list)
    seen: dict[bytes, bool] = field(default_factory=dict)

    def fails(self, candidate: CaseSpec) -> bool:
        """Whether ``candidate`` fails the same way as the original (cached; costs budget)."""
        key = msgspec.msgpack.encode(candidate)
        if key not in self.seen:
            if self.calls >= self.budget:
                return False
            self.calls += 1
            self.seen[key] = self.run(candidate) == self.target
        return self.seen[key]

    def keep(self, name: str, candidate: CaseSpec, what: str) -> None:
        self.best = candidate
        self.steps.append((name, what))


def _bisect(lo: int, hi: int, fails: Callable[[int], bool]) -> int:
    """The smallest n in [lo, hi] found to fail, given that ``hi`` fails (no monotonicity assumed:
    the answer is always a value that was seen to fail)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if fails(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _dim_groups(spec: CaseSpec, schema: OpSchema | None
                ) -> Iterator[tuple[str, list[tuple[str, int]], tuple[int, ...]]]:
    """Named groups of (input, axis) positions that must keep one size, with the sizes the
    op schema lists for the group (none without a schema)."""
    if _follows(spec, schema):
        for dim in schema.dims:
            where = [(name, axis) for name, dims in schema.inputs.items()
                     for axis, d in enumerate(dims) if d == dim.name]
            if where:
                yield dim.name, where, dim.candidates
        return
    shapes = list(spec.shapes.values())
    if all(s == shapes[0] for s in shapes):
        for axis in range(len(shapes[0])):
            yield f"dim {axis}", [(name, axis) for name in spec.shapes], ()
        return
    for name, shape in spec.shapes.items():
        for axis in range(len(shape)):
            yield f"{name}[{axis}]", [(name, axis)], ()


def _follows(spec: CaseSpec, schema: OpSchema | None) -> bool:
    return schema is not None and set(schema.inputs) == set(spec.shapes)


def _resized(spec: CaseSpec, where: list[tuple[str, int]], size: int) -> CaseSpec:
    shapes = {name: list(shape) for name, shape in spec.shapes.items()}
    for name, axis in where:
        shapes[name][axis] = size
    return msgspec.structs.replace(spec, shapes=shapes)


def _smallest_failing(current: int, candidates: tuple[int, ...], fails: Callable[[int], bool]) -> int:
    """The smallest size found to fail, given that ``current`` does: the direct sizes in
    order, else a bisection above them followed by a few steps of n-1."""
    direct = sorted(n for n in {*SMALL_SIZES, *candidates} if n < current)
    size = next((n for n in direct if fails(n)), None)
    if size is not None:
        return size
    floor = direct[-1] + 1 if direct else 0
    size = _bisect(floor, current, lambda n: n == current or fails(n))
    for _ in range(STEPS_DOWN):
        if size - 1 < floor or not fails(size - 1):
            break
        size -= 1
    return size


def _shrink_dims(s: _Search, schema: OpSchema | None) -> None:
    for label, where, candidates in list(_dim_groups(s.best, schema)):
        name, axis = where[0]
        current = s.best.shapes[name][axis]
        base = s.best
        size = _smallest_failing(current, candidates, lambda n: s.fails(_resized(base, where, n)))
        if size < current:
            s.keep("shrink_dims", _resized(base, where, size), f"{label}: {current} -> {size}")


def outside_schema(spec: CaseSpec, schema: OpSchema | None) -> list[str]:
    """The dims of ``spec`` whose size is not among the schema's candidates, as
    ``"H=3 (candidates 16, 64)"``; empty without a schema or when the spec follows it."""
    if not _follows(spec, schema):
        return []
    out = []
    for label, where, candidates in _dim_groups(spec, schema):
        size = spec.shapes[where[0][0]][where[0][1]]
        if candidates and size not in candidates:
            out.append(f"{label}={size} (candidates {', '.join(map(str, candidates))})")
    return out


def _simplify_layout(s: _Search, schema: OpSchema | None) -> None:
    if s.best.layout != "contiguous":
        candidate = msgspec.structs.replace(s.best, layout="contiguous")
        if s.fails(candidate):
            s.keep("simplify_layout", candidate, f"layout: {s.best.layout} -> contiguous")


def _simplify_dtype(s: _Search, schema: OpSchema | None) -> None:
    dtype = DType.parse(s.best.dtype)
    if dtype.is_float and dtype is not DType.Float32:
        candidate = msgspec.structs.replace(s.best, dtype=DType.Float32.value)
        if s.fails(candidate):
            s.keep("simplify_dtype", candidate, f"dtype: {dtype.value} -> {DType.Float32.value}")


def _shrink_values(s: _Search, schema: OpSchema | None) -> None:
    size = max((math.prod(shape) for shape in s.best.shapes.values()), default=0)
    current = size if s.best.nonzero is None else min(s.best.nonzero, size)
    base = s.best
    kept = _bisect(0, current, lambda n: n == current or
                   s.fails(msgspec.structs.replace(base, nonzero=n)))
    if kept < current:
        s.keep("shrink_values", msgspec.structs.replace(base, nonzero=kept),
               f"nonzero elements: {current} -> {kept}")
    scale = 1.0 if s.best.value_scale is None else s.best.value_scale
    lo, hi = 0.0, scale
    if s.fails(msgspec.structs.replace(s.best, value_scale=0.0)):
        hi = 0.0
    else:
        for _ in range(SCALE_STEPS):
            mid = (lo + hi) / 2
            if s.fails(msgspec.structs.replace(s.best, value_scale=mid)):
                hi = mid
            else:
                lo = mid
    if hi < scale:
        s.keep("shrink_values", msgspec.structs.replace(s.best, value_scale=hi),
               f"value scale: {scale:g} -> {hi:g}")


_PASSES = {"shrink_dims": _shrink_dims, "simplify_layout": _simplify_layout,
           "simplify_dtype": _simplify_dtype, "shrink_values": _shrink_values}
STRATEGIES = {
    "BinarySearchDims": ("shrink_dims", "simplify_layout", "simplify_dtype"),
    "BinarySearchValues": ("shrink_values", "simplify_layout", "simplify_dtype"),
}
_SPELLINGS = {"binary-search-dims": "BinarySearchDims", "binary_search_dims": "BinarySearchDims",
              "binary-search-values": "BinarySearchValues",
              "binary_search_values": "BinarySearchValues"}


def parse_strategy(strategy: str) -> str:
    """The canonical name of ``strategy``; both the IPC spelling and the CLI's hyphens work."""
    name = _SPELLINGS.get(strategy.lower(), strategy)
    if name not in STRATEGIES:
        raise InvalidRequest(f"strategy: unknown minimization strategy {strategy!r}; expected one"
                             f" of {', '.join(STRATEGIES)} (or {', '.join(_SPELLINGS)})", "strategy")
    return name


def minimize(spec: CaseSpec, run: Callable[[CaseSpec], Verdict], *, strategy: str = "BinarySearchDims",
             max_iters: int = 100, schema: OpSchema | None = None) -> MinimizeOutcome:
    """Shrink ``spec``, which ``run`` says fails, keeping only candidates that fail the same way.

    ``run(candidate)`` runs the op on a candidate and returns its failure kinds (None when it
    passes); it is called at most ``max_iters`` times, plus once to confirm the original.
    Raises InvalidRequest if the original does not fail when re-run (a flaky op).
    """
    passes = STRATEGIES[parse_strategy(strategy)]
    target = run(spec)
    if not target:
        raise InvalidRequest(f"seed {spec.seed}: the case passed when re-run, so there is nothing to"
                             " minimize; is the op nondeterministic? (check it with reproduce)", "seed")
    s = _Search(run=run, target=target, budget=max_iters, best=spec)
    while s.calls < s.budget:
        before = s.best
        for name in passes:
            _PASSES[name](s, schema)
        if s.best == before:
            break
    return MinimizeOutcome(s.best, s.steps, s.calls, outside_schema(s.best, schema))
