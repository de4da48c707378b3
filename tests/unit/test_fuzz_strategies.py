"""The default strategy mix (gpuemu.fuzz.strategies): what an op without [ops.fuzz] is fuzzed with."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gpuemu.config import DimSpec, FuzzSettings, OpConfig, OpSchema, parse_config
from gpuemu.dtypes import DType
from gpuemu.fuzz import FuzzConfig, case_seed, materialize, spec_for_seed
from gpuemu.fuzz.strategies import (
    AXES, MIX_DISTRIBUTIONS, MIX_LAYOUTS, MIX_MAX_ELEMENTS, SIZE_CLASSES, size_classes,
)
from gpuemu.protocol import FuzzConfigPayload

HALF = (DType.Float32, DType.Float16, DType.BFloat16)


def op(**kw) -> OpConfig:
    return OpConfig(name="op", reference=Path("ref.py"), input_names=("x",), dtypes=HALF, **kw)


def classes(config: FuzzConfig, root: int, n: int = 100) -> tuple[Counter, Counter, Counter]:
    layouts, values, sizes = Counter(), Counter(), Counter()
    for i in range(n):
        spec = spec_for_seed(config, case_seed(root, i))
        layouts[spec.layout] += 1
        values[spec.distribution] += 1
        sizes.update(size_classes(spec.shapes["x"]))
    return layouts, values, sizes


@pytest.mark.parametrize("root", [0, 1, 20, 2024, 2**63 + 5])
def test_a_hundred_iterations_reach_every_class_a_few_times(root):
    layouts, values, sizes = classes(FuzzConfig.from_op(op()), root)
    for pool, counts in ((MIX_LAYOUTS, layouts), (MIX_DISTRIBUTIONS, values), (SIZE_CLASSES, sizes)):
        assert {name: counts[name] for name in pool if counts[name] < 2} == {}, (root, counts)


def test_an_op_without_a_fuzz_table_draws_every_axis_from_the_mix():
    assert FuzzConfig.from_op(op()).mix == frozenset(AXES)
    assert FuzzConfig().mix == frozenset()  # built by hand: the original's draws


@pytest.mark.parametrize(("fuzz", "left"), [
    ({"layouts": ("strided",)}, {"values", "shapes"}),
    ({"distributions": ("normal",)}, {"layouts", "shapes"}),
    ({"value_range": (0.0, 1.0)}, {"layouts", "shapes"}),
    ({"batch_sizes": (1,), "seq_lengths": (3,), "hidden_dims": (5,)}, {"layouts", "values"}),
    ({"max_size": 64}, {"layouts", "values"}),
    ({"iterations": 7, "seed": 3}, set(AXES)),
])
def test_knobs_set_explicitly_keep_their_axis_original(fuzz, left):
    assert FuzzConfig.from_op(op(fuzz=FuzzSettings(**fuzz))).mix == frozenset(left)


def test_a_toml_key_equal_to_the_default_still_counts_as_set(tmp_path):
    (tmp_path / "ref.py").write_text("")
    text = ('[[ops]]\nname = "a"\nreference = "ref.py"\ninput_names = ["x"]\n'
            '[ops.fuzz]\ndistributions = ["uniform"]\nlayouts = ["contiguous"]\n')
    config = FuzzConfig.from_op(parse_config(text, tmp_path / "gpuemu.toml").op("a"))
    assert config.mix == {"shapes"}
    spec = spec_for_seed(config, 5)
    assert (spec.layout, spec.distribution) == ("contiguous", "uniform")


def test_explicit_original_knobs_draw_exactly_as_the_original():
    knobs = dict(batch_sizes=(2,), seq_lengths=(16,), hidden_dims=(32,), distributions=("uniform", "normal"),
                 layouts=("contiguous", "strided"), edge_case_prob=0.0)
    mixed = FuzzConfig.from_op(op(fuzz=FuzzSettings(**knobs)))
    original = FuzzConfig(dtypes=HALF, **knobs)
    for i in range(5):
        seed = case_seed(9, i)
        assert spec_for_seed(mixed, seed) == spec_for_seed(original, seed)


def test_a_requests_fuzz_config_takes_its_axes_out_of_the_mix():
    base = FuzzConfig.from_op(op())
    assert base.with_overrides(FuzzConfigPayload(seq_lengths=[8])).mix == {"layouts", "values"}
    assert base.with_overrides(FuzzConfigPayload(distributions=["normal"])).mix == {"layouts", "shapes"}
    assert base.with_overrides(FuzzConfigPayload(iterations=3)).mix == frozenset(AXES)


def test_a_schema_keeps_its_candidates_and_the_mix_drops_layouts_it_cannot_have():
    schema = OpSchema(dims=(DimSpec("M", (3, 5)), DimSpec("N", (7,))), inputs={"x": ("M", "N")})
    config = FuzzConfig.from_op(op(schema=schema))
    assert "channels_last" not in config.layout_pool and "transposed" in config.layout_pool
    shapes = {tuple(spec_for_seed(config, case_seed(1, i)).shapes["x"]) for i in range(40)}
    assert shapes == {(3, 7), (5, 7)}


def test_mix_cases_are_pure_functions_of_the_seed_and_fit_the_element_budget():
    config = FuzzConfig.from_op(op())
    for i in range(60):
        seed = case_seed(77, i)
        a, b = spec_for_seed(config, seed), spec_for_seed(config, seed)
        assert a == b
        x, y = materialize(a)["x"], materialize(b)["x"]
        assert x.tobytes() == y.tobytes() and x.strides == y.strides
        assert math.prod(a.shapes["x"]) <= MIX_MAX_ELEMENTS


def test_long_rows_reach_4096_elements():
    config = FuzzConfig.from_op(op())
    lasts = [spec_for_seed(config, case_seed(3, i)).shapes["x"][-1] for i in range(200)]
    assert max(lasts) >= 4096


@pytest.mark.parametrize(("shape", "expected"), [
    ([0, 5], ["empty", "prime", "pow2"]), ([1, 1], ["one", "pow2"]), ([3, 31], ["prime", "pow2", "block"]),
    ([4, 33], ["pow2", "block"]), ([2, 63], ["pow2", "block"]), ([2, 1023], ["pow2", "block"]),
    ([4097], ["pow2", "block", "long"]), ([2, 5003], ["prime", "long"]), ([6, 10], []),
])
def test_size_classes(shape, expected):
    assert size_classes(shape) == expected


def test_constant_rows_have_exact_means_and_zero_variance_in_float32():
    config = FuzzConfig.from_op(op())
    found = 0
    for i in range(300):
        spec = spec_for_seed(config, case_seed(4, i))
        if spec.distribution != "constant_rows" or not math.prod(spec.shapes["x"]):
            continue
        x = np.ascontiguousarray(materialize(spec)["x"]).astype(np.float32)
        assert (x.var(axis=-1) == 0).all() and (x.mean(axis=-1) == x[..., 0]).all()
        found += 1
    assert found >= 5


def test_the_hint_to_keep_shapes_out_names_a_knob_that_works_for_the_op():
    schema = OpSchema(dims=(DimSpec("M", (0, 5)),), inputs={"x": ("M",)})
    assert "[ops.schema]" in FuzzConfig.from_op(op(schema=schema)).keep_out_hint()
    mixed = FuzzConfig.from_op(op()).keep_out_hint()
    assert "the default mix draws empty and size-1 dims" in mixed
    sized = FuzzConfig.from_op(op(fuzz=FuzzSettings(hidden_dims=(8,))))
    assert not sized.mixed_shapes and sized.keep_out_hint() == ("set edge_case_prob = 0 in the"
                                                                 " op's [ops.fuzz]")
