"""The trivial-output guard: each impostor is caught, a discriminating check is left alone."""

from __future__ import annotations


import numpy as np
import pytest

from gpuemu.errors import InvalidRequest
from gpuemu.tolerances import ToleranceConfig
from gpuemu.validate import FailureKind, validate_output
from gpuemu.validate.guards import RUNS, SAMPLE, impostor_words, sample_at

KERNELBENCH = ToleranceConfig(atol=1e-2, rtol=1e-2)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(x.dtype)


def vacuous(result) -> str:
    """The VacuousCheck warning's message; the guard never fails a case (issue 18)."""
    assert result.passed and not result.failures
    (reason,) = [f for f in result.warnings if f.kind == FailureKind.VacuousCheck]
    return reason.message


def test_zeros_softmax_over_huge_rows_is_caught():
    """KernelBench issue 165: every softmax value of a 16384-wide row sits below atol=1e-2."""
    x = rng(1).standard_normal((8, 16384)).astype(np.float32)
    expected = softmax(x)
    assert np.abs(expected).max() < KERNELBENCH.atol
    zeros = validate_output(np.zeros_like(expected), expected, tolerance=KERNELBENCH,
                            inputs={"x": x})
    assert zeros.passed and zeros.failure_kinds == []  # the values alone "passed" ...
    assert [w.kind for w in zeros.warnings] == [FailureKind.VacuousCheck]  # ... and it says so
    assert "zeros" in zeros.impostors
    message = vacuous(zeros)
    assert "an all-zeros output would also pass (the tolerance swallows the reference: its " \
           "largest |value| is" in message
    assert "lower this op's atol" in message and "value_range" in message
    # The correct op gets the same verdict and warning: the check cannot tell them apart,
    # so it must not fail either of them.
    right = validate_output(expected.copy(), expected, tolerance=KERNELBENCH)
    assert right.passed and [w.kind for w in right.warnings] == [FailureKind.VacuousCheck]
    # The float32 default (1e-5) is not swallowed: the correct op passes, zeros fail.
    assert validate_output(expected.copy(), expected, inputs={"x": x}).passed
    assert validate_output(np.zeros_like(expected), expected).failure_kinds == [
        FailureKind.ToleranceExceeded]


def test_identity_op_passing_as_a_no_op_is_caught():
    x = rng(2).uniform(0, 10, (32, 64)).astype(np.float32)  # relu of non-negative values
    relu = np.maximum(x, 0)
    result = validate_output(x.copy(), relu, inputs={"x": x})
    assert result.impostors == ["copy:x"]
    assert "a copy of input 'x' would also pass" in vacuous(result)
    assert "negative values for relu" in vacuous(result)
    mixed = rng(2).uniform(-10, 10, (32, 64)).astype(np.float32)
    assert validate_output(np.maximum(mixed, 0), np.maximum(mixed, 0),
                           inputs={"x": mixed}).passed


def test_only_inputs_of_the_output_shape_and_dtype_are_copies():
    x = rng(3).uniform(1, 2, (16, 16)).astype(np.float32)
    assert validate_output(x.copy(), x, inputs={"x": x.astype(np.float64)}).passed
    assert validate_output(x.copy(), x, inputs={"x": x.reshape(256)}).passed


def test_nan_returning_op_is_caught_where_nan_parity_would_let_it_pass():
    x = -rng(4).uniform(1, 2, (8, 8))  # log of negative numbers: NaN everywhere
    with np.errstate(invalid="ignore"):
        expected = np.log(x)
    result = validate_output(np.full_like(expected, np.nan), expected, inputs={"x": x})
    assert result.impostors == ["nan"]
    assert "an all-NaN output would also pass" in vacuous(result) and "NaN parity" in vacuous(result)
    partly = expected.copy()
    partly[0, 0] = 1.0  # one finite value: NaN output no longer passes
    assert validate_output(partly.copy(), partly).passed


def test_constant_reference_names_the_mean():
    rows = np.full((4, 32), 3.0, np.float32)  # softmax of equal values: 1/32 everywhere
    expected = softmax(rows)
    result = validate_output(expected.copy(), expected)
    assert result.impostors == ["constant"]
    assert "a constant output of 0.03125 (the reference mean) would also pass" in vacuous(result)


def test_invariants_are_part_of_the_check_the_impostor_must_pass():
    """An all-NaN reference with 'finite' declared: NaN outputs fail the invariant, so the
    NaN impostor does not pass (and neither does the real NaN output)."""
    with np.errstate(invalid="ignore"):
        expected = np.log(-rng(5).uniform(1, 2, (8, 8)))
    result = validate_output(expected.copy(), expected, invariants=["finite"])
    assert result.impostors == []
    assert result.failure_kinds == [FailureKind.InvariantViolation]


def test_report_and_off_modes():
    e = np.full(10, 1e-7, np.float32) * np.arange(1, 11, dtype=np.float32)
    reported = validate_output(e.copy(), e, vacuous="report")
    assert reported.passed and reported.impostors == ["zeros"]
    off = validate_output(e.copy(), e, vacuous="off")
    assert off.passed and off.impostors == []
    with pytest.raises(InvalidRequest, match=r"vacuous: unknown mode 'fail'; expected one of "
                                             r"warn, report, off"):
        validate_output(e, e, vacuous="fail")


def test_empty_and_single_element_outputs():
    empty = np.zeros((0, 3), np.float32)
    assert validate_output(empty, empty).passed  # nothing to check, nothing to fake
    one = np.array([0.75], np.float32)
    assert validate_output(one.copy(), one).passed  # one element is not "constant"


def test_integer_and_bool_outputs():
    zeros = np.zeros(8, np.int32)
    assert validate_output(zeros.copy(), zeros).impostors == ["zeros"]
    sevens = np.full(8, 7, np.int64)
    assert validate_output(sevens.copy(), sevens).impostors == ["constant"]
    flags = np.array([True, False] * 4)
    assert validate_output(flags.copy(), flags).passed
    assert validate_output(~flags & flags, flags & False).impostors == ["zeros"]


def test_ulp_mode_zeros_impostor_only_for_values_within_max_ulp_of_zero():
    tiny = np.array([1, 2, 3, 4], np.uint32).view(np.float32)  # the 4 smallest subnormals
    assert validate_output(tiny.copy(), tiny, compare="ulp", max_ulp=4).impostors == ["zeros"]
    normal = np.linspace(1, 2, 16, dtype=np.float32)
    assert validate_output(normal.copy(), normal, compare="ulp", max_ulp=4).passed


def test_a_large_output_is_judged_in_full_not_by_its_sample():
    """Only elements between the sampled ones break the vacuity: the full pass must see them."""
    n = SAMPLE * 64 + 1
    e = np.full(n, 1e-7, np.float32)
    e[1::2] *= -1  # no constant either
    assert validate_output(e.copy(), e).impostors == ["zeros"]
    sampled = set(sample_at((n,))[0].tolist())
    hidden = next(i for i in range(n // 2, n) if i not in sampled)
    e[hidden] = 1.0
    assert validate_output(e.copy(), e).passed


def test_the_sample_spans_the_output_in_a_few_runs():
    """From the first element to the last, in RUNS runs: a large output read through a
    fresh mapping pays a page fault per run, not per sampled element."""
    shape = (1000, 999)
    flat = np.ravel_multi_index(sample_at(shape), shape)
    assert len(flat) == SAMPLE and flat[0] == 0 and flat[-1] == 1000 * 999 - 1
    assert np.count_nonzero(np.diff(flat) != 1) == RUNS - 1
    assert sample_at((SAMPLE,)) is None  # small outputs are tried whole


def test_impostor_words_cover_every_kind():
    assert impostor_words("copy:w")[0] == "a copy of input 'w'"
    for name in ("zeros", "nan", "constant"):
        what, fix = impostor_words(name)
        assert what.startswith("a") and fix
