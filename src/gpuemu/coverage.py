"""What the stored results of an op cover: the dtypes, layouts and shape classes it was
configured to be tried on, and which of them have results (``gpuemu coverage``).

A fuzz run's health says what one run reached; coverage says what the database holds
across every run, validation and reproduction, so a dtype that only ever fell back, or
an op that was never fuzzed since a config change, shows as a gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import msgspec

from .dtypes import DType
from .errors import InvalidRequest
from .tensor import c_strides
from .validate import ValidationResult

if TYPE_CHECKING:
    from .config import OpConfig

class FuzzCoverage(msgspec.Struct, omit_defaults=True):
    """What a fuzz run tried, with counts: ``cases`` run, of which ``checked`` compared a
    non-empty output, ``filtered`` lost to a reference failure, ``empty`` had empty outputs
    and ``op_errors`` ended in an op exception. ``layouts`` counts the layout the inputs
    really had (a transposed draw on a 1-D shape falls back to strided). ``impostors``
    counts the checked cases each impostor output would also have passed. ``size_classes``
    counts the cases whose first input's shape is in each class of
    gpuemu.fuzz.strategies.SIZE_CLASSES (a shape may be in several)."""

    cases: int = 0
    checked: int = 0
    filtered: int = 0
    empty: int = 0
    op_errors: int = 0
    dtypes: dict[str, int] = {}
    layouts: dict[str, int] = {}
    distributions: dict[str, int] = {}
    shapes: dict[str, int] = {}
    impostors: dict[str, int] = {}
    distinct_inputs: int = 0
    distinct_references: int = 0
    size_classes: dict[str, int] = {}


class OpCoverage(msgspec.Struct):
    """One op's stored results by dtype, layout, shape class and rank. Every configured
    dtype, layout and shape class is a key (0: never tried); ``missing`` lists those, and
    ``covered``/``configured`` count them. Zeros are sent: they are the point."""

    op_name: str
    results: int = 0
    failed: int = 0
    dtypes: dict[str, int] = {}
    layouts: dict[str, int] = {}
    shape_classes: dict[str, int] = {}
    ranks: dict[str, int] = {}
    missing: list[str] = []
    covered: int = 0
    configured: int = 0


TILE = 16
"""Kernels work in tiles; a last dim that is not a multiple of one exercises the tail."""

SHAPE_CLASSES: dict[str, Callable[[list[int]], bool]] = {
    "empty": lambda s: 0 in s,
    "single": lambda s: all(d == 1 for d in s),
    "tail": lambda s: bool(s) and s[-1] % TILE != 0,
    "tiled": lambda s: bool(s) and s[-1] % TILE == 0,
}
"""A shape's class is the first that holds (a 0-d shape is "single")."""

EDGE_CLASSES = ("empty", "single")
"""Classes only edge-case shapes have: configured only where ``edge_case_prob`` > 0 (a
schema's dims may reach them too, and are then counted, but are not asked of it)."""


def shape_class(shape: list[int]) -> str:
    return next(name for name, holds in SHAPE_CLASSES.items() if holds(shape))


def rank_class(shape: list[int]) -> str:
    return f"{len(shape)}-d" if len(shape) < 4 else "4-d+"


def result_classes(r: ValidationResult) -> list[tuple[str, str]]:
    """The (kind, name) pairs a result counts towards: its dtype, layout, shape class and
    rank; none for a result without shapes. Storage keeps these counts as results arrive,
    so coverage never decodes the stored results again."""
    info = r.repro_info
    if info is None or not info.input_shapes:
        return []
    first = next(iter(info.input_shapes))
    shape = info.input_shapes[first]
    return [("dtype", _short(info.input_dtypes.get(first) or r.dtype or "")),
            ("layout", info.layout or _layout(info.input_shapes, info.input_strides)),
            ("shape", shape_class(shape)), ("rank", rank_class(shape))]


def op_coverage(op: OpConfig, results: Iterable[ValidationResult]) -> OpCoverage:
    """``op``'s coverage by ``results`` (its stored results, any order)."""
    counts: Counter = Counter()
    n = failed = 0
    for r in results:
        n += 1
        failed += not r.passed
        counts.update(result_classes(r))
    return coverage_from_counts(op, n, failed, counts)


def coverage_from_counts(op: OpConfig, n: int, failed: int,
                         counts: Mapping[tuple[str, str], int]) -> OpCoverage:
    """``op``'s coverage from ``n`` results (``failed`` of them failing) and their
    ``result_classes`` counted."""
    # Imported here while gpuemu.fuzz.config imports the protocol, which imports this
    # module for its types (issue 19: r3-config's branch removes that import).
    from .fuzz.config import FuzzConfig

    config = FuzzConfig.from_op(op)
    dtypes = Counter({d.short_name: 0 for d in config.dtypes})
    layouts = Counter({name: 0 for name in config.layout_pool})
    shapes = Counter({name: 0 for name in SHAPE_CLASSES})
    ranks: Counter = Counter()
    by_kind = {"dtype": dtypes, "layout": layouts, "shape": shapes, "rank": ranks}
    for (kind, name), count in counts.items():
        by_kind[kind][name] += count
    classes = [c for c in SHAPE_CLASSES
               if c not in EDGE_CLASSES or (config.edge_case_prob > 0 and config.schema is None)]
    wanted = [("dtype", dtypes, [d.short_name for d in config.dtypes]),
              ("layout", layouts, list(config.layout_pool)), ("shape", shapes, classes)]
    missing = [f"{what} {name}" for what, counts_, names in wanted for name in names
               if not counts_[name]]
    configured = sum(len(names) for _, _, names in wanted)
    return OpCoverage(op_name=op.name, results=n, failed=failed, dtypes=dict(dtypes),
                      layouts=dict(layouts), shape_classes=dict(shapes), ranks=dict(ranks),
                      missing=missing, covered=configured - len(missing), configured=configured)


def _layout(shapes: dict[str, list[int]], strides: dict[str, list[int]]) -> str:
    """For results without a drawn layout (a client's inputs): from the strides alone."""
    plain = all(strides.get(k, c_strides(s)) == c_strides(s) for k, s in shapes.items())
    return "contiguous" if plain else "strided"


def _short(dtype: str) -> str:
    try:
        return DType.parse(dtype).short_name
    except InvalidRequest:
        return dtype or "unknown"
