"""Per-op invariants: properties of the output itself, checked after the values.

``INVARIANTS`` maps each name a config may list to a check ``(actual, inputs,
tolerance) -> FailureReason | None``. A violation has kind InvariantViolation and
names the invariant. Checks run on whole arrays (they are opt-in per op); their
temporaries are boolean masks or per-row sums, except ``symmetric``, which compares
in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..errors import InvalidRequest
from ..tolerances import ToleranceConfig
from .result import FailureKind, FailureReason

Check = Callable[[np.ndarray, Mapping[str, np.ndarray], ToleranceConfig], FailureReason | None]


def _violation(name: str, message: str, **numbers) -> FailureReason:
    return FailureReason(
        kind=FailureKind.InvariantViolation, message=f"invariant {name!r}: {message}",
        invariant=name, **numbers,
    )


def _first(mask: np.ndarray) -> tuple[int, list[int]]:
    """How many positions ``mask`` marks and the multi-index of the first (C order)."""
    count = int(np.count_nonzero(mask))
    if not count:
        return 0, []
    flat = int(np.argmax(mask.reshape(-1)))
    return count, [int(i) for i in np.unravel_index(flat, mask.shape)]


def shape_preserved(actual, inputs, tol):
    """The output has the shape of the op's first input (in ``inputs`` order)."""
    if not inputs:
        raise InvalidRequest(
            "invariant 'shape_preserved' compares the output with the op's first input, but "
            "no inputs were given; pass inputs={name: array} to validate_output",
            field="inputs",
        )
    name, first = next(iter(inputs.items()))
    want = list(np.shape(first))
    if list(actual.shape) == want:
        return None
    return _violation(
        "shape_preserved",
        f"output shape {list(actual.shape)} differs from input {name!r} shape {want}",
        expected=str(want), actual=str(list(actual.shape)),
    )


def non_negative(actual, inputs, tol):
    """No element below zero. NaN is not negative: `finite` or the NaN check reports it."""
    if actual.dtype.kind in "ub":
        return None
    with np.errstate(invalid="ignore"):
        count, index = _first(actual < 0)
    if not count:
        return None
    return _violation(
        "non_negative",
        f"{count} of {actual.size} elements are negative, first at {index} "
        f"(value {actual[tuple(index)]})",
        count=count, index=index, actual=str(actual[tuple(index)]),
    )


def finite(actual, inputs, tol):
    """No NaN or Inf at all, even where the reference has them (overrides NaN parity)."""
    if actual.dtype.kind in "biu":
        return None
    bad = ~np.isfinite(actual)
    count, index = _first(bad)
    if not count:
        return None
    nans = int(np.count_nonzero(np.isnan(actual)))
    return _violation(
        "finite",
        f"{count} of {actual.size} elements are not finite ({nans} NaN, {count - nans} Inf), "
        f"first at {index} (value {actual[tuple(index)]}); the op declares `finite`, so NaN/Inf "
        "fail even where the reference has them",
        count=count, index=index, actual=str(actual[tuple(index)]),
    )


def symmetric(actual, inputs, tol):
    """Each matrix in the last two dims is square and equals its transpose within the
    tolerance: ``|A - A^T| <= atol + rtol*|A^T|`` (NaN facing NaN, or equal Infs, match)."""
    if actual.ndim < 2 or actual.shape[-1] != actual.shape[-2]:
        return _violation(
            "symmetric",
            f"needs square matrices in the last two dims, got shape {list(actual.shape)}",
            actual=str(list(actual.shape)),
        )
    transposed = np.swapaxes(actual, -1, -2)
    if actual.dtype.kind in "biu" and tol.is_exact:
        close = actual == transposed
    else:
        a, t = actual.astype(np.float64), transposed.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(a - t)
            close = (np.isfinite(diff) & (diff <= tol.atol + tol.rtol * np.abs(t))) | (a == t)
        close |= np.isnan(a) & np.isnan(t)
    count, index = _first(~close)
    if not count:
        return None
    mirror = index[:-2] + [index[-1], index[-2]]
    return _violation(
        "symmetric",
        f"{count} of {actual.size} elements differ from their transpose beyond "
        f"atol={tol.atol:g} + rtol={tol.rtol:g}*|transposed|, first at {index} "
        f"(value {actual[tuple(index)]}, but {mirror} is {actual[tuple(mirror)]})",
        count=count, index=index,
        actual=str(actual[tuple(index)]), expected=str(actual[tuple(mirror)]),
    )


def normalized(actual, inputs, tol):
    """Every row along the last axis sums to 1. Each of its n elements may be off by
    ``atol + rtol*|x_i|`` (the element tolerance), so the sum may be off by their total,
    ``n*atol + rtol*sum|x_i|``; summing in float64 adds nothing that matters next to it.
    Rows holding NaN or Inf are left to the NaN and Inf stages, which know whether the
    reference has them too (NaN parity): a softmax of a row with a NaN is a NaN row."""
    rows = actual.reshape(1, 1) if actual.ndim == 0 else actual
    n = rows.shape[-1]
    total = np.sum(rows, axis=-1, dtype=np.float64)
    magnitude = np.abs(rows.astype(np.float64) if rows.dtype.kind in "iu" else rows)
    with np.errstate(invalid="ignore"):  # inf rows: 0 * inf; they are skipped below
        allowed = n * tol.atol + tol.rtol * np.sum(magnitude, axis=-1, dtype=np.float64)
        off = ~(np.abs(total - 1.0) <= allowed) & np.isfinite(total)
    count, index = _first(off)
    if not count:
        return None
    at = tuple(index)
    return _violation(
        "normalized",
        f"{count} of {off.size} rows (length {n} along the last axis) do not sum to 1 within "
        f"n*atol + rtol*sum|x| (atol={tol.atol:g}, rtol={tol.rtol:g}); first row {index} sums "
        f"to {total[at]:.9g}, allowed |sum - 1| <= {allowed[at]:.3g}",
        count=count, index=index, actual=f"{total[at]:.9g}", expected="1",
    )


INVARIANTS: dict[str, Check] = {
    "shape_preserved": shape_preserved,
    "non_negative": non_negative,
    "finite": finite,
    "symmetric": symmetric,
    "normalized": normalized,
}


def resolve_invariants(names: Sequence[str] | str) -> list[tuple[str, Check]]:
    """The checks for ``names`` in their order (a set runs in table order, so that reports
    are stable; a single name is accepted too). An unknown name raises InvalidRequest
    (a ValueError) before any work is done."""
    if isinstance(names, str):
        names = [names]
    elif isinstance(names, (set, frozenset)):
        rank = {n: i for i, n in enumerate(INVARIANTS)}
        names = sorted(names, key=lambda n: (rank.get(n, len(rank)), n))
    names = list(names)
    unknown = [n for n in names if n not in INVARIANTS]
    if unknown:
        raise InvalidRequest(
            f"invariants: unknown invariant {unknown[0]!r}; known invariants are "
            + ", ".join(INVARIANTS),
            field="invariants",
        )
    return [(n, INVARIANTS[n]) for n in dict.fromkeys(names)]


def check_invariants(
    checks: Sequence[tuple[str, Check]],
    actual: np.ndarray,
    inputs: Mapping[str, np.ndarray],
    tolerance: ToleranceConfig,
) -> list[FailureReason]:
    """Every violation among ``checks``, in their order."""
    found = (check(actual, inputs, tolerance) for _, check in checks)
    return [f for f in found if f is not None]
