"""The error histogram that failing mismatch reports carry."""

import numpy as np

from gpuemu.validate import validate_output
from gpuemu.validate.histogram import error_histogram, error_histogram_labels


def counts_by_label(actual, expected):
    return {k: v for k, v in zip(error_histogram_labels(), error_histogram(actual, expected)) if v}


def test_buckets_by_decade_with_exact_and_non_finite_apart():
    expected = np.zeros(7)
    actual = np.array([0.0, 1e-9, 5e-4, 2e-4, 3.0, 1e5, np.inf])
    assert counts_by_label(actual, expected) == {
        "0": 1, "<1e-8": 1, "1e-4..1e-3": 2, "1e0..1e1": 1, ">=1e2": 1, "non-finite": 1}


def test_nan_parity_counts_as_exact_and_lone_nan_as_non_finite():
    expected = np.array([np.nan, 1.0, np.inf])
    actual = np.array([np.nan, np.nan, np.inf])
    assert counts_by_label(actual, expected) == {"0": 2, "non-finite": 1}


def test_strided_and_narrow_inputs_count_every_element_once():
    expected = np.zeros((64, 48), np.float16).T  # transposed
    actual = np.full((48, 64), 0.5, np.float16)
    assert sum(error_histogram(actual, expected)) == actual.size
    assert counts_by_label(actual, expected) == {"1e-1..1e0": actual.size}


def test_failing_validation_reports_histogram_of_all_elements():
    expected = np.linspace(-1, 1, 1000, dtype=np.float32)
    actual = expected.copy()
    actual[:10] += 0.5  # ten elements far off, the rest exact
    result = validate_output(actual, expected, op_name="op")
    assert not result.passed
    assert counts_by_label(actual, expected) == {"0": 990, "1e-1..1e0": 10}
    assert result.mismatch.error_histogram == error_histogram(actual, expected)
