"""The record of a case whose script raised (fuzz/failure.py): as complete as a tolerance
failure's, from a real case spec."""

from __future__ import annotations

from gpuemu.fuzz import FuzzConfig
from gpuemu.fuzz.cases import case_seed, spec_for_seed
from gpuemu.fuzz.failure import execution_error, first_error_line


def test_an_execution_error_carries_the_cases_dtype_and_shape():
    config = FuzzConfig(dtypes=("float16",), batch_sizes=(2,), seq_lengths=(7,), hidden_dims=(33,),
                        edge_case_prob=0.0)
    spec = spec_for_seed(config, case_seed(5, 0), "op")
    result = execution_error("op", spec.seed, "Traceback ...\nTypeError: no float16 kernel", spec)
    assert (result.passed, result.dtype, result.shape) == (False, "Float16", spec.shapes["x"])
    assert [f.kind for f in result.failures] == ["ExecutionError"]
    assert result.to_dict()["shape"] == spec.shapes["x"]
    bare = execution_error("op", 1, "boom")  # no case known (a lone ValidateOp-like run)
    assert bare.dtype is None and bare.shape is None


def test_the_first_error_line_is_the_final_exception_cut_to_a_limit():
    assert first_error_line("script x raised:\nTraceback\n  File ...\nValueError: bad\n\n") == (
        "ValueError: bad")
    assert first_error_line("E" * 300, limit=20) == "E" * 17 + "..."
    assert first_error_line("") == ""
