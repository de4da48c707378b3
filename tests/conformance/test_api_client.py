"""Seed 002's Client API, called the way the seeds call it, against a real daemon.

Each test reads results both ways the seeds do: by attribute (``results.passed``) and
by key (``failure.failures[0]["message"]``, ``case["seed"]``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpuemu import Client, ValidationError
from gpuemu.protocol import PROTOCOL_VERSION
from tests.conformance.scripts import IDENTITY_OP, RELU_REF
from tests.conftest import write

pytestmark = pytest.mark.e2e

MATMUL_REF = """
import numpy as np
from gpuemu.script import main

def reference(inputs, **kwargs):
    return np.matmul(inputs["a"].astype(np.float64), inputs["b"]).astype(inputs["a"].dtype)

if __name__ == "__main__":
    main(reference)
"""

CONFIG = """
[[ops]]
name = "faq_relu"
reference = "refs/relu.py"

[[ops]]
name = "gated_relu"
reference = "refs/relu.py"
op_script = "ops/identity.py"
execution_mode = "client_side"

[[ops]]
name = "my_relu"
reference = "refs/relu.py"
input_names = ["x"]
execution_mode = "client_side"

[[ops]]
name = "buggy_relu"
reference = "refs/relu.py"
op_script = "ops/identity.py"
input_names = ["x"]
execution_mode = "script_based"
[ops.fuzz]
batch_sizes = [2, 3]
seq_lengths = [4, 5]
hidden_dims = [6, 7]

[[kernels]]
name = "saxpy"
ptx = "kernels/saxpy.ptx"

[[ops]]
name = "my_matmul"
reference = "refs/matmul.py"
input_names = ["a", "b"]
execution_mode = "daemon_orchestrated"
[ops.schema.dims]
M = [2, 3]
K = [4, 5]
N = [3, 6]
[ops.schema.inputs]
a = ["M", "K"]
b = ["K", "N"]
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """One daemon for the module (each test reads its own ops and seeds)."""
    import os
    import shutil
    import tempfile

    from tests.conftest import DaemonProcess

    root = tmp_path_factory.mktemp("project")
    write(root / "refs/relu.py", RELU_REF)
    write(root / "refs/matmul.py", MATMUL_REF)
    write(root / "ops/identity.py", IDENTITY_OP)
    write(root / "kernels/saxpy.ptx", (Path(__file__).parents[1] / "data/ptx/saxpy.ptx").read_text())
    config = write(root / "gpuemu.toml", CONFIG)
    home = Path(tempfile.mkdtemp(prefix="ge-", dir="/tmp")) / "home"
    env = {**os.environ, "GPUEMU_HOME": str(home), "GPUEMU_AUTO_START": "0"}
    env.pop("GPUEMU_SOCKET", None)
    d = DaemonProcess(home=home, config=config, env=env).start()
    yield d
    d.stop()
    shutil.rmtree(home.parent, ignore_errors=True)


@pytest.fixture
def client(daemon):
    with Client(socket_path=str(daemon.socket), timeout_ms=30000) as c:
        yield c


def relu(x):
    return np.maximum(x, 0)


def test_ping_is_pong_and_carries_the_version(client):
    reply = client.ping()
    assert reply == "pong"
    assert reply["protocol_version"] == reply.protocol_version == PROTOCOL_VERSION
    assert reply["version"] and reply["uptime_secs"] >= 0


def test_validate_op_with_dtype_and_seed_then_get_result(client):
    x = np.linspace(-2, 2, 32, dtype=np.float32).reshape(4, 8)
    result = client.validate_op("my_relu", {"x": x}, relu(x), dtype="float32", seed=4242)
    assert result.passed and result["passed"] and result.seed == 4242
    assert result.op_name == "my_relu" and result.max_diff == 0.0
    stored = client.get_result(4242)
    assert stored is not None and stored["op_name"] == "my_relu"
    assert client.get_result(4243) is None
    assert any(r.seed == 4242 for r in client.list_results())
    assert client.store_baseline("conformance") is not None  # documented as None; we say how many


def test_validate_op_failure_reads_by_key(client):
    x = np.linspace(-2, 2, 32, dtype=np.float32).reshape(4, 8)
    result = client.validate_op("my_relu", {"x": x}, x, seed=77)
    assert not result.passed and result["passed"] is False
    assert result.failures[0]["kind"] == "ToleranceExceeded"
    assert "atol" in result.failures[0]["message"] or result.failures[0]["message"]
    assert result.repro_info.seed == 77 and result.repro_info.shape == (4, 8)
    assert result.repro_info["dtype"] == "float32"


def test_validate_op_dtype_must_be_the_outputs(client):
    x = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match=r"dtype='float16' but the output is float32"):
        client.validate_op("my_relu", {"x": x}, x, dtype="float16")


def test_fuzz_op_reads_total_and_failures(client):
    results = client.fuzz_op("buggy_relu", iterations=6, seed=42)
    assert results.total == results["total"] == 6 and results.seed == 42
    assert results.passed + results.failed == 6 and results.failed > 0
    assert results.failures[0].failures[0]["message"]
    # seed 002's table order is (op_name, iterations, seed); its client's order with keywords
    assert client.fuzz_op("buggy_relu", 6, 42).failed == results.failed
    again = client.fuzz_op("buggy_relu", seed=42, iterations=6, fail_fast=False,
                           batch_sizes=[2], seq_lengths=[3], hidden_dims=[4], dtypes=["float32"],
                           layouts=["Contiguous", "Strided"])
    assert again.total == 6
    big_seed = 2**63 + 5  # the client's positional order: a u64 seed first
    assert client.fuzz_op("buggy_relu", big_seed, 3).seed == big_seed


def test_reproduce_minimize_and_list_failures(client):
    results = client.fuzz_op("buggy_relu", iterations=4, seed=7)
    seed = results.failures[0].seed
    repro = client.reproduce(seed)
    assert repro.result.op_name == "buggy_relu" and not repro.result.passed
    assert isinstance(repro.inputs["x"], np.ndarray) and repro["inputs"]["x"].ndim >= 1
    small = client.minimize(seed)
    assert small.original_seed == seed and isinstance(small.minimized_seed, int)
    assert isinstance(small.minimized_shape, tuple) and small.result.op_name == "buggy_relu"
    assert np.prod(small.minimized_shape) <= repro.inputs["x"].size
    assert client.minimize(seed, strategy="binary-search-values", max_iters=20).original_seed == seed
    failures = client.list_failures(limit=20)
    assert failures and all(f.passed is False for f in failures)
    assert any(f.seed == seed and f["op_name"] == "buggy_relu" for f in failures)


def test_test_case_batch_and_submit_output_in_both_forms(client):
    case = client.get_test_case("my_matmul", seed=42)
    assert case["seed"] == case.seed == 42
    a, b = case["inputs"]["a"], case["inputs"]["b"]
    assert isinstance(a, np.ndarray) and a.shape[1] == b.shape[0]
    assert case["shape"] == list(a.shape) and case["dtype"] == "float32" and case["layout"]
    out = a @ b
    assert client.submit_output("my_matmul", case["inputs"], out, seed=case["seed"]).passed
    assert client.submit_output("my_matmul", case["seed"], out).passed
    wrong = client.submit_output("my_matmul", seed=case["seed"], output=out + 1)
    assert not wrong.passed and wrong.failures[0]["message"]

    cases = client.get_test_batch("my_matmul", count=3, seed=9)
    assert len(cases) == 3 and all(isinstance(c["inputs"]["a"], np.ndarray) for c in cases)
    named = client.get_test_batch("my_matmul", seeds=[cases[1]["seed"], 5])
    assert [c["seed"] for c in named] == [cases[1]["seed"], 5]
    assert np.array_equal(named[0]["inputs"]["a"], cases[1]["inputs"]["a"], equal_nan=True)


def test_fuzz_op_client_side_with_run_op_and_op_fn(client):
    ok = client.fuzz_op_client_side("my_relu", run_op=lambda inputs: relu(inputs["x"]),
                                    iterations=4, seed=42)
    assert ok.passed == ok.total == 4 and ok.failed == 0
    bad = client.fuzz_op_client_side("my_relu", op_fn=lambda inputs: inputs["x"] * 2,
                                     iterations=3, seed=42, fail_fast=True)
    assert bad.failed == 1 and bad.total == bad.passed + 1  # fail_fast: stops at the first
    assert bad.failures[0].failures[0]["message"] and bad.failures[0].seed

    def crash(inputs):
        raise RuntimeError("kernel launch failed")

    crashed = client.fuzz_op_client_side("my_relu", crash, iterations=2, seed=1)
    assert crashed.failures[0].failures[0]["kind"] == "ExecutionError"
    assert "kernel launch failed" in crashed.failures[0].failures[0]["message"]


def test_lint_kernel_returns_lint_dicts(client):
    ptx = (Path(__file__).parents[1] / "data/ptx/elementwise.ptx").read_text()
    lint = client.lint_kernel(ptx)
    assert lint and set(lint[0]) >= {"kernel_name", "passed", "metrics", "violations", "timestamp"}
    assert isinstance(lint[0]["metrics"], dict) and len(lint) == 2  # one per kernel
    assert [d["kernel_name"] for d in client.lint_kernel(ptx, kernel_name="_Z5scalePffi")] == ["_Z5scalePffi"]
    (configured,) = client.lint_kernel()  # no PTX, no name: the configured kernels
    assert configured["kernel_name"] == "saxpy" and "violations" in configured


def test_validation_context_managers(daemon, monkeypatch):
    from gpuemu.validate import validate_op as validate_with_client
    from gpuemu.validation import validate_op

    monkeypatch.setenv("GPUEMU_HOME", str(daemon.home))
    monkeypatch.setenv("GPUEMU_AUTO_START", "0")
    monkeypatch.delenv("GPUEMU_SOCKET", raising=False)
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    with validate_op("my_relu", inputs={"x": x}) as ctx:
        ctx.set_output(relu(x))
    assert ctx.result.passed

    with Client() as client:
        with validate_with_client(client, "my_relu", inputs={"x": x}) as ctx:
            ctx["output"] = relu(x)
        assert ctx.result.passed
        with pytest.raises(ValidationError, match="my_relu failed validation"):
            with validate_with_client(client, "my_relu", inputs={"x": x}) as ctx:
                ctx["output"] = x


def test_calibrate_tolerance_through_the_daemon(client):
    from gpuemu.tolerances import calibrate_tolerance

    # the FAQ's call, for a script-based op: the daemon runs it
    buggy = calibrate_tolerance(client, "buggy_relu", dtype="float32", iterations=5)
    assert buggy["atol"] >= 2.0 and set(dict(buggy)) == {"atol", "rtol"}  # |x| of a negative x
    # a client-side op: run_op computes each case here
    exact = calibrate_tolerance(client, "my_relu", dtype="float32", iterations=5,
                                run_op=lambda inputs: relu(inputs["x"]))
    assert exact.atol < 1e-30 and exact.rtol <= 2**-24  # the floors: nothing to absorb


def test_faq_op_without_input_names(client):
    """The FAQ's [[ops]] (name and reference only): a client names the inputs; generated
    cases take the names the reference reads."""
    x = np.linspace(-1, 1, 8, dtype=np.float32)
    assert client.validate_op("faq_relu", {"x": x}, relu(x)).passed
    assert list(client.get_test_case("faq_relu", seed=3)["inputs"]) == ["x"]


def test_a_client_side_op_is_never_run_by_the_daemon(client):
    from gpuemu.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match=r"op 'gated_relu' is execution_mode 'client_side', so "
                                             r"the daemon does not run its op_script; set "
                                             r"execution_mode = \"script_based\""):
        client.fuzz_op("gated_relu", iterations=2)


def test_seed_001_validate_helpers(client):
    from gpuemu.validate import fuzz_op, reproduce, validate_op

    x = np.linspace(-1, 1, 8, dtype=np.float32)
    assert validate_op(client, "my_relu", {"x": x}, relu(x)).passed  # output given: at once
    assert not validate_op(client, "my_relu", inputs={"x": x}, output=x).passed
    run = fuzz_op(client, "buggy_relu", iterations=3, seed=11)
    assert run.total == 3 and run.failed
    assert reproduce(client, run.failures[0].seed).result.op_name == "buggy_relu"
