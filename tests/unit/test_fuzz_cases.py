"""gpuemu.fuzz.cases and gpuemu.fuzz.config: one seed names one case, derived as the original did."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import msgspec
import numpy as np
import pytest

from gpuemu.config import DISTRIBUTIONS, LAYOUTS, DimSpec, FuzzSettings, OpConfig, OpSchema, parse_config
from gpuemu.dtypes import DType
from gpuemu.errors import InvalidRequest
from gpuemu.fuzz import (
    EDGE_SHAPES, OFFSET_ELEMENTS, CaseSpec, FuzzConfig, apply_layout, case_seed, generate_case, materialize,
    shapes_for_seed, spec_for_seed,
)
from gpuemu.fuzz.values import large_range, target
from gpuemu.protocol import FuzzConfigPayload, OpSchemaPayload
from gpuemu.rng import SeededRng, derive_seed
from gpuemu.tensor import from_numpy

ROOT = Path(__file__).parents[2]
SMALL = dict(batch_sizes=(2, 3), seq_lengths=(1, 4), hidden_dims=(5, 8), edge_case_prob=0.0)
INT_DTYPES = [d for d in DType if d.is_integer]
FLOAT_DTYPES = [d for d in DType if d.is_float]
MATMUL = OpSchema(dims=(DimSpec("M", (1, 7, 64)), DimSpec("K", (3, 16, 33)), DimSpec("N", (2, 5))),
                  inputs={"a": ("M", "K"), "b": ("K", "N", 1)})


def spec(dtype="Float32", shape=(64,), distribution="uniform", layout="contiguous", seed=99, **kw) -> CaseSpec:
    return CaseSpec(op_name="op", seed=seed, dtype=DType(dtype).value, layout=layout,
                    distribution=distribution, shapes={"x": list(shape)}, **kw)


def one(dtype="Float32", shape=(64,), distribution="uniform", layout="contiguous", seed=99, **kw) -> np.ndarray:
    return materialize(spec(dtype, shape, distribution, layout, seed, **kw))["x"]


def digest(root_seed: int, n: int = 12) -> str:
    """sha256 over every input of cases 0..n-1 of a run drawing every dtype, layout and distribution."""
    config = FuzzConfig(dtypes=tuple(DType), layouts=LAYOUTS, distributions=DISTRIBUTIONS,
                        input_names=("x", "y"), edge_case_prob=0.3, batch_sizes=(1, 3), seq_lengths=(4, 17),
                        hidden_dims=(8, 33))
    h = hashlib.sha256()
    for i in range(n):
        case = generate_case(config, case_seed(root_seed, i), "op")
        h.update(msgspec.json.encode(case.spec))
        for name, x in case.inputs.items():
            h.update(f"{name}|{x.dtype}|{x.shape}|{x.strides}|".encode())
            h.update(x.tobytes())
    return h.hexdigest()


# --- the original derivation, recomputed by hand with scalar draws ------------------------


def by_hand_shape(config: FuzzConfig, seed: int) -> list[int]:
    shape_rng = SeededRng(seed).derive("shape")
    if shape_rng.gen_bool(config.edge_case_prob):
        return list(shape_rng.choice(EDGE_SHAPES))
    return [shape_rng.choice(config.batch_sizes), shape_rng.choice(config.seq_lengths),
            shape_rng.choice(config.hidden_dims)]


def by_hand_values(dtype: DType, seed: int, k: int, n: int) -> np.ndarray:
    rng = SeededRng(seed).derive("data").derive(f"input_{k}")
    if dtype.is_float:
        f32 = np.array([(rng.gen_f64() * 2 - 1) * 10 for _ in range(n)], dtype=np.float64)
        if dtype is DType.Float64:
            return f32
        f32 = f32.astype(np.float32)
        if dtype is DType.BFloat16:  # round-to-nearest-even on the float32 bits, computed by hand
            bits = f32.view(np.uint32).astype(np.uint64)
            rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
            return rounded.astype(np.uint16).view(ml_dtypes.bfloat16)
        return f32.astype(dtype.numpy)
    if dtype is DType.Bool:
        return np.array([rng.gen_bool(0.5) for _ in range(n)])
    if dtype in (DType.Int8, DType.Int16, DType.Int32, DType.Int64):
        return np.array([rng.gen_range(0, 200) - 100 for _ in range(n)], dtype=dtype.numpy)
    mask = (1 << (8 * dtype.itemsize)) - 1
    return np.array([rng.gen_u64() & mask for _ in range(n)], dtype=dtype.numpy)


def test_case_seed_is_derive_seed_of_iter_i():
    assert case_seed(2**64 - 1, 7) == derive_seed(2**64 - 1, "iter_7")


@pytest.mark.parametrize("root", [0, 42, 2**63 + 5])
def test_default_config_matches_the_original_derivation(root):
    config = FuzzConfig(dtypes=(DType.Float32, DType.Float64), input_names=("x", "y"))
    for i in range(8):
        seed = case_seed(root, i)
        case = generate_case(config, seed, "softmax")
        assert case.seed == seed
        assert case.dtype is SeededRng(seed).derive("dtype").choice(config.dtypes)
        assert case.layout == SeededRng(seed).derive("layout").choice(config.layouts) == "contiguous"
        shape = by_hand_shape(config, seed)
        assert case.shapes == {"x": tuple(shape), "y": tuple(shape)}
        for k, name in enumerate(("x", "y")):
            expected = by_hand_values(case.dtype, seed, k, int(np.prod(shape)))
            assert case.inputs[name].tobytes() == expected.tobytes()


@pytest.mark.parametrize("dtype", list(DType), ids=str)
def test_uniform_data_of_every_dtype_matches_the_original(dtype):
    config = FuzzConfig(dtypes=(dtype,), **SMALL)
    for i in range(3):
        case = generate_case(config, case_seed(5, i))
        x = case.inputs["x"]
        assert x.dtype == dtype.numpy
        assert x.tobytes() == by_hand_values(dtype, case.seed, 0, x.size).tobytes()


def test_bfloat16_is_real_bfloat16_rounded_to_nearest_even():
    x = one("BFloat16", shape=(4096,))
    assert x.dtype == np.dtype(ml_dtypes.bfloat16)
    f32 = one("Float32", shape=(4096,))
    np.testing.assert_array_equal(x.astype(np.float32), f32.astype(ml_dtypes.bfloat16).astype(np.float32))
    truncated = (f32.view(np.uint32) >> 16).astype(np.uint16)
    assert (x.view(np.uint16) != truncated).any()  # the original's truncation is not what we do
    np.testing.assert_array_equal(one("Float16", shape=(4096,)), f32.astype(np.float16))


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_inputs_and_strides_in_process():
    config = FuzzConfig(dtypes=tuple(DType), layouts=LAYOUTS, distributions=DISTRIBUTIONS, edge_case_prob=0.3)
    for i in range(20):
        seed = case_seed(1234, i)
        a, b = generate_case(config, seed, "op"), generate_case(config, seed, "op")
        assert a.spec == b.spec
        for name in a.inputs:
            assert a.inputs[name].dtype == b.inputs[name].dtype
            assert a.inputs[name].strides == b.inputs[name].strides
            assert a.inputs[name].tobytes() == b.inputs[name].tobytes()
    assert digest(1234) == digest(1234) != digest(1235)


def test_same_seed_gives_identical_inputs_across_processes():
    code = "from tests.unit.test_fuzz_cases import digest; print(digest(2**64 - 3))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == digest(2**64 - 3)


def test_spec_round_trips_through_json_with_a_large_seed():
    s = spec_for_seed(FuzzConfig(kwargs={"axis": -1}, value_range=(0.0, 1.0)), 2**64 - 1, "op")
    back = msgspec.json.decode(msgspec.json.encode(s), type=CaseSpec)
    assert back == s and back.seed == 2**64 - 1 and back.kwargs == {"axis": -1}
    assert materialize(back)["x"].tobytes() == materialize(s)["x"].tobytes()


# --- shapes --------------------------------------------------------------------------------


def test_matmul_schema_shares_k_and_keeps_literals():
    config = FuzzConfig(schema=MATMUL, input_names=("a", "b"))
    seen_k = set()
    for i in range(50):
        seed = case_seed(7, i)
        a, b = shapes_for_seed(config, seed).values()
        shape_rng = SeededRng(seed).derive("shape")
        assert a == [shape_rng.derive("M").choice((1, 7, 64)), shape_rng.derive("K").choice((3, 16, 33))]
        assert b == [a[1], shape_rng.derive("N").choice((2, 5)), 1]
        seen_k.add(a[1])
    assert seen_k == {3, 16, 33}
    case = generate_case(config, case_seed(7, 0))
    assert [x.shape for x in case.inputs.values()] == [tuple(s) for s in case.spec.shapes.values()]


def test_edge_shapes_with_size_0_size_1_and_1d_appear():
    config = FuzzConfig(edge_case_prob=1.0)
    shapes = [tuple(shapes_for_seed(config, case_seed(3, i))["x"]) for i in range(200)]
    assert set(shapes) <= set(EDGE_SHAPES)
    assert any(0 in s for s in shapes) and any(1 in s for s in shapes) and any(len(s) == 1 for s in shapes)
    assert any(np.prod(s) == 1 for s in shapes) and any(d % 16 and d > 1 for s in shapes for d in s)
    never = FuzzConfig(edge_case_prob=0.0)
    assert all(len(shapes_for_seed(never, case_seed(3, i))["x"]) == 3 for i in range(200))


@pytest.mark.parametrize("limits, check", [
    (dict(max_dims=2), lambda s, drawn: s == drawn[-2:]),
    (dict(min_dims=4), lambda s, drawn: s == [1, *drawn]),
    (dict(max_size=20), lambda s, drawn: s == [min(d, 20) for d in drawn]),
    (dict(min_size=40), lambda s, drawn: s == [max(d, 40) for d in drawn]),
])
def test_limits_adjust_only_what_breaks_them(limits, check):
    config = FuzzConfig(edge_case_prob=0.0, **limits)
    for i in range(30):
        seed = case_seed(11, i)
        assert check(shapes_for_seed(config, seed)["x"], by_hand_shape(config, seed))


def test_edge_shapes_keep_zero_sizes_under_min_size_but_obey_max_size():
    config = FuzzConfig(edge_case_prob=1.0, min_size=4, max_size=20, min_dims=2)
    shapes = [shapes_for_seed(config, case_seed(3, i))["x"] for i in range(200)]
    assert any(0 in s for s in shapes) and all(max(s) <= 20 and len(s) >= 2 for s in shapes)
    assert [1, 17] in shapes  # (17,) padded to two dims


# --- layouts --------------------------------------------------------------------------------

SHAPES = [(2, 3, 4, 5), (2, 1, 4, 5), (2, 3, 4), (3, 4), (1, 5), (4, 1), (7,), (), (1, 1), (0, 4), (2, 0, 3)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [DType.Float32, DType.BFloat16, DType.Int16, DType.Bool], ids=str)
def test_every_layout_keeps_values_and_is_non_contiguous_where_it_can_be(layout, dtype):
    for shape in SHAPES:
        plain = one(dtype, shape)
        x = one(dtype, shape, layout=layout)
        assert x.shape == plain.shape and x.dtype == plain.dtype
        assert x.tobytes() == plain.tobytes()  # same logical values, C order
        if layout == "contiguous" or x.size <= 1:
            continue
        if layout == "offset":
            assert x.flags.c_contiguous
            start = x.__array_interface__["data"][0] - x.base.__array_interface__["data"][0]
            assert start == OFFSET_ELEMENTS * x.itemsize
        else:
            assert not x.flags.c_contiguous, (layout, shape, x.strides)
            assert from_numpy(x).strides is not None  # it reaches the op as a strided view


def test_layouts_put_the_memory_where_they_say():
    item = 4
    assert one(shape=(3, 4), layout="transposed").strides == (item, 3 * item)
    assert one(shape=(2, 3, 4, 5), layout="channels_last").strides == (60 * item, item, 15 * item, 3 * item)
    assert one(shape=(2, 3, 4), layout="channels_last").strides == (12 * item, item, 3 * item)
    strided = one(shape=(3, 4), layout="strided")
    assert strided.strides == (8 * item, 2 * item)
    assert np.isnan(strided.base[:, 1::2]).all()  # a kernel that ignores strides reads NaN
    assert np.isnan(one(shape=(3, 4), layout="offset").base[:OFFSET_ELEMENTS]).all()
    assert (one("Int32", shape=(3, 4), layout="strided").base[:, 1::2] == np.iinfo(np.int32).max).all()


def test_layouts_that_cannot_apply_fall_back():
    assert one(shape=(7,), layout="transposed").strides == (2 * 4,)  # strided
    assert one(shape=(2, 1, 4, 5), layout="channels_last").strides == (20 * 4, 20 * 4, 4, 4 * 4)  # transposed
    scalar = one(shape=(), layout="strided")
    assert scalar.shape == () and scalar.base is not None  # offset
    empty = one(shape=(0, 4), layout="transposed")
    assert empty.shape == (0, 4) and empty.strides == (16, 4)
    with pytest.raises(InvalidRequest, match=r"layout: unknown layout 'diagonal'; expected one of contiguous"):
        apply_layout(np.zeros(3), "diagonal")


# --- distributions -----------------------------------------------------------------------


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_float_distributions_are_finite_in_range_except_nan_injected(distribution, dtype):
    x = one(dtype, (2048,), distribution).astype(np.float64)
    info = ml_dtypes.finfo(dtype.numpy)
    if distribution == "nan_injected":
        assert np.isnan(x).any() and 1 <= (~np.isfinite(x)).sum() <= 4
        x = x[np.isfinite(x)]
    assert np.isfinite(x).all() and (np.abs(x) <= float(info.max)).all()
    magnitude = np.abs(x)
    checks = {
        "uniform": lambda: (np.abs(x) <= 10).all() and magnitude.max() > 9,
        "normal": lambda: abs(x.mean()) < 0.1 and abs(x.std() - 1) < 0.1,
        "tiny": lambda: (x != 0).all() and (magnitude < float(info.smallest_normal)).any()
        and (magnitude <= 16 * float(info.smallest_normal)).all(),
        "huge": lambda: (magnitude >= 0.9 * float(info.max)).all(),
        "mixed_sign": lambda: (x < 0).any() and (x > 0).any() and magnitude.max() / magnitude.min() > 1e3
        and (magnitude <= 10).all(),
        "equal": lambda: 1 <= len(np.unique(x)) <= 4,
        "zeros": lambda: (x == 0).all() and np.signbit(x).any() and not np.signbit(x).all(),
        "boundary": lambda: set(np.unique(magnitude)) == {0.0, 1.0, float(info.max), float(info.smallest_normal),
                                                           float(info.smallest_subnormal)},
        "nan_injected": lambda: (np.abs(x) <= 10).all(),
        "scaled": lambda: 0 < magnitude.max() <= 1e4 * 6 and len(np.unique(x)) > 100,
        "large": lambda: (magnitude >= 0.99 * large_range(target(dtype))[0]).all()
        and (magnitude <= 1.01 * large_range(target(dtype))[1]).all() and (x < 0).any() and (x > 0).any(),
        "constant_rows": lambda: len(np.unique(x)) == 1 and (x * 8 == np.round(x * 8)).all(),
        "ties": lambda: 1 <= len(np.unique(x)) <= 4 and (x * 8 == np.round(x * 8)).all(),
    }
    assert checks[distribution]()


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("dtype", INT_DTYPES, ids=str)
def test_int_distributions_stay_in_the_dtypes_range(distribution, dtype):
    x = one(dtype, (2048,), distribution)
    assert x.dtype == dtype.numpy
    info = np.iinfo(dtype.numpy)
    v = [int(e) for e in x]  # exact Python ints, even for uint64
    signed = info.min < 0
    checks = {
        "uniform": lambda: all(-100 <= e < 100 for e in v) if signed else max(v) > info.max // 2,
        "normal": lambda: 0 < max(abs(e) for e in v) <= 60 and (min(v) < 0) == signed,
        "tiny": lambda: set(v) == ({-1, 0, 1} if signed else {0, 1}),
        "huge": lambda: all(e >= info.max - 15 or e <= info.min + 15 for e in v) and (min(v) < 0) == signed,
        "mixed_sign": lambda: (min(v) < 0) == signed and max(abs(e) for e in v) > 60,
        "equal": lambda: 1 <= len(set(v)) <= 4,
        "zeros": lambda: set(v) == {0},
        "boundary": lambda: set(v) == ({0, 1, -1, info.max, info.min, info.max - 1, info.min + 1} if signed
                                       else {0, 1, info.max, info.max - 1}),
        "nan_injected": lambda: x.tobytes() == one(dtype, (2048,)).tobytes(),
        "scaled": lambda: x.tobytes() == one(dtype, (2048,)).tobytes(),
        "large": lambda: all(e >= info.max - 15 or e <= info.min + 15 for e in v),
        "constant_rows": lambda: len(set(v)) == 1,
        "ties": lambda: 1 <= len(set(v)) <= 4 and max(abs(e) for e in v) <= 20,
    }
    assert checks[distribution]()


def test_int_normal_is_rounded_ten_z_by_hand():
    z = SeededRng(99).derive("data").derive("input_0").randn_f64(500)
    np.testing.assert_array_equal(one("Int8", (500,), "normal"), np.clip(np.rint(z * 10), -128, 127))
    np.testing.assert_array_equal(one("UInt16", (500,), "normal"), np.abs(np.rint(z * 10)))
    np.testing.assert_array_equal(one("Float64", (500,), "normal"), z)


@pytest.mark.parametrize("distribution, expected",
                         [("zeros", {False}), ("huge", {True}), ("uniform", {False, True})])
def test_bool_distributions(distribution, expected):
    assert set(one("Bool", (256,), distribution).tolist()) == expected
    assert len(set(one("Bool", (256,), "equal").tolist())) == 1


def test_value_range_moves_uniform_values():
    x = one("Float64", (1000,), value_range=(2.0, 3.0))
    assert (x >= 2).all() and (x < 3).all()
    np.testing.assert_array_equal(x, 2.5 + (one("Float64", (1000,)) / 10) * 0.5)


# --- nonzero and value_scale -------------------------------------------------------------


@pytest.mark.parametrize("dtype", [DType.Float32, DType.BFloat16, DType.Int8, DType.UInt64, DType.Bool], ids=str)
def test_nonzero_zeroes_everything_after_the_first_n_in_c_order(dtype):
    full = one(dtype, (4, 8), layout="transposed")
    x = one(dtype, (4, 8), layout="transposed", nonzero=5)
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(x.ravel()[:5], full.ravel()[:5])
    assert (x.ravel()[5:] == 0).all()
    assert (one(dtype, (4, 8), nonzero=0) == 0).all()


def test_value_scale_multiplies_before_the_cast():
    np.testing.assert_array_equal(one("Float64", value_scale=0.5), one("Float64") * 0.5)
    f32 = one("Float32", value_scale=0.3)
    expected = (SeededRng(99).derive("data").derive("input_0").fill_f64(64) * 2 - 1) * 10 * 0.3
    assert f32.tobytes() == expected.astype(np.float32).tobytes()
    np.testing.assert_array_equal(one("Int32", value_scale=0.5), np.trunc(one("Int32") * 0.5))
    huge = one("Int64", distribution="huge", value_scale=0.5)
    assert (np.abs(huge) > 2**61).all()
    assert (one("Float32", value_scale=0.0) == 0).all() and not one("Bool", value_scale=0.0).any()
    assert one("Bool", value_scale=0.5).tobytes() == one("Bool").tobytes()


@pytest.mark.parametrize("change, message", [
    (dict(value_scale=2.0), r"spec\.value_scale: expected a number in \[0, 1\], got 2\.0"),
    (dict(nonzero=-1), r"spec\.nonzero: expected an integer >= 0, got -1"),
    (dict(layout="diagonal"), r"spec\.layout: unknown layout 'diagonal'; expected one of contiguous, transposed"),
    (dict(distribution="spiky"), r"spec\.distribution: unknown distribution 'spiky'; expected one of uniform"),
    (dict(dtype="float128"), r"spec\.dtype: unknown dtype 'float128'; expected one of Float16"),
    (dict(shapes={"x": [2, -1]}), r"spec\.shapes\.x: expected sizes >= 0, got \[2, -1\]"),
])
def test_materialize_names_the_bad_spec_field(change, message):
    with pytest.raises(InvalidRequest, match=message) as info:
        materialize(msgspec.structs.replace(spec(), **change))
    assert info.value.field == message.split(":")[0].replace("\\", "")


def test_spec_from_the_wire_rejects_a_value_scale_above_one():
    raw = msgspec.json.encode(spec(value_scale=0.5)).replace(b"0.5", b"1.5")
    with pytest.raises(msgspec.ValidationError, match=r"<= 1\.0 - at `\$\.value_scale`"):
        msgspec.json.decode(raw, type=CaseSpec)


# --- FuzzConfig ------------------------------------------------------------------------------


def test_from_op_takes_fuzz_settings_and_falls_back_to_op_dtypes():
    fuzz = FuzzSettings(iterations=7, seed=3, layouts=("strided",), value_range=(0.0, 1.0), max_size=64)
    op = OpConfig(name="relu", reference=Path("ref.py"), input_names=("x", "y"), dtypes=(DType.Float16,),
                  fuzz=fuzz, kwargs={"alpha": 0.1})
    config = FuzzConfig.from_op(op)
    assert (config.seed, config.iterations, config.layouts, config.value_range, config.max_size) == \
        (3, 7, ("strided",), (0.0, 1.0), 64)
    assert config.dtypes == (DType.Float16,) and config.input_names == ("x", "y")
    assert config.kwargs == {"alpha": 0.1}
    own = OpConfig(name="relu", reference=Path("ref.py"), input_names=("x",),
                   fuzz=FuzzSettings(dtypes=(DType.BFloat16,)))
    assert FuzzConfig.from_op(own).dtypes == (DType.BFloat16,)


def test_from_a_real_gpuemu_toml_with_a_schema(tmp_path):
    (tmp_path / "ref.py").write_text("")
    text = """
        [[ops]]
        name = "matmul"
        reference = "ref.py"
        [ops.fuzz]
        seed = 5
        [ops.schema.dims]
        M = [1, 7]
        K = [16, 33]
        N = [3]
        [ops.schema.inputs]
        a = ["M", "K"]
        b = ["K", "N"]
    """.replace("\n        ", "\n")
    op = parse_config(text, tmp_path / "gpuemu.toml").op("matmul")
    config = FuzzConfig.from_op(op)
    case = generate_case(config, case_seed(config.seed, 0), "matmul")
    a, b = case.inputs["a"], case.inputs["b"]
    assert a.shape[1] == b.shape[0] and b.shape[1] == 3 and case.dtype is DType.Float32


def test_dtype_names_are_accepted_and_a_schema_must_match_the_inputs():
    assert FuzzConfig(dtypes=("float16", "BFloat16")).dtypes == (DType.Float16, DType.BFloat16)
    with pytest.raises(InvalidRequest, match=r"schema\.inputs names \['a', 'b'\] but input_names is \['x'\]"):
        FuzzConfig(schema=MATMUL)


def test_overrides_replace_only_what_is_given():
    base = FuzzConfig(seed=1, input_names=("a", "b"), schema=MATMUL)
    assert base.with_overrides(None) is base
    payload = FuzzConfigPayload(seed=2**64 - 1, dtypes=["float16", "BFloat16"], layouts=["strided"],
                                batch_sizes=[5], edge_case_prob=1.0, value_range=(0.0, 2.0),
                                op_schema=OpSchemaPayload(dims={"K": [8]}))
    config = base.with_overrides(payload)
    assert config.seed == 2**64 - 1 and config.dtypes == (DType.Float16, DType.BFloat16)
    assert config.layouts == ("strided",) and config.batch_sizes == (5,) and config.value_range == (0.0, 2.0)
    assert config.schema.dims == (DimSpec("M", (1, 7, 64)), DimSpec("K", (8,)), DimSpec("N", (2, 5)))
    assert config.schema.inputs == MATMUL.inputs and config.iterations == base.iterations
    fresh = FuzzConfig(input_names=("a", "b")).with_overrides(FuzzConfigPayload(op_schema=OpSchemaPayload(
        dims={"N": [4]}, inputs={"b": ["N"], "a": [2, "N"]})))
    assert fresh.input_names == ("a", "b") and shapes_for_seed(fresh, 1) == {"a": [2, 4], "b": [4]}


@pytest.mark.parametrize("payload, field, message", [
    (FuzzConfigPayload(layouts=["contiguous", "diagonal"]), "fuzz_config.layouts[1]",
     r"fuzz_config\.layouts\[1\]: expected one of 'contiguous', 'transposed', 'strided', "
     r"'channels_last', 'offset', got 'diagonal'"),
    (FuzzConfigPayload(distributions=["spiky"]), "fuzz_config.distributions[0]",
     r"expected one of 'uniform', 'normal'.*got 'spiky'"),
    (FuzzConfigPayload(dtypes=["float32", "float128"]), "fuzz_config.dtypes[1]",
     r"fuzz_config\.dtypes\[1\]: unknown dtype 'float128' \(string\).*; expected one of 'float16'"),
    (FuzzConfigPayload(layouts=["strided", "strided"]), "fuzz_config.layouts", r"repeats an earlier entry"),
    (FuzzConfigPayload(batch_sizes=[4, 0]), "fuzz_config.batch_sizes[1]", r"expected an integer >= 1, got 0"),
    (FuzzConfigPayload(iterations=0), "fuzz_config.iterations", r"expected an integer >= 1, got 0"),
    (FuzzConfigPayload(min_dims=5), "fuzz_config.min_dims", r"min_dims = 5 is greater than max_dims = 4"),
    (FuzzConfigPayload(edge_case_prob=1.5), "fuzz_config.edge_case_prob", r"expected a finite number >= 0\.0 and <= 1\.0, got 1\.5"),
    (FuzzConfigPayload(value_range=(3.0, 1.0)), "fuzz_config.value_range", r"low < high, got \[3\.0, 1\.0\]"),
    (FuzzConfigPayload(seed=-1), "fuzz_config.seed", r"fuzz_config\.seed: expected an integer >= 0 and <= 18446744073709551615, got -1"),
    (FuzzConfigPayload(op_schema=OpSchemaPayload(dims={"K": []})), "fuzz_config.op_schema.dims.K",
     r"expected a non-empty array"),
    (FuzzConfigPayload(op_schema=OpSchemaPayload(inputs={"a": ["M", "Q"], "b": ["K"]})),
     "fuzz_config.op_schema.inputs.a[1]", r"dim 'Q' is not declared; declare it in fuzz_config\.op_schema\.dims"),
    (FuzzConfigPayload(op_schema=OpSchemaPayload(inputs={"a": ["M"]})), "fuzz_config.op_schema.inputs",
     r"names the inputs \['a'\], but the op's inputs are \['a', 'b'\]"),
])
def test_override_errors_name_the_field(payload, field, message):
    base = FuzzConfig(input_names=("a", "b"), schema=MATMUL)
    with pytest.raises(InvalidRequest, match=message) as info:
        base.with_overrides(payload)
    assert info.value.field == field


def test_empty_override_dtypes_mean_the_ops_as_in_the_toml():
    base = FuzzConfig(dtypes=("float16",))
    assert base.with_overrides(FuzzConfigPayload(dtypes=[])).dtypes == (DType.Float16,)


def test_schema_override_without_a_schema_needs_inputs():
    with pytest.raises(InvalidRequest, match=r"this op has no \[ops\.schema\], so an override must give every"):
        FuzzConfig().with_overrides(FuzzConfigPayload(op_schema=OpSchemaPayload(dims={"M": [2]})))
