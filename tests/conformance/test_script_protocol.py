"""Reference and op scripts written the way seeds 003 and 004 write them: JSON on stdin,
tensors decoded with ``np.dtype(t["dtype"])`` and ``frombuffer(...).reshape(shape)``, one
tensor out without strides (bare, ``{"output": ...}`` or ``{"outputs": {...}}``), run by
the executor (warm first, then one-shot) and fuzzed and validated through a real daemon."""

from __future__ import annotations

import numpy as np
import pytest

from gpuemu.engine.executor import Executor

from .support import RawClient, array, seed_style_script, tensor, write

RELU = 'y = np.maximum(xs["x"], 0)'
ABS = 'y = np.abs(xs["x"])'

TOML = """
[[ops]]
name = "relu"
reference = "ref_relu.py"
op_script = "op_relu.py"
input_names = ["x"]

[[ops]]
name = "relu_wrapped"
reference = "ref_relu_wrapped.py"
op_script = "op_relu_wrapped.py"
input_names = ["x"]

[[ops]]
name = "relu_wrong"
reference = "ref_relu.py"
op_script = "op_abs.py"
input_names = ["x"]
"""


@pytest.fixture
def seed_project(short_tmp):
    root = short_tmp / "seedproj"
    write(root / "ref_relu.py", seed_style_script(RELU, "outputs"))           # seed 003
    write(root / "op_relu.py", seed_style_script(RELU, "bare", guarded=True))  # seed 004
    write(root / "ref_relu_wrapped.py", seed_style_script(RELU, "output"))
    write(root / "op_relu_wrapped.py", seed_style_script(RELU, "output", guarded=True))
    write(root / "op_abs.py", seed_style_script(ABS, "bare", guarded=True))
    write(root / "gpuemu.toml", TOML)
    return root


@pytest.mark.parametrize("warm", [True, False], ids=["warm-first", "one-shot"])
@pytest.mark.parametrize("wrap,guarded", [("bare", True), ("outputs", False), ("output", False)])
def test_the_executor_runs_seed_style_scripts(tmp_path, warm, wrap, guarded):
    script = write(tmp_path / "ref.py", seed_style_script(RELU, wrap, guarded))
    base = np.linspace(-3, 3, 48)
    inputs = [base.astype(np.float32).reshape(6, 8).T,           # transposed
              base.astype(np.float16).reshape(6, 8)[:, ::2]]     # strided
    with Executor(warm=warm) as executor:
        for x in inputs:
            (y,) = executor.run_script(script, {"x": x}, cwd=tmp_path).values()
            assert y.dtype == x.dtype
            np.testing.assert_array_equal(y, np.maximum(x, 0))


@pytest.mark.e2e
def test_seed_style_scripts_are_fuzzed_and_used_by_validate_op(make_daemon, seed_project):
    daemon = make_daemon(seed_project / "gpuemu.toml")
    raw = RawClient(daemon.socket, "flat")
    config = {"layouts": ["contiguous", "strided", "transposed"],
              "dtypes": ["float32", "float16", "float64"],
              "batch_sizes": [2, 3], "seq_lengths": [5], "hidden_dims": [4, 7]}
    for op, n in (("relu", 4), ("relu_wrapped", 2)):
        kind, body = raw.send("FuzzOp", op_name=op, iterations=n, seed=5, fuzz_config=config)
        assert kind == "FuzzResults" and (body["total"], body["failed"]) == (n, 0), body["failures"]
    assert set(body["coverage"]["layouts"]) >= {"strided", "transposed"}  # seed 5's first cases
    kind, body = raw.send("FuzzOp", op_name="relu_wrong", iterations=2, seed=5, fuzz_config=config)
    assert body["failed"] > 0  # the scripts really compute: a wrong op is caught
    assert body["failures"][0]["failures"][0]["kind"] == "ToleranceExceeded"

    x = np.linspace(-1, 1, 12, dtype=np.float16).reshape(3, 4).T
    for output, passed in ((np.maximum(x, 0), True), (np.abs(x), False)):
        kind, body = raw.send("ValidateOp", op_name="relu", inputs={"x": tensor(x, byte_strides=True)},
                              output=tensor(output, strides=False))
        assert kind == "ValidationResult" and body["result"]["passed"] is passed
    kind, case = raw.send("GetTestCase", op_name="relu", seed=3,
                          fuzz_config={"layouts": ["Transposed"], "dtypes": ["float16"]})
    x = array(case["inputs"]["x"])
    assert x.dtype == np.float16 and case["layout"] == "transposed"
    kind, body = raw.send("SubmitOutput", op_name="relu", seed=3, inputs=case["inputs"],
                          output=tensor(np.maximum(x, 0)), kwargs={"alpha": "1.0"},
                          fuzz_config={"layouts": ["Transposed"], "dtypes": ["float16"]})
    assert kind == "SubmitResult" and body["result"]["passed"], body
    raw.close()
