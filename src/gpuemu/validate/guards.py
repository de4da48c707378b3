"""The trivial-output guard: would an impostor output have passed the same check?

A pass means nothing when an op that ignores its inputs would pass too: zeros when the
reference values sit below atol (a zeros "softmax" over huge rows passes a 1e-2
tolerance), a constant when the reference barely varies, all-NaN when the reference is
NaN everywhere (NaN parity), or a copy of an input when the reference returns it (relu
of non-negative values). The guard tries each impostor against the expected output
with the same element rule and invariants as the real check.

Cost: each impostor is first tried on a sample of SAMPLE elements (``sample_at``); only
one that passes the whole sample is checked in full, by the pipeline's own fast pass. A
discriminating check therefore pays for the samples alone -- a few per cent of a large
validation -- and only a vacuous one pays about one more validation per impostor. The
sample is RUNS runs of neighbouring elements spread over the output, not SAMPLE lone
ones: the daemon reads a large expected output through a fresh mapping of a worker's
shared-memory file, where each page touched first is a page fault (~2 ms for SAMPLE
pages of a 64 MiB output, a few microseconds for RUNS).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .invariants import Check, check_invariants
from .result import FailureKind, FailureReason
from .rule import ElementRule

SAMPLE = 256
"""Elements each impostor is tried on before a full pass: a right output usually refutes
an impostor within its first few elements, and numpy's per-call cost dominates below this."""
RUNS = 8
"""Runs of SAMPLE // RUNS neighbouring elements the sample is taken in."""

VACUOUS_MODES = ("warn", "report", "off")
"""What validate_output does with impostors: warn (a VacuousCheck entry in
``ValidationResult.warnings``; the verdict stands, since a right output passes such a
check too), only list them in ``ValidationResult.impostors`` (fuzz runs judge them over
the whole run), or not look for them."""


_WORDS: dict[str, tuple[str, str]] = {
    "zeros": ("an all-zeros output",
              "make the outputs grow well past atol (scale the inputs: value_range, "
              "distributions) or lower this op's atol ([ops.tolerances])"),
    "nan": ("an all-NaN output",
            "use inputs for which the reference is finite, or declare the 'finite' invariant"),
    "constant": ("a constant output",
                 "use inputs that make the output vary (not only the zeros/equal "
                 "distributions) or tighten the tolerance"),
    "copy": ("a copy of input {}",
             "draw inputs that the op changes (e.g. negative values for relu: value_range, "
             "distributions)"),
}
"""Each kind of impostor (a copy is named "copy:INPUT") and how to tighten a check it passes."""


def impostor_words(name: str) -> tuple[str, str]:
    """What the impostor called ``name`` outputs, and the fix: for messages about runs."""
    kind, _, arg = name.partition(":")
    what, fix = _WORDS[kind]
    return what.format(repr(arg)), fix


@dataclass(frozen=True, slots=True)
class Impostor:
    """An output that would also pass: its name in results, and the words for a message."""

    name: str
    what: str
    why: str
    fix: str


def find_impostors(expected: np.ndarray, rule: ElementRule, checks: Sequence[tuple[str, Check]],
                   inputs: Mapping[str, np.ndarray],
                   matches_all: Callable[[np.ndarray], bool]) -> list[Impostor]:
    """The impostors that pass ``rule`` on every element of ``expected`` and ``checks``.

    ``matches_all(output)`` is the full value check (the pipeline's fast pass) for an
    impostor output of expected's shape. Impostors have the expected output's dtype;
    inputs qualify as copies when they have its shape and dtype. An empty output has
    none (there is nothing to check).
    """
    if expected.size == 0:
        return []
    at = sample_at(expected.shape)
    sample = expected if at is None else expected[at]
    found = []
    with np.errstate(all="ignore"):
        for make in _CANDIDATES:
            if make is _constant and found and found[0].name == "zeros":
                continue  # zero is a constant: the zeros impostor says it all
            for value, quick, impostor in make(expected, sample, at, rule, inputs):
                if not quick():
                    continue
                output = np.broadcast_to(value, expected.shape)
                if matches_all(output) and not check_invariants(checks, output, inputs, rule.tol):
                    found.append(impostor())
    return found


def vacuous_warning(found: Sequence[Impostor], rule: ElementRule) -> FailureReason:
    """The VacuousCheck warning for ``found`` (non-empty): who would pass, why, what to do."""
    who = "; ".join(f"{i.what} would also pass ({i.why})" for i in found)
    fixes = "; ".join(dict.fromkeys(i.fix for i in found))
    return FailureReason(
        kind=FailureKind.VacuousCheck,
        message=f"vacuous check under {rule.describe()}: {who}. This check cannot tell the "
                f"op from such an impostor, so its pass proves little; to make it mean something:"
                f" {fixes}. (If that is intended, set vacuous_guard = false for this op.)",
        count=len(found), actual=", ".join(i.name for i in found),
    )


# -- candidates: each yields (its value, a cheap test on the sample, its Impostor) ---------

Candidate = Iterator[tuple[np.ndarray, Callable[[], bool], Callable[[], Impostor]]]


def _zeros(expected, sample, at, rule: ElementRule, inputs) -> Candidate:
    zero = np.zeros((), expected.dtype)

    def impostor() -> Impostor:
        if expected.dtype.kind in "biu":
            why = "the reference output is all zeros"
        else:
            top = float(np.max(np.abs(expected)))
            why = f"the tolerance swallows the reference: its largest |value| is {top:.3g}"
        return Impostor("zeros", _WORDS["zeros"][0], why, _WORDS["zeros"][1])

    def swallowed() -> bool:
        if rule.exact or rule.ulp_mode:
            return bool(rule.matches(zero, sample).all())
        # |0 - e| <= atol + rtol*|e| for all e  <=>  max|e| * (1 - rtol) <= atol (NaN: no)
        return float(np.max(np.abs(sample))) * max(0.0, 1.0 - rule.tol.rtol) <= rule.tol.atol

    yield zero, swallowed, impostor


def _nan(expected, sample, at, rule: ElementRule, inputs) -> Candidate:
    if expected.dtype.kind in "biu":
        return
    nan = np.full((), np.nan, expected.dtype)
    yield nan, lambda: bool(np.isnan(sample.astype(np.float64)).all()), lambda: Impostor(
        "nan", _WORDS["nan"][0],
        "the reference is NaN everywhere, and NaN facing NaN is a match (NaN parity)",
        _WORDS["nan"][1])


def _constant(expected, sample, at, rule: ElementRule, inputs) -> Candidate:
    if expected.size < 2 or not _could_be_constant(rule, sample):
        return  # one element is always "constant": only an op that knows it can output it
    mean = float(np.mean(expected, dtype=np.float64))
    if not np.isfinite(mean):
        return
    if expected.dtype.kind in "biu":
        mean = float(np.clip(np.rint(mean), *_int_range(expected.dtype)))
    value = np.asarray(mean).astype(expected.dtype)
    if not value.any():
        return  # zero: the zeros impostor already speaks for it
    yield value, lambda: True, lambda: Impostor(
        "constant", f"{_WORDS['constant'][0]} of {value.item()!s} (the reference mean)",
        "the reference output is constant within the tolerance", _WORDS["constant"][1])


def _copies(expected, sample, at, rule: ElementRule, inputs) -> Candidate:
    for name, x in inputs.items():
        x = np.asarray(x)
        if x.shape != expected.shape or x.dtype != expected.dtype:
            continue
        x_sample = x if at is None else x[at]
        yield x, lambda xs=x_sample: bool(rule.matches(xs, sample).all()), lambda n=name: Impostor(
            f"copy:{n}", impostor_words(f"copy:{n}")[0],
            "the reference equals that input within the tolerance, so an op that does nothing"
            " passes", _WORDS["copy"][1])


_CANDIDATES = (_zeros, _nan, _constant, _copies)


# -- helpers ------------------------------------------------------------------------------


@lru_cache(maxsize=256)  # fuzz runs see the same shapes again and again
def sample_at(shape: tuple[int, ...]) -> tuple[np.ndarray, ...] | None:
    """Multi-indices of the sample: RUNS runs of SAMPLE // RUNS elements in C order, the
    first at the start, the last at the end, the others evenly between (None: take them all)."""
    n = math.prod(shape)
    if n <= SAMPLE:
        return None
    run = SAMPLE // RUNS
    starts = np.arange(RUNS, dtype=np.int64) * (n - run) // (RUNS - 1)
    return np.unravel_index((starts[:, None] + np.arange(run)).reshape(-1), shape)


def _could_be_constant(rule: ElementRule, sample: np.ndarray) -> bool:
    """Whether one value could match both the smallest and the largest sampled element: a
    necessary condition for the mean to match them all (NaN or Inf: never)."""
    lo, hi = float(sample.min()), float(sample.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return False
    if rule.ulp_mode:
        return bool(rule.ulps(np.array([lo]), np.array([hi]))[0] <= 2 * rule.max_ulp)
    reach = 2 * rule.tol.atol + rule.tol.rtol * (abs(lo) + abs(hi))
    return hi - lo <= reach * (1 + 2.0**-40)  # generous: a prefilter only


def _int_range(dtype: np.dtype) -> tuple[float, float]:
    if dtype.kind == "b":
        return 0.0, 1.0
    info = np.iinfo(dtype)
    return float(info.min), float(info.max)
