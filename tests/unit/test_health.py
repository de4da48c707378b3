"""Fuzz-run health and coverage (engine/health.py), over real seeded cases."""

from __future__ import annotations

import numpy as np
import pytest

from gpuemu.config import DimSpec, OpSchema
from gpuemu.engine.health import RunHealth, effective_layout
from gpuemu.fuzz import FuzzConfig
from gpuemu.fuzz.cases import apply_layout, case_seed, materialize, spec_for_seed
from gpuemu.fuzz.failure import execution_error
from gpuemu.validate import ValidationResult


def run(config: FuzzConfig, n: int, reference=lambda x: np.tanh(x), impostors=lambda i: [],
        guard: bool = True) -> RunHealth:
    """Feed ``n`` cases of ``config`` through a RunHealth, as run_fuzz does."""
    health = RunHealth(config, guard=guard)
    for i in range(n):
        spec = spec_for_seed(config, case_seed(11, i), "op")
        inputs = materialize(spec)
        expected = reference(inputs["x"])
        health.observe(spec, inputs, expected, ValidationResult(
            passed=True, op_name="op", impostors=impostors(i)))
    return health


def kinds(health: RunHealth) -> list[tuple[str, str]]:
    return [(i.kind, i.severity) for i in health.issues()]


BASE = FuzzConfig(batch_sizes=(2, 3), seq_lengths=(4, 5), hidden_dims=(8, 16), edge_case_prob=0.0)


def test_a_healthy_run_has_coverage_and_no_issues():
    config = FuzzConfig(dtypes=("float32", "float64"), layouts=("contiguous", "transposed"),
                        distributions=("uniform", "normal"), batch_sizes=(2, 3),
                        seq_lengths=(4, 5), hidden_dims=(8, 16), edge_case_prob=0.0)
    health = run(config, 40)
    assert health.issues() == []
    cov = health.coverage()
    assert (cov.cases, cov.checked, cov.filtered, cov.empty, cov.op_errors) == (40, 40, 0, 0, 0)
    assert set(cov.dtypes) == {"float32", "float64"} and sum(cov.dtypes.values()) == 40
    assert set(cov.layouts) == {"contiguous", "transposed"}
    assert set(cov.distributions) == {"uniform", "normal"}
    assert all(key.startswith("x=") for key in cov.shapes) and sum(cov.shapes.values()) == 40
    assert cov.distinct_inputs == cov.distinct_references == 40


def test_identical_cases_and_a_constant_reference_are_errors():
    zeros = FuzzConfig(distributions=("zeros",), batch_sizes=(2,), seq_lengths=(4,),
                       hidden_dims=(8,), edge_case_prob=0.0)
    # The zeros distribution draws +0.0 and -0.0, so the inputs differ (in their sign bits)
    # while |x| is the same in every case.
    health = run(zeros, 5, reference=lambda x: np.abs(x))
    issues = {i.kind: i for i in health.issues()}
    assert "IdenticalCases" not in issues and "ConstantReference" in issues
    assert "the reference returned the same output in all 5 checked cases" in (
        issues["ConstantReference"].message)
    same = RunHealth(BASE)
    spec = spec_for_seed(BASE, 1, "op")
    for _ in range(3):
        same.observe(spec, materialize(spec), np.ones(3), ValidationResult(passed=True, op_name="op"))
    assert ("IdenticalCases", "error") in kinds(same)


def test_an_impostor_passing_every_case_makes_the_run_vacuous():
    everywhere = run(BASE, 6, impostors=lambda i: ["zeros", "copy:x"] if i else ["zeros"])
    issues = [i for i in everywhere.issues() if i.kind == "ImpostorPasses"]
    assert [i.message.split(" would")[0] for i in issues] == ["an all-zeros output"]
    assert "would have passed all 6 checked cases" in issues[0].message
    assert "lower this op's atol" in issues[0].message
    assert everywhere.coverage().impostors == {"zeros": 6, "copy:x": 5}
    somewhere = run(BASE, 6, impostors=lambda i: ["zeros"] if i % 2 else [])
    assert somewhere.issues() == []  # the other cases would fail a zeros op
    unguarded = run(BASE, 6, impostors=lambda i: ["zeros"], guard=False)
    assert unguarded.issues() == []


def test_a_layout_the_shapes_cannot_have_is_not_reached():
    flat = FuzzConfig(layouts=("transposed",), batch_sizes=(2,), seq_lengths=(4,),
                      hidden_dims=(8, 16), min_dims=1, max_dims=1, edge_case_prob=0.0)
    health = run(flat, 6)
    (issue,) = health.issues()
    assert (issue.kind, issue.severity) == ("LayoutNotReached", "error")
    assert issue.message.startswith("layout 'transposed' was drawn in 6 cases but never reached "
                                    "the check: the shapes could not have it, so the inputs fell "
                                    "back to strided")
    assert health.coverage().layouts == {"strided": 6}
    (short,) = run(flat, 2).issues()  # two unlucky draws are a hint, not a verdict
    assert (short.kind, short.severity) == ("LayoutNotReached", "warning")


def test_a_dtype_whose_cases_were_all_filtered_is_not_reached():
    config = FuzzConfig(dtypes=("float32", "float16"), batch_sizes=(2,), seq_lengths=(4,),
                        hidden_dims=(8,), edge_case_prob=0.0)
    health = RunHealth(config)
    for i in range(12):
        spec = spec_for_seed(config, case_seed(3, i), "op")
        if spec.dtype == "Float16":
            health.filtered(spec)
        else:
            inputs = materialize(spec)
            health.observe(spec, inputs, np.tanh(inputs["x"]),
                           ValidationResult(passed=True, op_name="op"))
    issues = {i.kind: i.message for i in health.issues()}
    drawn = health.coverage().dtypes["float16"]
    assert issues["DtypeNotReached"] == (
        f"dtype 'float16' was drawn in {drawn} cases but never reached the check: the reference"
        f" script failed in all {drawn}; fix the reference for this dtype (the failures show its"
        " error), or drop the dtype from the op's dtypes")
    assert health.coverage().filtered == drawn


def test_a_dtype_the_op_raised_on_names_the_op_and_its_error_not_the_reference():
    # Issue 26: an op that raised in every float16 case was reported as a reference failure.
    config = FuzzConfig(dtypes=("float32", "float16"), batch_sizes=(2,), seq_lengths=(4,),
                        hidden_dims=(8,), edge_case_prob=0.0)
    specs = [spec_for_seed(config, case_seed(3, i), "op") for i in range(12)]
    half = sorted(s.seed for s in specs if s.dtype == "Float16")
    orders = []
    for order in (specs, specs[::-1]):  # cases finish in any order: the verdict is the same
        health = RunHealth(config)
        for spec in order:
            inputs = materialize(spec)
            if spec.dtype == "Float16":
                health.observe(spec, inputs, None, execution_error(
                    "op", spec.seed, f"script ops/op.py raised in run():\nTraceback (most recent"
                    f" call last):\n  ...\nTypeError: no float16 kernel (case {spec.seed})\n"))
            else:
                health.observe(spec, inputs, np.tanh(inputs["x"]),
                               ValidationResult(passed=True, op_name="op"))
        orders.append({i.kind: i.message for i in health.issues()}["DtypeNotReached"])
    assert orders[0] == orders[1] == (
        f"dtype 'float16' was drawn in {len(half)} cases but never reached the check: the op"
        f" script raised in all {len(half)} (seed {half[0]}: TypeError: no float16 kernel (case"
        f" {half[0]})); fix the op for this dtype, or drop the dtype from the op's dtypes")
    assert "reference" not in orders[0]


def test_empty_outputs_check_nothing():
    health = run(BASE, 3, reference=lambda x: x[:0])
    assert ("NothingChecked", "error") in kinds(health)


def test_untried_values_are_warnings():
    schema = OpSchema(dims=(DimSpec("N", (4, 8, 16, 32, 64, 128)),), inputs={"x": ("N",)})
    config = FuzzConfig(layouts=("contiguous", "offset", "strided"), schema=schema,
                        distributions=("uniform", "normal", "tiny"))
    health = run(config, 2)
    warnings = [i for i in health.issues() if i.kind == "NotTried"]
    assert warnings and all(i.severity == "warning" for i in warnings)
    assert any("of dim 'N' were never drawn in 2 cases; run more iterations" in i.message
               for i in warnings)
    assert all(i.severity == "warning" for i in health.issues())


@pytest.mark.parametrize("layout, shape, want", [
    ("contiguous", (4, 8), "contiguous"), ("transposed", (4, 8), "transposed"),
    ("transposed", (8,), "strided"), ("transposed", (4, 1), "strided"),
    ("channels_last", (2, 3, 4, 5), "channels_last"), ("channels_last", (4, 8), "transposed"),
    ("channels_last", (2, 1, 4, 5), "transposed"), ("strided", (4, 8), "strided"),
    ("offset", (4, 8), "offset"), ("strided", (0, 4), "strided"),
])
def test_effective_layout_follows_apply_layouts_fallbacks(layout, shape, want):
    x = apply_layout(np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape), layout)
    assert effective_layout(layout, {"x": x}) == want


def test_a_default_mix_run_reports_its_size_classes_and_every_class_it_never_drew():
    from gpuemu.fuzz.strategies import AXES, SIZE_CLASSES

    mix = FuzzConfig(dtypes=("float32", "float16"), mix=frozenset(AXES))
    whole = run(mix, 100, reference=lambda x: x * 2)
    cov = whole.coverage()
    assert set(cov.size_classes) == set(SIZE_CLASSES) and min(cov.size_classes.values()) >= 2
    assert not [i for i in whole.issues() if i.kind == "NotTried"]
    short = run(mix, 3, reference=lambda x: x * 2)
    untried = " ".join(i.message for i in short.issues() if i.kind == "NotTried")
    assert "size classes" in untried and "distributions" in untried
    assert all(i.severity == "warning" for i in short.issues())
