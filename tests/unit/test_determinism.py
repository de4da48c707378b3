"""Determinism and input integrity of op scripts, with a real executor and warm workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpuemu.config import OpConfig
from gpuemu.engine.determinism import DEFAULT_RUNS, determinism_runs, run_op
from gpuemu.engine.executor import Executor
from gpuemu.errors import InvalidRequest
from gpuemu.validate import FailureKind

from ..conftest import write

OPS = {
    "good.py": """
        import numpy as np
        def run(inputs, **kw):
            return np.tanh(inputs["x"])
    """,
    # A race in disguise: every other call flips the lowest bit of one element.
    "flaky.py": """
        import numpy as np
        calls = 0
        def run(inputs, **kw):
            global calls
            calls += 1
            out = np.tanh(inputs["x"])
            if calls % 2 == 0:
                out.reshape(-1)[5:6].view(np.uint32)[0] ^= 1
            return out
    """,
    # An "in-place" kernel: its result is right, but the caller's input is gone.
    "inplace.py": """
        import numpy as np
        def run(inputs, **kw):
            x = inputs["x"]
            np.tanh(x, out=x)
            return x
    """,
    # Rebinding a dict entry is not a write into the caller's array.
    "rebinds.py": """
        import numpy as np
        def run(inputs, **kw):
            inputs["x"] = np.zeros(3)
            return np.ones(3)
    """,
    # No run()/reference(): runs one-shot, where inputs cannot be checked.
    "oneshot.py": """
        import numpy as np
        from gpuemu.script import read_request, write_output
        inputs, kwargs = read_request()
        x = inputs["x"]
        x *= 2
        write_output(x)
    """,
}

X = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)


@pytest.fixture
def scripts(tmp_path) -> Path:
    for name, body in OPS.items():
        write(tmp_path / name, body)
    return tmp_path


@pytest.fixture
def executor():
    with Executor(max_workers_per_script=1) as ex:  # one worker: the flaky op's counter holds
        yield ex


def op(scripts: Path, name: str, **kw) -> OpConfig:
    return OpConfig(name=name, reference=scripts / "good.py", op_script=scripts / name,
                    input_names=("x",), **kw)


def test_a_deterministic_op_that_leaves_its_inputs_alone_passes(scripts, executor):
    outcome = run_op(executor, op(scripts, "good.py"), {"x": X}, {}, runs=3)
    assert outcome.failures == ()
    assert outcome.output.tobytes() == np.tanh(X).tobytes()


def test_a_bit_flip_every_other_run_is_non_deterministic(scripts, executor):
    outcome = run_op(executor, op(scripts, "flaky.py"), {"x": X}, {}, runs=3)
    (failure,) = outcome.failures
    assert failure.kind == FailureKind.NonDeterministic
    assert (failure.count, failure.index) == (1, [0, 5])
    assert failure.message.startswith(
        "the op is not deterministic: output 'output' of run 2 of 3 differs bitwise from run 1 "
        "at 1 of 32 elements, first at [0, 5]")
    assert "races (atomics" in failure.message
    assert run_op(executor, op(scripts, "flaky.py"), {"x": X}, {}, runs=1).failures == ()


def test_an_op_that_writes_into_its_input_is_caught(scripts, executor):
    given = X.copy()
    outcome = run_op(executor, op(scripts, "inplace.py"), {"x": given}, {}, runs=2)
    (failure,) = outcome.failures
    assert failure.kind == FailureKind.InputMutated and failure.actual == "x"
    assert failure.message.startswith("the op wrote into its input 'x' (run 1 of 2)")
    assert given.tobytes() == X.tobytes()  # the script wrote into its own copy, never ours


def test_rebinding_an_input_name_is_not_a_mutation(scripts, executor):
    assert run_op(executor, op(scripts, "rebinds.py"), {"x": X}, {}, runs=2).failures == ()


def test_executor_reports_mutation_only_when_asked_and_only_from_warm_workers(scripts, executor):
    asked = executor.run_checked(scripts / "inplace.py", {"x": X}, check_inputs=True)
    assert asked.mutated_inputs == ("x",)
    assert executor.run_checked(scripts / "inplace.py", {"x": X}).mutated_inputs is None
    assert executor.run_checked(scripts / "good.py", {"x": X},
                                check_inputs=True).mutated_inputs == ()
    one_shot = executor.run_checked(scripts / "oneshot.py", {"x": X}, check_inputs=True)
    assert one_shot.mutated_inputs is None  # one-shot scripts cannot be checked
    assert np.array_equal(one_shot.outputs["output"], X * 2)


def test_determinism_runs():
    plain, strict = OpConfig("a", Path("r.py")), OpConfig("b", Path("r.py"), deterministic=True)
    assert (determinism_runs(plain), determinism_runs(strict)) == (1, DEFAULT_RUNS)
    assert (determinism_runs(plain, 5), determinism_runs(strict, 1)) == (5, 1)
    for bad in (0, -2, True, 2.5):
        with pytest.raises(InvalidRequest, match=r"determinism: expected the number of runs per "
                                                 r"case \(>= 1; 1 means no check\)"):
            determinism_runs(plain, bad)
