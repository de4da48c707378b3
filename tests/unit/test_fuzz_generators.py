"""gpuemu.fuzz.generators: seed 002's generators and SeededFuzzer agree with the case derivation."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest

from gpuemu.config import LAYOUTS
from gpuemu.dtypes import DType
from gpuemu.errors import InvalidRequest
from gpuemu.fuzz import (
    DEFAULT_DTYPES, EDGE_SHAPES, FuzzConfig, SeededFuzzer, TestCase, case_seed, fuzz_dtypes, fuzz_dtypes_seeded,
    fuzz_layouts, fuzz_layouts_seeded, fuzz_shapes, fuzz_shapes_seeded, generate_case, generate_random_tensor,
)
from gpuemu.rng import SeededRng
from gpuemu.validate.result import ValidationResult

CONFIG = FuzzConfig(seed=77, dtypes=DEFAULT_DTYPES, layouts=LAYOUTS, edge_case_prob=0.2,
                    batch_sizes=(1, 2), seq_lengths=(3, 16), hidden_dims=(5, 32), iterations=6)


def test_seeded_generators_name_the_cases_of_a_fuzzer_run():
    fuzzer = SeededFuzzer(config=CONFIG)
    cases = [fuzzer.next_test_case() for _ in range(25)]
    assert fuzz_shapes_seeded(77, 25, CONFIG) == [c.shapes["x"] for c in cases]
    assert fuzz_dtypes_seeded(77, 25, DEFAULT_DTYPES) == [c.dtype.short_name for c in cases]
    assert fuzz_layouts_seeded(77, 25, LAYOUTS) == [c.layout for c in cases]
    assert len({c.dtype for c in cases}) > 1 and len({c.layout for c in cases}) > 1


def test_seeded_generators_are_pure_and_follow_the_derivation():
    assert fuzz_layouts_seeded(5, 40) == fuzz_layouts_seeded(5, 40)
    assert fuzz_layouts_seeded(5, 40) == [SeededRng(case_seed(5, i)).derive("layout").choice(LAYOUTS)
                                          for i in range(40)]
    assert fuzz_dtypes_seeded(5, 3, ["float16"]) == ["float16"] * 3  # numpy names (seed 002)
    shapes = fuzz_shapes_seeded(5, 200, FuzzConfig(edge_case_prob=1.0))
    assert set(shapes) <= set(EDGE_SHAPES) and any(0 in s for s in shapes)
    assert fuzz_shapes_seeded(5, 0) == []


def test_plain_generators_use_the_given_seed_else_a_fresh_one():
    # seed 002 made the positional parameters the limits (shapes) and include/exclude
    # (dtypes), so a count and a config are keywords
    assert fuzz_shapes(n=10, config=CONFIG, seed=3) == fuzz_shapes_seeded(3, 10, CONFIG)
    assert fuzz_shapes(n=10, config=CONFIG) == fuzz_shapes_seeded(77, 10, CONFIG)  # config.seed
    assert fuzz_dtypes(n=10, seed=3) == fuzz_dtypes_seeded(3, 10)
    assert fuzz_layouts(10, seed=3) == fuzz_layouts_seeded(3, 10)
    assert len(fuzz_shapes(n=4)) == 4
    assert all(len(s) == 3 for s in fuzz_shapes(n=4, config=FuzzConfig(edge_case_prob=0.0)))
    assert set(fuzz_dtypes(n=30)) <= {d.short_name for d in DEFAULT_DTYPES}
    assert set(fuzz_layouts(30)) <= set(LAYOUTS)


@pytest.mark.parametrize("call, message", [
    (lambda: fuzz_dtypes_seeded(1, 3, ["float32", "complex64"]), r"dtypes\[1\]: unknown dtype 'complex64'"),
    (lambda: fuzz_layouts_seeded(1, 3, ["contiguous", "zigzag"]),
     r"layouts\[1\]: unknown layout 'zigzag'; expected one of contiguous, transposed"),
    (lambda: fuzz_layouts(3, layouts=[]), r"layouts: expected at least one value, got an empty list"),
    (lambda: fuzz_dtypes(n=3, seed=2**64), r"seed 18446744073709551616 is outside \[0, 2\*\*64\)"),
])
def test_generator_errors_name_the_argument(call, message):
    with pytest.raises(InvalidRequest, match=message):
        call()


def test_generate_random_tensor_is_input_0_of_the_case_with_that_seed():
    config = FuzzConfig(dtypes=(DType.BFloat16,), layouts=("channels_last",), input_names=("x", "y"),
                        batch_sizes=(2,), seq_lengths=(3,), hidden_dims=(4,), edge_case_prob=0.0)
    case = generate_case(config, 123)
    x = generate_random_tensor(123, (2, 3, 4), "bfloat16", (-10.0, 10.0), layout="channels_last")
    assert x.dtype == case.inputs["x"].dtype and x.strides == case.inputs["x"].strides
    assert x.tobytes() == case.inputs["x"].tobytes() != case.inputs["y"].tobytes()
    rng = SeededRng(9).derive("data").derive("input_0")
    expected = np.array([(rng.gen_f64() * 2 - 1) * 10 for _ in range(5)], dtype=np.float32)
    assert generate_random_tensor(9, 5, DType.Float32, domain=(-10, 10)).tobytes() == expected.tobytes()
    assert (generate_random_tensor(9, 8, "int32", distribution="zeros") == 0).all()
    with pytest.raises(InvalidRequest, match=r"unknown distribution 'spiky'"):
        generate_random_tensor(9, 4, "float32", distribution="spiky")


def test_fuzzer_without_a_seed_picks_one_and_reports_it():
    fuzzer = SeededFuzzer(config=FuzzConfig(iterations=3), op_name="relu")
    assert fuzzer.seed is not None and fuzzer.config.seed == fuzzer.seed
    again = SeededFuzzer(config=fuzzer.config, op_name="relu")
    for _ in range(3):
        a, b = fuzzer.next_test_case(), again.next_test_case()
        assert a.spec == b.spec and a.inputs["x"].tobytes() == b.inputs["x"].tobytes()
    assert fuzzer.index == 3


def test_fuzzer_case_i_uses_case_seed_i():
    fuzzer = SeededFuzzer(config=CONFIG, op_name="softmax")
    for i in range(4):
        case = fuzzer.next_test_case()
        assert isinstance(case, TestCase) and case.seed == case_seed(77, i) and case.op_name == "softmax"
        assert case.spec == generate_case(CONFIG, case_seed(77, i), "softmax").spec


def test_run_calls_fn_per_case_and_reports_progress():
    seen, called = [], []
    results = SeededFuzzer(config=CONFIG).run(called.append, progress=lambda *args: seen.append(args))
    assert [c.seed for c in called] == [case_seed(77, i) for i in range(6)]
    assert seen == [(i, 6) for i in range(1, 7)]
    assert (results.seed, results.total, results.passed, results.failed) == (77, 6, 6, 0)
    assert SeededFuzzer(config=CONFIG).run(lambda case: True, iterations=2).total == 2


@pytest.mark.parametrize("fail", [False, lambda seed: ValidationResult(passed=False, op_name="op", seed=seed)])
def test_run_fail_fast_stops_after_the_first_failure(fail):
    fuzzer = SeededFuzzer(config=CONFIG)
    third = case_seed(77, 2)

    def check(case):
        if case.seed != third:
            return ValidationResult(passed=True, op_name="op", seed=case.seed)
        return fail if fail is False else fail(case.seed)

    results = fuzzer.run(check, fail_fast=True)
    assert (results.total, results.failed) == (3, 1) and results.failures[0].seed == third
    assert fuzzer.index == 3
    assert SeededFuzzer(config=CONFIG).run(check).total == 6  # without fail_fast every case runs


def test_seed_002_forms():
    """SeededFuzzer(seed, config), endless generators, numpy dtype names, run -> FuzzResults."""
    fuzzer = SeededFuzzer(42)
    case = fuzzer.next_test_case()
    assert fuzzer.seed == 42 and case.seed == case_seed(42, 0)
    assert case.shape == case.inputs["x"].shape and case.layout == "contiguous"
    assert SeededFuzzer(42, CONFIG).seed == 42  # the seed wins over config.seed

    def crash(case):
        raise RuntimeError("boom")

    crashed = SeededFuzzer(1, FuzzConfig(iterations=2)).run(crash)
    assert crashed["failed"] == 2 and crashed.failures[0].failures[0]["kind"] == "ExecutionError"
    assert "boom" in crashed.failures[0].failures[0]["message"]
    shapes = fuzz_shapes_seeded(3, min_dims=2, max_dims=2, max_size=8)
    first = [next(shapes) for _ in range(50)]
    assert all(len(s) == 2 and max(s) <= 8 for s in first)
    assert all(1 <= len(s) <= 4 and max(s, default=1) <= 1024 for s in islice(fuzz_shapes(), 30))
    assert set(islice(fuzz_dtypes(include=["float32", "float16"], exclude=["float16"]), 20)) == {"float32"}
    assert set(islice(fuzz_layouts(), 200)) == set(LAYOUTS)
    assert list(islice(fuzz_dtypes_seeded(5), 5)) == fuzz_dtypes_seeded(5, 5)
    assert list(islice(fuzz_layouts_seeded(5), 5)) == fuzz_layouts_seeded(5, 5)
    x = generate_random_tensor(7, (3, 4))
    assert x.dtype == np.float32 and x.shape == (3, 4) and np.abs(x).max() <= 1.0
    with pytest.raises(InvalidRequest, match=r"exclude: \['float32'\] leaves no dtype"):
        fuzz_dtypes(include=["float32"], exclude=["float32"], n=1)
