"""The check's fused pass made by the reference's warm worker (gpuemu.validate.fused,
engine.worker): with a real worker and real shared-memory files, in this process as a
daemon is to its workers. The verdict is the daemon's own pass's, bit for bit; the pass
is made only where it applies, and used only for the output it was made against."""

from __future__ import annotations


import numpy as np
import pytest

from gpuemu import shm
from gpuemu.config import load_config
from gpuemu.engine.executor import Executor
from gpuemu.engine.runner import Scripts, check_case
from gpuemu.tensor import from_numpy, to_numpy
from gpuemu.tolerances import ToleranceConfig
from gpuemu.validate import fused, validate_output

from ..conftest import write

pytestmark = pytest.mark.skipif(fused._cmpfast is None, reason="gpuemu._cmpfast is not built")

CONFIG = """
[[ops]]
name = "relu"
reference = "relu.py"
input_names = ["x"]
oracle = "native"

[[ops]]
name = "relu_float64"
reference = "relu.py"
input_names = ["x"]

[[ops]]
name = "relu_pair"
reference = "relu_pair.py"
input_names = ["x"]
oracle = "native"

[[ops]]
name = "relu_ulp"
reference = "relu.py"
input_names = ["x"]
oracle = "native"
compare = "ulp"
max_ulp = 2
"""
RELU = """
import numpy as np

def reference(inputs, **kwargs):
    return np.maximum(inputs["x"], 0)
"""
RELU_PAIR = """
import numpy as np

def reference(inputs, **kwargs):
    return {"mask": (inputs["x"] > 0).astype(np.float32), "output": np.maximum(inputs["x"], 0)}
"""
X = np.random.default_rng(3).standard_normal((512, 1024), dtype=np.float32)  # 2 MiB


@pytest.fixture
def scripts(tmp_path):
    """A warm-worker executor in this process, which publishes a shared-memory directory
    as a daemon does (its workers get and return large tensors through it)."""
    socket = tmp_path / "daemon.sock"
    if shm.publish(socket) is None:
        pytest.skip("no shared memory here")
    write(tmp_path / "relu.py", RELU)
    write(tmp_path / "relu_pair.py", RELU_PAIR)
    try:
        with Executor(max_workers_per_script=1) as executor:
            yield Scripts(executor, tmp_path)
    finally:
        shm.withdraw(socket)


def received(arr: np.ndarray) -> np.ndarray:
    """``arr`` as the daemon holds an output a client sent through shared memory."""
    return to_numpy(from_numpy(arr, shared=True), "output")


def wrong(x: np.ndarray) -> np.ndarray:
    out = np.maximum(x, 0)
    out[3, 5], out[100, 7], out[400, 1000] = np.nan, np.inf, out[400, 1000] + 0.25
    out[200:210, 3] += 1e-3
    return out


def verdict(result):
    return repr((result.passed, result.failures, result.mismatch, result.max_diff,
                 result.max_rel_diff))


@pytest.mark.parametrize("make", [lambda x: np.maximum(x, 0), wrong], ids=["right", "wrong"])
@pytest.mark.parametrize("name", ["relu", "relu_float64"])  # oracle "native", the default
def test_the_workers_pass_gives_the_daemons_verdict(scripts, tmp_path, make, name):
    """With the float64 oracle the worker also promotes the inputs and casts the output
    back itself: the daemon holds neither float64 tensor."""
    op = load_config(write(tmp_path / "gpuemu.toml", CONFIG)).op(name)
    output = make(X)
    _, by_worker = check_case(scripts, op, received(output), {"x": X}, {}, seed=1)
    assert scripts.executor.stats().compared == 1  # the worker made the pass
    _, by_daemon = check_case(scripts, op, output, {"x": X}, {}, seed=1)  # not held: no pass
    assert scripts.executor.stats().compared == 1
    assert verdict(by_worker) == verdict(by_daemon)


@pytest.mark.parametrize("name", ["relu", "relu_pair"])
def test_the_output_the_pass_copied_comes_back_whole(scripts, tmp_path, name):
    """The worker writes its output into shared memory in the pass over it: the daemon
    gets the reference's exact bytes (the output named ``output`` of several, beside the
    others), a pass per call, the file rewritten in place from call to call."""
    op = load_config(write(tmp_path / "gpuemu.toml", CONFIG)).op(name)
    for calls in (1, 2):
        expected, result = check_case(scripts, op, received(wrong(X)), {"x": X}, {}, seed=1)
        assert expected.tobytes() == np.maximum(X, 0).tobytes()
        assert not result.passed and scripts.executor.stats().compared == calls
        del expected
    pool = [p for p in shm.directory().iterdir() if p.name.endswith(".pool")]
    assert len(pool) == (1 if name == "relu" else 2)  # the output's file, and the mask's


def test_no_pass_where_the_check_makes_none(scripts, tmp_path):
    """ULP mode, another dtype than the reference's and a strided output get the daemon's
    own check, and the same verdict as without shared memory."""
    config = load_config(write(tmp_path / "gpuemu.toml", CONFIG))
    cases = [(config.op("relu_ulp"), wrong(X)),
             (config.op("relu"), np.maximum(X, 0).astype(np.float64)),
             (config.op("relu"), np.asfortranarray(np.maximum(X, 0)))]
    for op, output in cases:
        _, by_daemon = check_case(scripts, op, output, {"x": X}, {}, seed=1)
        _, held = check_case(scripts, op, received(output), {"x": X}, {}, seed=1)
        assert verdict(held) == verdict(by_daemon)
    assert scripts.executor.stats().compared == 0


def test_a_remembered_pass_serves_only_its_actual_and_its_params():
    """The guard's impostors and a widened tolerance are judged against the same expected
    output: each gets a pass of its own."""
    actual, expected = wrong(X), np.maximum(X, 0)
    tol = ToleranceConfig.for_dtype("float32")
    params = fused.Params(tol.atol, tol.rtol, True, True, True)
    clean = fused.tally(expected, expected, params)  # what a pass over a right output finds
    fused.remember(expected, actual, params, clean)
    assert validate_output(actual, expected, tolerance=tol).passed  # the remembered pass
    assert not validate_output(actual.copy(), expected, tolerance=tol).passed  # another actual
    looser = ToleranceConfig(tol.atol * 2, tol.rtol)
    assert not validate_output(actual, expected, tolerance=looser).passed  # other params
