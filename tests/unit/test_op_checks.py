"""An op's config as a check: verdict keys in gpuemu.toml, reduction-aware tolerances, the
tolerance each verdict records (gpuemu.op_checks, tolerances.reduction_length)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from gpuemu.config import parse_config
from gpuemu.dtypes import DType
from gpuemu.errors import ConfigError
from gpuemu.op_checks import applied_tolerance, check_op_output
from gpuemu.tolerances import ToleranceConfig, get_recommended_tolerance, reduction_length
from gpuemu.validate import FailureKind

from ..conftest import SOFTMAX_REF, write


def ops(tmp_path: Path, body: str, head: str = ""):
    write(tmp_path / "ref.py", SOFTMAX_REF)
    text = head + "".join(f'\n[[ops]]\nname = "{name}"\nreference = "ref.py"\ninput_names = '
                          f'["a", "b"]\n{keys}' for name, keys in _entries(body))
    return parse_config(text, tmp_path / "gpuemu.toml")


def _entries(body: str):
    for block in body.strip().split("---"):
        name, _, keys = block.strip().partition("\n")
        yield name.strip(), keys + "\n"


def test_verdict_keys_parse_with_their_defaults(tmp_path):
    cfg = ops(tmp_path, """
        plain
        ---
        strict
        compare = "ulp"
        max_ulp = 4
        vacuous_guard = false
        deterministic = true
        ---
        rowsum
        op_type = "reduction"
        reduced_dims = [0, -1]
        ---
        soft
        op_type = "softmax"
    """)
    plain, strict = cfg.op("plain"), cfg.op("strict")
    assert (plain.compare, plain.max_ulp, plain.vacuous_guard, plain.deterministic) == (
        "allclose", None, True, False)
    assert (strict.compare, strict.max_ulp, strict.vacuous_guard, strict.deterministic) == (
        "ulp", 4.0, False, True)
    assert cfg.op("rowsum").reduce_dims == (0, -1)  # reduced_dims is reduce_dims
    assert cfg.op("soft").op_type == "softmax"


@pytest.mark.parametrize("keys, match", [
    ('compare = "ulp"\n', r"ops\[0\] \(bad\)\.compare: compare = \"ulp\" and max_ulp go together"),
    ("max_ulp = 2\n", r"\.max_ulp: compare = \"ulp\" and max_ulp go together"),
    ('compare = "ulp"\nmax_ulp = -1\n', r"max_ulp: expected a finite number >= 0\.0, got -1"),
    ('compare = "ulps"\n', r"compare: expected one of 'allclose', 'ulp', got 'ulps'"),
    ("vacuous_guard = 1\n", r"vacuous_guard: expected true or false, got 1 \(integer\)"),
    ("deterministic = 'yes'\n", r"deterministic: expected true or false"),
    ('op_type = "matmul"\nreduce_dims = [1]\n', r"reduce_dims applies to reductions, but op_type "
                                                 r"is 'matmul'"),
    ("reduce_dims = [1]\nreduced_dims = [1]\n", r"'reduce_dims' and 'reduced_dims' are the same"),
])
def test_verdict_keys_are_checked(tmp_path, keys, match):
    with pytest.raises(ConfigError, match=match):
        ops(tmp_path, "bad\n" + keys)


def test_reduction_length_per_op_type():
    assert reduction_length("matmul", [(64, 4096), (4096, 32)]) == 4096
    assert reduction_length("reduction", [(8, 16, 32)]) == 32  # default: the last dim
    assert reduction_length("reduction", [(8, 16, 32)], (0, -1)) == 256
    assert reduction_length("softmax", [(4, 1000)]) == 1000
    assert reduction_length("attention", [(2, 128, 64), (2, 2048, 64)]) == 2048
    assert reduction_length("attention", [(2, 128, 256), (2, 16, 256)]) == 256
    assert reduction_length("reduction", [(0, 5)], (0,)) == 1  # an empty sum is no sum
    with pytest.raises(ValueError, match=r"reduce_dims \[2\] do not fit the first input's "
                                         r"shape \[4, 8\]: dim 2 is out of range"):
        reduction_length("reduction", [(4, 8)], (2,))


def test_applied_tolerance_scales_with_k_and_says_why(tmp_path):
    cfg = ops(tmp_path, """
        mm
        op_type = "matmul"
        ---
        pinned
        op_type = "matmul"
        tolerances = { float32 = { atol = 1e-6, rtol = 1e-6 } }
        ---
        ew
    """, head='[validation.tolerances]\nfloat16 = { atol = 0.05, rtol = 0.05 }\n')
    big = applied_tolerance(cfg.op("mm"), "float32", [(64, 4096), (4096, 64)])
    assert big.tolerance == get_recommended_tolerance("float32", "matmul", 4096)
    assert big.tolerance.atol > 1e-3 and big.tolerance.rtol > 2e-5
    assert big.source == ("the float32 default, scaled for op_type 'matmul' over K=4096 terms "
                          "(tolerances.get_recommended_tolerance)")
    small = applied_tolerance(cfg.op("mm"), "float32", [(4, 4), (4, 4)])
    assert small == applied_tolerance(cfg.op("ew"), "float32", [(4, 4)])  # short sums: default
    assert small.source == "the float32 default"
    half = applied_tolerance(cfg.op("mm"), DType.Float16, [(8, 64), (64, 8)])
    assert half.tolerance.atol >= 0.05 and half.source.startswith("[validation.tolerances]")
    pinned = applied_tolerance(cfg.op("pinned"), "float32", [(64, 4096), (4096, 64)])
    assert pinned == type(pinned)(ToleranceConfig(1e-6, 1e-6), "[ops.tolerances] of op 'pinned'")
    assert applied_tolerance(cfg.op("mm"), "int32", [(64, 4096)]).tolerance.is_exact


def test_get_recommended_tolerance_floor_keeps_a_tighter_base():
    tight = ToleranceConfig(1e-7, 1e-7)
    got = get_recommended_tolerance("float32", "reduction", 16, floor=tight)
    assert got.rtol < 1e-5  # not lifted to the default
    assert got == tight.looser(get_recommended_tolerance("float32", "reduction", 16,
                                                         floor=ToleranceConfig(0, 0)))


def test_bad_reduce_dims_is_a_config_error_naming_the_op(tmp_path):
    op = ops(tmp_path, 'rs\nop_type = "reduction"\nreduce_dims = [3]\n').op("rs")
    with pytest.raises(ConfigError, match=r"op 'rs': reduce_dims \[3\] do not fit .*; fix "
                                          r"reduce_dims in its \[\[ops\]\] entry"):
        applied_tolerance(op, "float32", [(4, 8)])


def test_check_op_output_records_what_it_applied(tmp_path):
    cfg = ops(tmp_path, """
        mm
        op_type = "matmul"
        ---
        ulp
        compare = "ulp"
        max_ulp = 8
        ---
        unguarded
        vacuous_guard = false
    """)
    g = np.random.default_rng(0)
    a, b = g.standard_normal((16, 2048)), g.standard_normal((2048, 16))
    expected = (a @ b).astype(np.float32)
    actual = (expected + np.float32(5e-4)).astype(np.float32)  # within a float32 sum's error
    inputs = {"a": a.astype(np.float32), "b": b.astype(np.float32)}
    scaled = check_op_output(cfg.op("mm"), actual, expected, inputs, seed=1)
    assert scaled.passed and "K=2048" in scaled.tolerance_source
    assert not check_op_output(cfg.op("unguarded"), actual, expected, inputs, seed=1).passed
    ulp = check_op_output(cfg.op("ulp"), expected.copy(), expected, inputs, seed=1)
    assert ulp.passed and ulp.max_ulp == 8 and ulp.atol is None
    assert ulp.tolerance_source == "compare = \"ulp\", max_ulp = 8 of op 'ulp'"
    tiny = np.full((4, 4), 1e-7, np.float32) * np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    small_inputs = {"a": np.ones((4, 4), np.float32), "b": np.ones((4, 4), np.float32)}
    guarded = check_op_output(cfg.op("mm"), tiny, tiny, small_inputs, seed=2)
    assert guarded.passed and [w.kind for w in guarded.warnings] == [FailureKind.VacuousCheck]
    fuzz_case = check_op_output(cfg.op("mm"), tiny, tiny, small_inputs, seed=2, vacuous="report")
    assert fuzz_case.passed and fuzz_case.impostors == ["zeros"]
    off = check_op_output(cfg.op("unguarded"), tiny, tiny, small_inputs, seed=2)
    assert off.passed and off.impostors == []
    assert not math.isnan(off.max_diff)


MATMUL_SCHEMA = """
[ops.schema]
name = "gemm_nn"
dims = [{ name = "M", candidates = [3] }, { name = "K", candidates = [5] }, { name = "N", candidates = [4] }]
inputs = [{ name = "a", dims = ["M", "K"] }, { name = "b", dims = ["K", "N"] }]
output = { name = "c", dims = ["M", "N"] }
"""


def test_an_output_is_checked_against_the_schemas_output_even_when_the_reference_agrees(tmp_path):
    """A reference that shares the op's shape bug agrees with it; ``[ops.schema] output``
    does not: the output must be [M, N] with M, N bound by the inputs' shapes."""
    op = ops(tmp_path, "mm\n" + MATMUL_SCHEMA).op("mm")
    inputs = {"a": np.ones((3, 5), np.float32), "b": np.ones((5, 4), np.float32)}
    right = inputs["a"] @ inputs["b"]
    assert check_op_output(op, right, right.copy(), inputs, seed=1).passed

    transposed = right.T.copy()  # [N, M]: op and reference made the same mistake
    result = check_op_output(op, transposed, transposed.copy(), inputs, seed=1)
    assert not result.passed and result.failure_kinds == [FailureKind.ShapeMismatch]
    (failure,) = result.failures
    assert failure.expected == "[3, 4]" and failure.actual == "[4, 3]"
    assert "schema 'gemm_nn' is [M, N] = [3, 4]" in failure.message and "op 'mm'" in failure.message


def test_a_schema_output_with_a_literal_size_and_inputs_off_the_schema(tmp_path):
    op = ops(tmp_path, "rowmax\n" + MATMUL_SCHEMA.replace(
        'output = { name = "c", dims = ["M", "N"] }', 'output = ["M", 1]')).op("rowmax")
    inputs = {"a": np.ones((3, 5), np.float32), "b": np.ones((5, 4), np.float32)}
    assert check_op_output(op, np.ones((3, 1)), np.ones((3, 1)), inputs, seed=2).passed
    flat = check_op_output(op, np.ones(3), np.ones(3), inputs, seed=2)
    assert flat.failure_kinds == [FailureKind.ShapeMismatch]
    assert "[M, 1] = [3, 1]" in flat.failures[0].message
    # Inputs whose shapes disagree with the schema (K differs): no shape to hold the output to.
    other = {"a": np.ones((3, 5), np.float32), "b": np.ones((6, 4), np.float32)}
    assert check_op_output(op, np.ones(3), np.ones(3), other, seed=2).passed
