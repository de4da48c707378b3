"""The pytest plugin used by a test project: a buggy op fails with a seed that replays,
a correct one passes, and the failure can be reproduced from the kept daemon home."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from ..conftest import SOFTMAX_REF, DaemonProcess

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.e2e

CONFIG = """
[[ops]]
name = "softmax"
reference = "refs/softmax.py"
input_names = ["x"]
[ops.fuzz]
layouts = ["contiguous", "transposed", "strided"]
batch_sizes = [1, 2]
seq_lengths = [3, 4]
hidden_dims = [16, 33, 40]
edge_case_prob = 0.0
"""

TESTS = """
import numpy as np

def good(inputs):
    x = inputs["x"]
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)

def drops_tail_block(inputs):  # handles the last dim in blocks of 16, forgets the partial one
    x = inputs["x"]
    n = x.shape[-1] // 16 * 16
    out = np.zeros_like(x)
    e = np.exp(x[..., :n] - x[..., :n].max(-1, keepdims=True))
    out[..., :n] = e / e.sum(-1, keepdims=True)
    return out

def test_good(gpuemu_fuzz):
    gpuemu_fuzz("softmax", good, iterations=30, seed=7)

def test_buggy(gpuemu_fuzz):
    gpuemu_fuzz("softmax", drops_tail_block, iterations=30, seed=7)

def test_client(gpuemu, gpuemu_daemon):
    assert gpuemu.ping().protocol_version == 1
    print("SESSION HOME", gpuemu_daemon.home)
"""

PLUGIN = ("-p", "gpuemu.pytest_plugin", "-p", "no:cacheprovider")


@pytest.fixture
def project(pytester, monkeypatch):
    # entry-point plugins off, so -p loads ours whether or not the package declares it yet
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makefile(".toml", gpuemu=CONFIG)
    (pytester.path / "refs").mkdir()
    (pytester.path / "refs" / "softmax.py").write_text(SOFTMAX_REF)
    pytester.makepyfile(test_ops=TESTS)
    return pytester


def test_buggy_op_fails_with_a_seed_that_replays_and_reproduces(project):
    run = project.runpytest_subprocess(*PLUGIN, "-s")
    run.assert_outcomes(passed=2, failed=1)
    out = run.stdout.str()
    assert re.search(r"op 'softmax' failed \d+ of 30 fuzz cases \(root seed 7\)", out), out
    assert "ToleranceExceeded: " in out
    seed = int(re.search(r"first failing case: seed (\d+) \(x: Float32\[\d+, \d+, \d+\]", out)[1])
    assert f"replay it in this test:  pytest test_ops.py::test_buggy --gpuemu-seed {seed}" in out
    home = Path(re.search(rf"GPUEMU_HOME=(\S+) gpuemu reproduce --seed {seed} --op softmax",
                          out)[1])
    passing_home = Path(re.search(r"SESSION HOME (\S+)", out)[1])
    assert passing_home == home  # one daemon per session ...
    assert home.is_dir()  # ... kept because a case failed
    homes = [home]
    try:
        replay = project.runpytest_subprocess(*PLUGIN, "test_ops.py::test_buggy",
                                              "--gpuemu-seed", str(seed))
        replay.assert_outcomes(failed=1)
        replayed = replay.stdout.str()
        homes.append(Path(re.search(r"GPUEMU_HOME=(\S+) gpuemu reproduce", replayed)[1]))
        assert "failed 1 of 1 fuzz cases" in replayed
        assert f"first failing case: seed {seed} " in replayed
        fixed = project.runpytest_subprocess(*PLUGIN, "test_ops.py::test_good",
                                             "--gpuemu-seed", str(seed))
        fixed.assert_outcomes(passed=1)

        env = {**os.environ, "GPUEMU_HOME": str(home), "GPUEMU_SOCKET": str(home / "gpuemu.sock")}
        daemon = DaemonProcess(home=home, config=project.path / "gpuemu.toml", env=env).start()
        try:
            with daemon.client() as client:
                again = client.reproduce(seed)
            assert again.still_fails and again.op_name == "softmax"
            assert "ToleranceExceeded" in again.result.failure_kinds
        finally:
            daemon.stop()
    finally:
        for kept in homes:
            shutil.rmtree(kept, ignore_errors=True)


def test_passing_session_removes_its_daemon_home(project):
    run = project.runpytest_subprocess(*PLUGIN, "-s", "-k", "good or client")
    run.assert_outcomes(passed=2)
    home = Path(re.search(r"SESSION HOME (\S+)", run.stdout.str())[1])
    assert not home.exists()


def test_missing_config_names_the_option(project):
    (project.path / "gpuemu.toml").unlink()
    run = project.runpytest_subprocess(*PLUGIN, "-k", "client")
    run.assert_outcomes(errors=1)
    assert re.search(r"gpuemu: no gpuemu.toml in \S+ or any parent; pass --gpuemu-config PATH",
                     run.stdout.str())
    empty = project.mkdir("cfg")
    bad = project.runpytest_subprocess(*PLUGIN, "-k", "client", "--gpuemu-config", str(empty))
    bad.assert_outcomes(errors=1)
    assert re.search(r"--gpuemu-config \S+cfg: no such file; pass the path of the project's"
                     r" gpuemu.toml", bad.stdout.str())


def test_a_client_side_run_that_proves_nothing_warns(project):
    """A run that cannot tell a right op from a wrong one passes a right op too, so it must
    not fail the test (issue 18): it warns, with the run's health errors."""
    with open(project.path / "gpuemu.toml", "a") as f:
        f.write('\n[[ops]]\nname = "relu"\nreference = "refs/relu.py"\ninput_names = ["x"]\n'
                '[ops.fuzz]\nvalue_range = [0.0, 10.0]\nedge_case_prob = 0.0\n')
    (project.path / "refs" / "relu.py").write_text(
        "import numpy as np\ndef reference(inputs, **kw):\n    return np.maximum(inputs['x'], 0)\n")
    project.makepyfile(test_noop="""
        def test_noop(gpuemu_fuzz):  # relu on inputs that are never negative: a copy passes
            gpuemu_fuzz("relu", lambda inputs: inputs["x"].copy(), iterations=12, seed=7)
    """)
    run = project.runpytest_subprocess(*PLUGIN, "test_noop.py")
    run.assert_outcomes(passed=1, warnings=1)
    out = run.stdout.str()
    assert "GpuemuHealthWarning" in out
    assert "op 'relu' passed 12 fuzz cases, but the run is vacuous (root seed 7)" in out
    assert "ImpostorPasses: a copy of input 'x' would have passed all 12 checked cases" in out


def test_the_projects_framework_picks_the_tensors_run_op_gets(project):
    """``[project] framework = "triton"``: Triton kernels take PyTorch tensors, so run_op gets
    torch tensors unless the call passes ``framework=``."""
    pytest.importorskip("torch")  # the suite's environment installs it (the [torch] extra)
    text = (project.path / "gpuemu.toml").read_text()
    (project.path / "gpuemu.toml").write_text('[project]\nname = "kernels"\nframework = "triton"\n' + text)
    project.makepyfile(test_framework="""
        import numpy as np
        import torch

        def test_torch_by_default(gpuemu_fuzz):
            seen = set()
            def run_op(inputs):
                seen.add(type(inputs["x"]).__name__)
                return torch.softmax(inputs["x"], dim=-1)
            gpuemu_fuzz("softmax", run_op, iterations=4, seed=3)
            assert seen == {"Tensor"}

        def test_numpy_when_asked(gpuemu_fuzz):
            def run_op(inputs):
                assert isinstance(inputs["x"], np.ndarray)
                e = np.exp(inputs["x"] - inputs["x"].max(-1, keepdims=True))
                return e / e.sum(-1, keepdims=True)
            gpuemu_fuzz("softmax", run_op, iterations=4, seed=3, framework="numpy")
    """)
    project.runpytest_subprocess(*PLUGIN, "test_framework.py").assert_outcomes(passed=2)
