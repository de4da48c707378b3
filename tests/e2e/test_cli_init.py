"""`gpuemu init` as a real process: the scaffold of each framework passes a real daemon,
and existing files are never overwritten without --force."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpuemu.config import load_config

pytestmark = pytest.mark.e2e

SCAFFOLD = ("gpuemu.toml", "reference/{op}.py", "ops/{op}.py")


def gpuemu(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpuemu", *args], capture_output=True,
                          text=True, cwd=cwd, env=os.environ, timeout=60)


def run_script(path: Path, x: np.ndarray) -> np.ndarray:
    """The scaffolded script run as `python SCRIPT` (its __main__ guard), in its own process:
    importing torch or jax here would make every later fork in this process unsafe."""
    from gpuemu.engine.executor import Executor

    with Executor(warm=False) as executor:
        return executor.run_script(path, {"x": x}, cwd=path.parent.parent)["output"]


@pytest.mark.parametrize("framework, module", [("numpy", "numpy"), ("torch", "torch"),
                                               ("jax", "jax")])
def test_scaffold_passes_through_a_real_daemon(framework, module, short_tmp, make_daemon):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    project = short_tmp / "proj"
    made = gpuemu("init", str(project), "--framework", framework, "--op", "my_softmax")
    assert made.returncode == 0, made.stderr
    assert "next: cd" in made.stdout and "gpuemu test" in made.stdout
    for rel in SCAFFOLD:
        assert (project / rel.format(op="my_softmax")).is_file(), rel

    config = load_config(project / "gpuemu.toml", user_config=None)
    op = config.op("my_softmax")
    assert op.execution_mode == "script_based" and op.invariants == ("non_negative", "normalized")
    assert config.project.framework == {"torch": "pytorch"}.get(framework, framework)

    with make_daemon(project / "gpuemu.toml").client(timeout_ms=300_000) as client:
        for seed in (1, 2024):  # the config's iterations, every layout and distribution it lists
            fuzz = client.fuzz_op("my_softmax", seed=seed)
            assert (fuzz.iterations, fuzz.failed) == (op.fuzz.iterations, 0), \
                [f.failures for f in fuzz.failures]
        x = np.random.default_rng(0).standard_normal((5, 33)).astype(np.float32)
        output = run_script(project / "ops" / "my_softmax.py", x)  # client-side mode
        verdict = client.validate_op("my_softmax", {"x": x}, output)
        assert verdict.passed, verdict.failures
        wrong = client.validate_op("my_softmax", {"x": x}, output[::-1])
        assert not wrong.passed  # the scaffold's checks can fail


def test_refuses_to_overwrite_and_names_the_files(short_tmp):
    project = short_tmp / "proj"
    assert gpuemu("init", str(project)).returncode == 0
    (project / "gpuemu.toml").write_text("# mine\n")

    again = gpuemu("init", str(project), "--framework", "torch")
    assert again.returncode == 2
    assert str(project / "gpuemu.toml") in again.stderr
    assert str(project / "ops" / "softmax.py") in again.stderr
    assert "--force" in again.stderr and "another directory" in again.stderr
    assert (project / "gpuemu.toml").read_text() == "# mine\n"

    forced = gpuemu("init", str(project), "--force")
    assert forced.returncode == 0, forced.stderr
    assert load_config(project / "gpuemu.toml", user_config=None).op("softmax")


def test_one_existing_file_stops_the_whole_scaffold(short_tmp):
    (short_tmp / "ops").mkdir()
    (short_tmp / "ops" / "relu.py").write_text("# mine\n")
    refused = gpuemu("init", "--op", "relu", cwd=short_tmp)  # DIRECTORY defaults to .
    assert refused.returncode == 2
    assert "ops/relu.py" in refused.stderr and "gpuemu.toml" not in refused.stderr
    assert not (short_tmp / "gpuemu.toml").exists()
    assert not (short_tmp / "reference").exists()


@pytest.mark.parametrize("args, message", [
    (["--op", "my op"], r"'my op': the op name also names its files"),
    (["--op", "2x"], r"use letters, digits and underscores"),
    (["--framework", "tensorflow"], r"'tensorflow' is not one of 'numpy', 'torch', 'jax'"),
])
def test_bad_arguments_are_usage_errors(short_tmp, args, message):
    import re

    bad = gpuemu("init", str(short_tmp / "p"), *args)
    assert bad.returncode == 2
    assert re.search(message, bad.stderr), bad.stderr
    assert not (short_tmp / "p").exists()
