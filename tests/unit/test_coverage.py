"""What ``gpuemu coverage`` counts from stored results."""

from __future__ import annotations

import pytest

from gpuemu.config import load_config
from gpuemu.coverage import op_coverage, rank_class, shape_class
from gpuemu.validate import ReproductionInfo, ValidationResult

CONFIG = """
[[ops]]
name = "relu"
reference = "ref.py"
input_names = ["x"]
dtypes = ["float32", "bfloat16"]
[ops.fuzz]
layouts = ["contiguous", "transposed"]
edge_case_prob = {edge}
"""


def op(tmp_path, edge: float):
    (tmp_path / "ref.py").write_text("def reference(inputs): return inputs['x']\n")
    (tmp_path / "gpuemu.toml").write_text(CONFIG.format(edge=edge))
    return load_config(tmp_path / "gpuemu.toml").op("relu")


def result(shape, dtype="Float32", layout="", strides=None, passed=True):
    info = ReproductionInfo(seed=1, op_name="relu", input_shapes={"x": shape},
                            input_dtypes={"x": dtype}, layout=layout,
                            input_strides={} if strides is None else {"x": strides})
    return ValidationResult(passed=passed, op_name="relu", repro_info=info)


@pytest.mark.parametrize("shape, cls, rank", [
    ([], "single", "0-d"), ([0, 16], "empty", "2-d"), ([1, 1], "single", "2-d"),
    ([3, 17], "tail", "2-d"), ([2, 3, 4, 32], "tiled", "4-d+"), ([1, 2, 3, 4, 5], "tail", "4-d+"),
])
def test_shape_and_rank_classes(shape, cls, rank):
    assert (shape_class(shape), rank_class(shape)) == (cls, rank)


def test_configured_items_without_results_are_missing(tmp_path):
    cov = op_coverage(op(tmp_path, 0.1), [
        result([4, 32], layout="transposed"),
        result([4, 17], dtype="BFloat16", strides=[1, 4], passed=False),  # a client's: strides
    ])
    assert (cov.results, cov.failed) == (2, 1)
    assert cov.dtypes == {"float32": 1, "bfloat16": 1}
    assert cov.layouts == {"contiguous": 0, "transposed": 1, "strided": 1}
    assert cov.missing == ["layout contiguous", "shape empty", "shape single"]
    assert (cov.covered, cov.configured) == (5, 8)


def test_edge_classes_are_asked_only_of_configs_that_draw_edge_cases(tmp_path):
    cov = op_coverage(op(tmp_path, 0.0), [])
    assert (cov.covered, cov.configured) == (0, 6)
    assert "shape empty" not in cov.missing and "shape tail" in cov.missing
