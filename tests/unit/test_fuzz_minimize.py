"""The minimizer on real CaseSpecs and real materialized inputs, with the op replaced by a
plain predicate over the case (what a buggy kernel would get wrong), so each test knows
exactly which cases fail."""

from __future__ import annotations

import numpy as np
import pytest

from gpuemu.config import DimSpec, OpSchema
from gpuemu.errors import InvalidRequest
from gpuemu.fuzz.cases import CaseSpec, materialize
from gpuemu.fuzz.minimize import minimize, parse_strategy

TOL = frozenset({"ToleranceExceeded"})


def spec(**kw) -> CaseSpec:
    base = dict(op_name="op", seed=12345, dtype="Float32", layout="contiguous",
                distribution="uniform", shapes={"x": [4, 8, 40]})
    return CaseSpec(**(base | kw))


def counting(predicate):
    """A run function that fails with TOL when ``predicate(spec)`` holds, and counts its calls."""
    def run(s: CaseSpec):
        run.calls += 1
        return TOL if predicate(s) else None
    run.calls = 0
    return run


def test_tail_block_bug_shrinks_to_the_smallest_failing_shape():
    run = counting(lambda s: s.shapes["x"][-1] % 16 != 0)
    out = minimize(spec(), run, max_iters=100)
    assert out.minimized.shapes == {"x": [0, 0, 1]}
    assert run(out.minimized) == TOL  # still fails, the same way
    assert ("shrink_dims", "dim 2: 40 -> 1") in out.steps
    assert out.calls == run.calls - 2  # the confirming run and ours are not counted


def test_symbolic_dims_shrink_in_every_input_at_once():
    schema = OpSchema(dims=(DimSpec("M", (8,)), DimSpec("K", (16,)), DimSpec("N", (8,))),
                      inputs={"a": ("M", "K"), "b": ("K", "N")})
    # A matmul that is wrong only when K exceeds one 4-wide vector; shapes must stay consistent.
    def bad(s):
        (m, k), (k2, n) = s.shapes["a"], s.shapes["b"]
        assert k == k2, "the minimizer broke the shared K dim"
        return k > 4
    out = minimize(spec(shapes={"a": [8, 16], "b": [16, 8]}), counting(bad), schema=schema)
    assert out.minimized.shapes == {"a": [0, 5], "b": [5, 0]}
    assert [name for name, _ in out.steps] == ["shrink_dims"] * 3


def test_a_candidate_that_fails_differently_is_not_kept():
    # Below 10 elements in the last dim the "op" crashes instead: another bug, not this one.
    def run(s):
        n = s.shapes["x"][-1]
        return frozenset({"ExecutionError"}) if n < 10 else TOL
    out = minimize(spec(shapes={"x": [40]}), run)
    assert out.minimized.shapes == {"x": [10]}


def test_layout_is_kept_when_the_bug_needs_it_and_dropped_when_not():
    strided_only = minimize(spec(layout="strided"), counting(
        lambda s: not materialize(s)["x"].flags.c_contiguous))
    assert strided_only.minimized.layout == "strided"
    assert strided_only.minimized.shapes["x"][-1] >= 2  # a size-1 row cannot be strided

    any_layout = minimize(spec(layout="strided"), counting(lambda s: True))
    assert any_layout.minimized.layout == "contiguous"
    assert ("simplify_layout", "layout: strided -> contiguous") in any_layout.steps


def test_dtype_simplifies_to_float32_only_when_the_failure_survives():
    out = minimize(spec(dtype="Float16"), counting(lambda s: True))
    assert out.minimized.dtype == "Float32"
    kept = minimize(spec(dtype="BFloat16"), counting(lambda s: s.dtype == "BFloat16"))
    assert kept.minimized.dtype == "BFloat16"


def test_values_strategy_zeroes_the_tail_and_scales_down():
    # "Overflows" when any input value exceeds 5 in magnitude.
    def big(s):
        return np.abs(materialize(s)["x"]).max(initial=0) > 5
    original = spec(shapes={"x": [64]})
    out = minimize(original, counting(big), strategy="binary-search-values", max_iters=200)
    x = materialize(out.minimized)["x"]
    assert out.minimized.shapes == original.shapes  # values only: the shape is untouched
    assert np.count_nonzero(x) == 1 and np.abs(x).max() > 5
    assert 5 / 10 <= out.minimized.value_scale < 1
    assert [name for name, _ in out.steps] == ["shrink_values", "shrink_values"]


def test_budget_bounds_the_number_of_runs():
    run = counting(lambda s: s.shapes["x"][-1] % 16 != 0)
    out = minimize(spec(), run, max_iters=3)
    assert out.calls == 3 and run.calls == 4
    assert run(out.minimized) == TOL


def test_a_case_that_passes_on_rerun_is_reported_not_minimized():
    with pytest.raises(InvalidRequest, match="passed when re-run.*nondeterministic"):
        minimize(spec(), lambda s: None)


@pytest.mark.parametrize("given, name", [("BinarySearchDims", "BinarySearchDims"),
                                         ("binary-search-dims", "BinarySearchDims"),
                                         ("binary_search_values", "BinarySearchValues")])
def test_strategy_spellings(given, name):
    assert parse_strategy(given) == name


def test_unknown_strategy_names_the_choices():
    with pytest.raises(InvalidRequest, match="'shrink-all'.*BinarySearchDims, BinarySearchValues"):
        minimize(spec(), lambda s: TOL, strategy="shrink-all")


# Failures that do not grow with size (issue 26): halving from 1025 meets only sizes that
# pass, so each needs the small sizes tried directly.
@pytest.mark.parametrize("bug, smallest", [
    (lambda n: n % 2 == 1, 1),                          # odd sizes only
    (lambda n: n % 4 != 0, 1),                          # not a multiple of the vector width
    (lambda n: n & (n - 1) != 0, 3),                    # not a power of two (0 counts as one)
    (lambda n: n % 3 == 0 and n > 0, 3),                # a three-way split
    (lambda n: n == 3 or n == 1025, 3),                 # two sizes, nothing between them
], ids=["odd", "not-multiple-of-4", "not-power-of-two", "multiple-of-3", "3-or-1025"])
def test_sizes_that_fail_without_growing_reach_the_smallest(bug, smallest):
    original = spec(shapes={"x": [2, 7, 1025]} if bug(1025) else {"x": [2, 7, 1023]})
    out = minimize(original, counting(lambda s: bug(s.shapes["x"][-1]) and s.shapes["x"][0] > 0),
                   max_iters=100)
    assert out.minimized.shapes == {"x": [1, 0, smallest]}
    assert out.outside_schema == []  # no schema, nothing to be outside of


def test_a_failure_above_the_small_sizes_steps_down_past_the_bisection():
    # Wrong for odd sizes beyond one 64-wide block: bisection lands on some odd size above 64,
    # the n-1 steps and the bound keep it deterministic; whatever it is, it fails.
    def bug(s):
        return s.shapes["x"][-1] > 64 and s.shapes["x"][-1] % 2 == 1
    out = minimize(spec(shapes={"x": [1025]}), counting(bug), max_iters=100)
    (n,) = out.minimized.shapes["x"]
    assert 64 < n < 1025 and n % 2 == 1
    assert minimize(spec(shapes={"x": [1025]}), counting(bug), max_iters=100) == out


def test_schema_candidates_are_tried_directly_and_a_shape_outside_them_is_named():
    schema = OpSchema(dims=(DimSpec("B", (1, 4)), DimSpec("H", (15, 45, 100))),
                      inputs={"x": ("B", "H")})
    # Wrong for multiples of 15: bisection from 45 meets 22, 34, 40, 43, 44 and stays at 45.
    multiple_of_15 = counting(lambda s: s.shapes["x"][1] % 15 == 0 and s.shapes["x"][1] > 0)
    out = minimize(spec(shapes={"x": [4, 45]}), multiple_of_15, schema=schema)
    assert out.minimized.shapes == {"x": [0, 15]}
    assert out.outside_schema == ["B=0 (candidates 1, 4)"]

    odd = minimize(spec(shapes={"x": [4, 45]}), counting(
        lambda s: s.shapes["x"][1] % 2 == 1 and s.shapes["x"][0] > 0), schema=schema)
    assert odd.minimized.shapes == {"x": [1, 1]}
    assert odd.outside_schema == ["H=1 (candidates 15, 45, 100)"]
