"""Fuzzing, Reproduce and Minimize in all three execution modes, against a real daemon.

The buggy op scripts are the classic kernel bugs: reading memory as if it were
contiguous, dropping the last partial block, and exp() without max-subtraction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpuemu.fuzz import FuzzConfig, generate_case
from gpuemu.config import load_config
from gpuemu.tensor import to_numpy

from ..conftest import SOFTMAX_REF, write

pytestmark = pytest.mark.e2e

OPS = {
    "relu_ref.py": """
        import numpy as np
        from gpuemu.script import main
        def reference(inputs, **kw):
            return np.maximum(inputs["x"], 0)
        if __name__ == "__main__":
            main(reference)
    """,
    # Reads the buffer in C order whatever the strides are: right only for contiguous inputs.
    "relu_ignores_strides.py": """
        import numpy as np
        from numpy.lib.stride_tricks import as_strided
        def run(inputs, **kw):
            x = inputs["x"]
            c = np.empty(x.shape, x.dtype).strides
            return np.maximum(as_strided(x, x.shape, c), 0)
    """,
    # Processes the last dim in blocks of 16 and forgets the partial tail block.
    "softmax_tail.py": """
        import numpy as np
        def run(inputs, **kw):
            x = inputs["x"].astype(np.float64)
            n = x.shape[-1] // 16 * 16
            out = np.zeros_like(x)
            if n:
                e = np.exp(x[..., :n] - x[..., :n].max(-1, keepdims=True))
                out[..., :n] = e / e.sum(-1, keepdims=True)
            return out.astype(inputs["x"].dtype)
    """,
    # exp(x) without subtracting the row max: overflows to inf, then inf/inf = NaN.
    "softmax_naive.py": """
        import numpy as np
        def run(inputs, **kw):
            x = inputs["x"]
            e = np.exp(x)
            return e / e.sum(-1, keepdims=True)
    """,
    "softmax_good.py": """
        import numpy as np
        def run(inputs, **kw):
            x = inputs["x"]
            if x.size == 0:  # a size-0 edge case: nothing to normalize
                return x.copy()
            e = np.exp(x - x.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)
    """,
}

CONFIG = """
[[ops]]
name = "relu"
reference = "refs/relu_ref.py"
op_script = "ops/relu_ignores_strides.py"
input_names = ["x"]
[ops.fuzz]
layouts = ["contiguous", "transposed", "strided"]
batch_sizes = [2, 4]
seq_lengths = [3, 8]
hidden_dims = [16, 40]

[[ops]]
name = "softmax_tail"
reference = "refs/softmax.py"
op_script = "ops/softmax_tail.py"
input_names = ["x"]
[ops.fuzz]
batch_sizes = [1, 2]
seq_lengths = [4, 8]
hidden_dims = [16, 32, 48, 40]

[[ops]]
name = "softmax_naive"
reference = "refs/softmax.py"
op_script = "ops/softmax_naive.py"
input_names = ["x"]
[ops.fuzz]
value_range = [-120.0, 120.0]
batch_sizes = [1, 2]
seq_lengths = [4, 8]
hidden_dims = [16, 32]

[[ops]]
name = "softmax"
reference = "refs/softmax.py"
op_script = "ops/softmax_good.py"
input_names = ["x"]
dtypes = ["float32", "float64"]
[ops.fuzz]
layouts = ["contiguous", "transposed", "strided", "offset"]
distributions = ["uniform", "normal", "mixed_sign", "zeros", "equal"]
batch_sizes = [1, 2]
seq_lengths = [4, 8]
hidden_dims = [16, 33]

[[ops]]
name = "softmax_client"
reference = "refs/softmax.py"
input_names = ["x"]
[ops.fuzz]
batch_sizes = [1, 2]
seq_lengths = [4]
hidden_dims = [8, 16]
"""


def write_project(root: Path, config: str = CONFIG) -> Path:
    """The buggy-ops project (OPS, CONFIG) in ``root``; returns ``root``."""
    write(root / "refs" / "softmax.py", SOFTMAX_REF)
    for name, body in OPS.items():
        write(root / ("refs" if name.endswith("_ref.py") else "ops") / name, body)
    write(root / "gpuemu.toml", config)
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_project(tmp_path_factory.mktemp("fuzzproj"))


@pytest.fixture
def client(make_daemon, project):
    with make_daemon(project / "gpuemu.toml").client(timeout_ms=120_000) as c:
        yield c


BUGS = [("relu", {"ToleranceExceeded"}), ("softmax_tail", {"ToleranceExceeded"}),
        ("softmax_naive", {"NaNDetected"})]


@pytest.mark.parametrize("op, kinds", BUGS)
def test_fuzz_finds_reproduces_and_minimizes_each_bug(client, op, kinds):
    fuzz = client.fuzz_op(op, iterations=100, seed=2024)
    assert fuzz.iterations == 100 and fuzz.failed > 0, f"{op}: no failure in 100 cases"
    # Minimize the biggest failing case: the first may already be a tiny edge shape.
    first = max(fuzz.failures, key=lambda r: np.prod(r.repro_info.input_shapes["x"]))
    assert kinds <= set(first.failure_kinds), first.failures

    again = client.reproduce(first.seed)  # from the seed alone
    assert again.still_fails and again.op_name == op
    assert set(again.result.failure_kinds) == set(first.failure_kinds)
    assert again.result.max_diff == first.max_diff or np.isnan(first.max_diff or np.nan)

    small = client.minimize(first.seed, strategy="BinarySearchDims", max_iters=60)
    before = np.prod(small.original_shape["x"])
    after = np.prod(small.minimized_shapes["x"])  # minimized_shape: seed 002's tuple, input 0's
    assert small.minimized_shape == tuple(small.minimized_shapes["x"])
    print(f"{op}: shape {small.original_shape['x']} -> {small.minimized_shapes['x']}"
          f" in {small.calls} runs; steps: {small.steps}")
    assert after < before
    assert not small.result.passed
    assert set(small.result.failure_kinds) == set(first.failure_kinds)
    replay = client.reproduce(small.minimized_seed)  # the minimized case from what was returned
    assert replay.still_fails
    assert replay.result.repro_info.input_shapes["x"] == small.minimized_shapes["x"]


def test_minimized_stride_bug_stays_non_contiguous(client):
    fuzz = client.fuzz_op("relu", iterations=100, seed=2024)
    small = client.minimize(fuzz.failures[0].seed, max_iters=60)
    assert small.minimized_case["layout"] != "contiguous"


def test_correct_op_passes_every_layout_distribution_and_dtype(client):
    fuzz = client.fuzz_op("softmax", iterations=60, seed=7)
    assert (fuzz.passed, fuzz.failed) == (60, 0), [f.failures for f in fuzz.failures]


def test_fuzz_is_deterministic_and_chunks_equal_one_run(client):
    whole = client.fuzz_op("softmax_tail", iterations=30, seed=99)
    parts = [client.fuzz_op("softmax_tail", iterations=10, seed=99, start=s) for s in (0, 10, 20)]
    assert [f.seed for f in whole.failures] == [f.seed for p in parts for f in p.failures]
    assert [f.max_diff for f in whole.failures] == [f.max_diff for p in parts for f in p.failures]


def test_fail_fast_stops_early(client):
    fuzz = client.fuzz_op("softmax_tail", iterations=100, seed=2024, fail_fast=True)
    assert fuzz.failed >= 1 and fuzz.iterations < 100


def test_daemon_orchestrated_cases_match_the_pure_python_generator(client, project):
    cases = client.test_cases("softmax", count=8, seed=5)  # the TestCase replies themselves
    op = load_config(project / "gpuemu.toml").op("softmax")
    for case in cases:
        local = generate_case(FuzzConfig.from_op(op), case.seed, "softmax")
        remote = to_numpy(case.inputs["x"])
        assert remote.tobytes() == local.inputs["x"].tobytes()
        assert remote.strides == local.inputs["x"].strides
        assert client.test_case("softmax", seed=case.seed).inputs == case.inputs
        x = remote.astype(np.float64)
        e = np.exp(x - x.max(-1, keepdims=True))
        good = (e / e.sum(-1, keepdims=True)).astype(remote.dtype)
        assert client.submit_output("softmax", case.seed, good).passed
        if good.size:  # an empty output has nothing to get wrong
            assert not client.submit_output("softmax", case.seed, good * 2).passed


def test_client_side_fuzzing_records_exceptions_as_execution_errors(client):
    calls = []

    def run_op(inputs, **kwargs):
        calls.append(inputs["x"].shape)
        if len(calls) == 3:
            raise RuntimeError("kernel launch failed")
        x = inputs["x"]
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    fuzz = client.fuzz_op_client_side("softmax_client", run_op, iterations=10, seed=3, batch=4)
    assert (fuzz.iterations, fuzz.failed) == (10, 1)
    failure = fuzz.failures[0]
    assert failure.failure_kinds == ["ExecutionError"]
    assert "kernel launch failed" in failure.failures[0].message
    assert client.list_failures(limit=1, op_name="softmax_client")[0].seed == failure.seed


def test_client_side_failure_is_reproducible_from_its_snapshot(client):
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    result = client.validate_op("softmax_client", {"x": x}, np.zeros_like(x))
    assert not result.passed
    again = client.reproduce(result.seed)
    assert again.still_fails and again.result.max_diff == result.max_diff


def test_list_failures_and_unknown_seed(client):
    from gpuemu.errors import NotFound

    run = client.fuzz_op("softmax_tail", iterations=20, seed=11)
    failures = client.list_failures(limit=3)
    assert 1 <= len(failures) <= 3
    # newest stored first; cases run in parallel, so their timestamps need not be in order
    assert {f.seed for f in failures} <= {r.seed for r in run.failures}
    with pytest.raises(NotFound, match="gpuemu failures"):
        client.reproduce(12345678)


def test_minimized_failure_becomes_a_regression_test_that_passes_once_fixed(
        client, project, tmp_path):
    import msgspec
    import shutil
    import subprocess
    import sys

    from gpuemu.fuzz.cases import CaseSpec
    from gpuemu.fuzz.regression import write_regression_test

    fuzz = client.fuzz_op("softmax_tail", iterations=30, seed=2024)
    small = client.minimize(fuzz.failures[-1].seed, max_iters=40)
    mine = shutil.copytree(project, tmp_path / "proj")  # a copy whose op we may fix
    test = write_regression_test(mine / "gpuemu.toml",
                                 msgspec.convert(small.minimized_case, CaseSpec),
                                 mine / "tests", original_seed=small.original_seed,
                                 original_shapes=small.original_shape)
    assert test.with_suffix(".npz").exists()

    def pytest_run():
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(test)], capture_output=True, text=True, cwd=tmp_path)

    broken = pytest_run()
    assert broken.returncode == 1, broken.stdout
    assert "still fails its minimized case" in broken.stdout, broken.stdout
    (mine / "ops" / "softmax_tail.py").write_text((mine / "ops" / "softmax_good.py").read_text())
    fixed = pytest_run()
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_ping_reports_the_progress_of_a_fuzz_in_flight(client, make_daemon):
    import threading

    seen = []
    done = threading.Event()

    def fuzz():
        client.fuzz_op("softmax", iterations=300, seed=5)
        done.set()

    threading.Thread(target=fuzz, daemon=True).start()
    from gpuemu.client import Client

    with Client(socket_path=client.socket_path, auto_start=False) as poll:
        while not done.wait(0.01):
            seen += [(j.op_name, j.done, j.total) for j in poll.ping().jobs]
        assert poll.ping().jobs == []  # finished jobs are gone
    assert seen and {(name, total) for name, _, total in seen} == {("softmax", 300)}
    progress = [d for _, d, _ in seen]
    assert progress == sorted(progress) and all(0 <= d <= 300 for d in progress)
