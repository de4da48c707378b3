"""Seed 002's library API (no daemon): module paths, names, signatures and defaults,
called as the seed documents them."""

from __future__ import annotations

import inspect
from itertools import islice

import numpy as np
import pytest


def test_tolerance_config_and_profiles():
    from gpuemu.tolerances import ToleranceConfig, ToleranceProfile, get_recommended_tolerance

    assert ToleranceConfig.strict() == ToleranceConfig(atol=1e-7, rtol=1e-7)
    assert ToleranceConfig.relaxed() == ToleranceConfig(atol=1e-3, rtol=1e-3)
    assert ToleranceConfig.for_dtype("float16") == ToleranceConfig(1e-2, 1e-2)
    assert ToleranceConfig(1e-5, 2e-5).scale(2.0) == ToleranceConfig(2e-5, 4e-5)
    assert dict(ToleranceConfig(1e-5, 2e-5)) == {"atol": 1e-5, "rtol": 2e-5}
    for name, made in [("testing", ToleranceProfile.for_testing()),
                       ("production", ToleranceProfile.for_production()),
                       ("cross_framework", ToleranceProfile.for_cross_framework())]:
        got = ToleranceProfile.get(name)
        assert got == made and (got.atol, got.rtol) == (made["atol"], made["rtol"]) > (0, 0)
    assert ToleranceProfile.get("Cross-Framework") == ToleranceProfile.for_cross_framework()
    assert ToleranceProfile.get("for_production") == ToleranceProfile.get("prod")
    assert ToleranceProfile.for_testing().get("float16") == ToleranceConfig(1e-2, 1e-2)
    with pytest.raises(ValueError, match=r"no tolerance profile 'nightly'; the profiles are "
                                         r"'testing', 'production', 'cross_framework'"):
        ToleranceProfile.get("nightly")
    assert get_recommended_tolerance("float32") == ToleranceConfig(1e-5, 1e-5)
    assert get_recommended_tolerance("float32", op_type="matmul").atol >= 1e-5
    assert get_recommended_tolerance("matmul", "float16") == get_recommended_tolerance("float16", "matmul")


def test_calibrate_tolerance_signature_and_defaults():
    from gpuemu.tolerances import calibrate_tolerance

    params = inspect.signature(calibrate_tolerance).parameters
    assert list(params)[:5] == ["op_fn", "ref_fn", "shapes", "dtype", "n_samples"]
    assert (params["dtype"].default, params["n_samples"].default) == ("float32", 100)
    tol = calibrate_tolerance(lambda x: np.exp(x.astype(np.float16)).astype(np.float32),
                              lambda x: np.exp(x.astype(np.float64)), [(8, 8)])
    assert 1e-4 < tol.rtol < 1e-2  # float16 rounding, measured in float32


def test_rng_api():
    from gpuemu.rng import SeededRng, derive_seed, generate_seed

    rng = SeededRng(42)
    child = rng.derive("shapes")
    assert child.gen_u64() == SeededRng(derive_seed(42, "shapes")).gen_u64()
    assert rng.choice([1, 2, 3]) in (1, 2, 3) and 5 <= rng.gen_range(5, 9) < 9
    assert 0 <= rng.gen_f32() < 1 and 0 <= rng.gen_u64() < 2**64
    assert rng.randn((3, 4)).shape == (3, 4)
    assert isinstance(generate_seed(), int)


def test_fuzz_generators_and_fuzzer():
    from gpuemu.fuzz import (FuzzConfig, SeededFuzzer, TestCase, fuzz_dtypes, fuzz_dtypes_seeded,
                             fuzz_layouts, fuzz_layouts_seeded, fuzz_shapes, fuzz_shapes_seeded,
                             generate_random_tensor)

    assert [p.default for p in inspect.signature(fuzz_shapes).parameters.values()][:4] == [None] * 4
    shapes = list(islice(fuzz_shapes(), 20))  # defaults: 1..4 dims of 1..1024
    # (edge-case shapes, one draw in ten, keep their size-0 dims: the FAQ's fuzzer tries them)
    assert all(1 <= len(s) <= 4 and all(0 <= d <= 1024 for d in s) for s in shapes)
    regular = islice(fuzz_shapes(n=None, config=FuzzConfig(edge_case_prob=0.0), seed=5), 50)
    assert all(1 <= len(s) <= 4 and all(1 <= d <= 1024 for d in s) for s in regular)
    assert list(islice(fuzz_shapes_seeded(9, max_dims=2), 5)) == list(islice(fuzz_shapes_seeded(9, max_dims=2), 5))
    assert set(islice(fuzz_dtypes(exclude=["bfloat16", "float64"]), 40)) == {"float32", "float16"}
    assert all(np.dtype(d) for d in islice(fuzz_dtypes_seeded(1), 10))  # numpy accepts them
    assert "strided" in set(islice(fuzz_layouts(), 100))
    assert list(islice(fuzz_layouts_seeded(3), 4)) == list(islice(fuzz_layouts_seeded(3), 4))
    t = generate_random_tensor(seed=1, shape=(4, 5), dtype="float64", domain=(2.0, 3.0))
    assert t.dtype == np.float64 and ((2.0 <= t) & (t <= 3.0)).all()

    config = FuzzConfig()
    assert (config.iterations, config.seed, config.min_dims, config.max_dims, config.min_size,
            config.max_size) == (100, None, 1, 4, 1, 1024)
    assert config.dtypes == ("Float32",) and config.layouts == ("contiguous",)
    case = SeededFuzzer(42, FuzzConfig(iterations=3)).next_test_case()
    assert isinstance(case, TestCase)
    assert (case.shape, case.dtype, case.layout) == (case.inputs["x"].shape, "Float32", "contiguous")
    results = SeededFuzzer(42, FuzzConfig(iterations=3)).run(lambda c: True)
    assert (results.seed, results.total, results.passed, results.failed, results.failures) == (
        42, 3, 3, 0, [])


def test_data_classes_read_by_attribute_and_key():
    from gpuemu import FuzzResults, MinimizeResult, ReproduceResult, ReproductionInfo, ValidationResult
    from gpuemu.validate import FailureReason

    r = ValidationResult(passed=False, op_name="softmax", seed=7,
                         failures=[FailureReason(kind="ToleranceExceeded", message="too far")],
                         repro_info=ReproductionInfo(seed=7, op_name="softmax",
                                                     input_shapes={"x": [2, 8]},
                                                     input_strides={"x": [8, 1]},
                                                     input_dtypes={"x": "Float32"}))
    assert r["passed"] is r.passed is False and r["failures"][0]["message"] == "too far"
    info = r.repro_info
    assert (info.shape, info.strides, info.dtype, info.layout) == ((2, 8), (8, 1), "float32", "")
    assert info["fuzz_config"] is None and info["input_snapshot"] == {}
    fr = FuzzResults(op_name="softmax", seed=1, iterations=3, passed=2, failed=1, failures=[r])
    assert fr["total"] == fr.total == 3 and "total" in fr.keys()
    assert {"result", "inputs"} <= set(ReproduceResult.__struct_fields__)
    assert {"original_seed", "minimized_seed", "minimized_shape", "result"} <= set(
        MinimizeResult.__struct_fields__)


def test_module_names_of_the_seeds():
    import gpuemu.frameworks.base as base
    import gpuemu.validation as validation
    from gpuemu import Client, GpuemuClient
    from gpuemu.validate import fuzz_op, reproduce, validate_op

    assert GpuemuClient is Client  # seed 001's name
    assert (fuzz_op, reproduce) == (validation.fuzz_op, validation.reproduce)

    assert validate_op is validation.validate_op and inspect.isabstract(base.BaseAdapter)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import gpuemu.validate as v
        v.nope  # noqa: B018
