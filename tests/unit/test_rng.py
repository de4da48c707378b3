"""gpuemu.rng: the frozen sequence, the bulk helpers against scalar draws, C against Python."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpuemu import rng as R
from gpuemu.errors import GpuemuError
from gpuemu.rng import SeededRng, derive_seed, splitmix64

DATA = Path(__file__).parents[1] / "data"
SEEDS = st.integers(0, 2**64 - 1)


def _load_golden_maker():
    spec = importlib.util.spec_from_file_location("make_rng_golden", DATA / "make_rng_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GOLDEN_MAKER = _load_golden_maker()
GOLDEN = json.loads((DATA / "rng_golden.json").read_text(encoding="utf-8"))
# randn goes through libm log/cos/sin; another platform's libm may differ in the last
# bit, so only these samples allow a few ulp. Everything else must match exactly.
LIBM_SAMPLES = {"randn_f64_7": (np.float64, 4), "randn_2x3": (np.float32, 1)}


# --- frozen sequence ---------------------------------------------------------------------

def test_golden_file_covers_the_seeds_and_samples_of_its_generator():
    assert list(GOLDEN) == [str(s) for s in GOLDEN_MAKER.SEEDS]
    for record in GOLDEN.values():
        assert set(record) == {"derive_seed", *GOLDEN_MAKER.SAMPLES}
        assert list(record["derive_seed"]) == list(GOLDEN_MAKER.DOMAINS)


@pytest.mark.parametrize("seed", GOLDEN_MAKER.SEEDS)
@pytest.mark.parametrize("name", list(GOLDEN_MAKER.SAMPLES))
def test_sequence_matches_golden(seed, name):
    expected = GOLDEN[str(seed)][name]
    actual = GOLDEN_MAKER.SAMPLES[name](SeededRng(seed))
    if name in LIBM_SAMPLES:
        dtype, ulps = LIBM_SAMPLES[name]
        np.testing.assert_array_max_ulp(np.array(actual, dtype), np.array(expected, dtype), ulps)
    else:
        assert actual == expected


@pytest.mark.parametrize("seed", GOLDEN_MAKER.SEEDS)
def test_derive_seed_matches_golden(seed):
    expected = GOLDEN[str(seed)]["derive_seed"]
    assert {d: derive_seed(seed, d) for d in expected} == expected


def test_splitmix64_is_the_standard_one():
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    # Chained as a generator from state 0: the second output of standard splitmix64.
    assert splitmix64(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4


@given(seed=SEEDS, domain=st.text(max_size=20))
def test_derive_seed_is_blake2b_of_le_seed_and_utf8_domain(seed, domain):
    digest = hashlib.blake2b(digest_size=8)
    digest.update(seed.to_bytes(8, "little"))
    digest.update(domain.encode("utf-8"))
    assert derive_seed(seed, domain) == int.from_bytes(digest.digest(), "little")


def test_state_is_splitmix_of_seed_and_seed_plus_one_wrapping():
    assert SeededRng(5).state == (splitmix64(5), splitmix64(6))
    assert SeededRng(2**64 - 1).state == (splitmix64(2**64 - 1), splitmix64(0))


def test_first_draw_follows_the_variant_not_the_textbook_xorshift128plus():
    s0, s1 = SeededRng(42).state
    x = s0 ^ ((s0 << 23) & R.MASK64)
    x ^= x >> 17
    x ^= s1 ^ (s1 >> 26)
    rng = SeededRng(42)
    assert rng.gen_u64() == (x + s1) & R.MASK64
    assert rng.state == (s1, x ^ s1)


# --- scalar helpers ----------------------------------------------------------------------

def test_scalar_helpers_are_the_documented_functions_of_one_u64():
    draws = SeededRng(9).fill_u64(7).tolist()
    rng = SeededRng(9)
    assert rng.gen_f32() == (draws[0] >> 40) / 2**24
    assert rng.gen_f64() == (draws[1] >> 11) / 2**53
    assert rng.gen_range(-3, 1000) == -3 + draws[2] % 1003
    assert rng.choice([10, 20, 30]) == [10, 20, 30][draws[3] % 3]
    assert rng.gen_bool(0.25) == ((draws[4] >> 11) / 2**53 < 0.25)
    xs = ["a", "b", "c"]
    rng.shuffle(xs)
    ref = ["a", "b", "c"]
    for i, u in zip((2, 1), draws[5:7]):
        j = u % (i + 1)
        ref[i], ref[j] = ref[j], ref[i]
    assert xs == ref


def test_derive_starts_from_the_seed_and_chains():
    rng = SeededRng(123)
    assert rng.derive("dtype").seed == derive_seed(123, "dtype")
    chained = derive_seed(derive_seed(123, "data"), "input_0")
    assert rng.derive("data").derive("input_0").seed == chained
    assert repr(rng) == "SeededRng(seed=123)"


def test_generate_seed_is_a_valid_seed_that_changes():
    seeds = {R.generate_seed() for _ in range(50)}
    assert all(0 <= s < 2**64 for s in seeds)
    assert len(seeds) > 1


# --- bulk helpers equal scalar draws -----------------------------------------------------

@settings(max_examples=50, deadline=None)
@given(seed=SEEDS, n=st.integers(0, 300))
def test_fill_u64_equals_n_scalar_draws_and_leaves_the_same_state(seed, n):
    bulk, scalar = SeededRng(seed), SeededRng(seed)
    values = bulk.fill_u64(n)
    assert values.dtype == np.uint64 and values.shape == (n,)
    assert values.tolist() == [scalar.gen_u64() for _ in range(n)]
    assert bulk.state == scalar.state


@settings(max_examples=50, deadline=None)
@given(seed=SEEDS, drawn=st.integers(0, 50), domain=st.text(max_size=10))
def test_derive_is_independent_of_what_was_drawn_before(seed, drawn, domain):
    used = SeededRng(seed)
    used.fill_u64(drawn)
    used.gen_f64()
    fresh = SeededRng(seed).derive(domain)
    assert used.derive(domain).fill_u64(4).tolist() == fresh.fill_u64(4).tolist()


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, n=st.integers(0, 100))
def test_fill_f64_equals_gen_f64(seed, n):
    scalar = SeededRng(seed)
    values = SeededRng(seed).fill_f64(n)
    assert values.dtype == np.float64
    assert values.tolist() == [scalar.gen_f64() for _ in range(n)]


@pytest.mark.parametrize(
    ("lo", "hi"), [(0, 200), (-100, 100), (-(2**63), 2**63 - 1), (2**62, 2**63)]
)
def test_fill_range_equals_gen_range(lo, hi):
    scalar = SeededRng(77)
    values = SeededRng(77).fill_range(64, lo, hi)
    assert values.dtype == np.int64
    assert values.tolist() == [scalar.gen_range(lo, hi) for _ in range(64)]


def test_fill_bool_equals_gen_bool():
    scalar = SeededRng(5)
    values = SeededRng(5).fill_bool(200, 0.3)
    assert values.dtype == np.bool_
    assert values.tolist() == [scalar.gen_bool(0.3) for _ in range(200)]


def _box_muller_reference(rng: SeededRng, n: int) -> list[float]:
    """DESIGN.md's Box-Muller, written out with scalar draws and the math module."""
    out: list[float] = []
    while len(out) < n:
        u1 = max(rng.gen_f64(), 1e-300)
        u2 = rng.gen_f64()
        r = math.sqrt(-2 * math.log(u1))
        theta = 2 * math.pi * u2
        out += [r * math.cos(theta), r * math.sin(theta)]
    return out[:n]


@pytest.mark.parametrize("shape", [0, 1, 2, 5, (3, 4), (2, 3, 5), (4, 0, 2)])
def test_randn_is_box_muller_in_c_order_and_draws_two_per_pair(shape):
    dims = (shape,) if isinstance(shape, int) else shape
    n = math.prod(dims)
    ref_rng = SeededRng(31)
    expected = np.array(_box_muller_reference(ref_rng, n), dtype=np.float64).reshape(dims)
    rng64, rng32 = SeededRng(31), SeededRng(31)
    assert np.array_equal(rng64.randn_f64(shape), expected)
    got32 = rng32.randn(shape)
    assert got32.dtype == np.float32 and got32.shape == dims
    assert np.array_equal(got32, expected.astype(np.float32))
    assert rng64.state == rng32.state == ref_rng.state


# --- C accelerator against the pure-Python loops -----------------------------------------

needs_c = pytest.mark.skipif(not R.HAVE_C_ACCEL, reason="gpuemu._rngfast was not built")
BACKENDS = [pytest.param(R._fill_normal_py, id="python"),
            pytest.param(R._rngfast and R._rngfast.fill_normal, id="c", marks=needs_c)]


@pytest.mark.parametrize("fill_normal", BACKENDS)
def test_box_muller_floors_u1_so_a_zero_draw_stays_finite(fill_normal):
    # State (0, 0) draws zeros forever (no seed reaches it): u1 = 0 -> 1e-300, u2 = 0.
    out = np.empty(3)
    assert fill_normal(0, 0, out) == (0, 0)
    assert out.tolist() == [math.sqrt(-2 * math.log(1e-300)), 0.0, math.sqrt(-2 * math.log(1e-300))]


@needs_c
@pytest.mark.parametrize("seed", GOLDEN_MAKER.SEEDS)
@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_c_and_python_fill_u64_agree(seed, n):
    state = SeededRng(seed).state
    c_out, py_out = np.empty(n, np.uint64), np.empty(n, np.uint64)
    assert R._rngfast.fill_u64(*state, c_out) == R._fill_u64_py(*state, py_out)
    assert np.array_equal(c_out, py_out)


@needs_c
@pytest.mark.parametrize("seed", GOLDEN_MAKER.SEEDS)
@pytest.mark.parametrize("n", [0, 1, 2, 7, 1001])
def test_c_and_python_fill_normal_agree_bit_for_bit(seed, n):
    state = SeededRng(seed).state
    c_out, py_out = np.empty(n), np.empty(n)
    assert R._rngfast.fill_normal(*state, c_out) == R._fill_normal_py(*state, py_out)
    assert c_out.view(np.uint64).tolist() == py_out.view(np.uint64).tolist()


@needs_c
def test_c_fill_rejects_a_buffer_of_partial_items():
    with pytest.raises(ValueError, match="10 bytes is not a whole number of 8-byte items"):
        R._rngfast.fill_u64(1, 2, bytearray(10))


# --- misuse ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("seed", "match"),
    [
        (-1, r"seed -1 is outside \[0, 2\*\*64\)"),
        (2**64, r"seed 18446744073709551616 is outside"),
        (1.5, r"seed 1.5 is a float, not an integer"),
        ("7", r"seed '7' is a str, not an integer"),
        (True, r"seed True is a bool"),
    ],
)
def test_bad_seed_is_rejected_with_its_value(seed, match):
    with pytest.raises(ValueError, match=match) as info:
        SeededRng(seed)
    assert isinstance(info.value, GpuemuError)
    with pytest.raises(ValueError, match=match):
        derive_seed(seed, "x")


def test_numpy_integer_seed_is_accepted():
    assert SeededRng(np.uint64(2**64 - 1)).seed == 2**64 - 1


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda r: r.gen_range(5, 5), r"gen_range\(5, 5\): need lo < hi"),
        (lambda r: r.gen_range(0, 2**64), r"hi - lo < 2\*\*64"),
        (lambda r: r.choice([]), r"choice\(\) from an empty sequence"),
        (lambda r: r.gen_bool(1.5), r"probability 1.5 is outside \[0, 1\]"),
        (lambda r: r.fill_bool(3, -0.1), r"probability -0.1 is outside"),
        (lambda r: r.fill_u64(-1), r"fill_u64 count must be a non-negative integer, got -1"),
        (lambda r: r.fill_range(3, -(2**63), 2**63), r"fill_range\(.*\): need -2\*\*63 <= lo"),
        (lambda r: r.fill_range(3, 0, 2**63 + 1), r"use fill_u64 for wider ranges"),
        (lambda r: r.randn((2, -1)), r"each dimension of shape \(2, -1\) must be .*, got -1"),
        (lambda r: r.derive(5), r"domain 5 must be a str"),
    ],
)
def test_misuse_is_rejected_with_a_message(call, match):
    with pytest.raises(ValueError, match=match):
        call(SeededRng(0))
