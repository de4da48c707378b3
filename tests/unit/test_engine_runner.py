"""The engine's fuzz runner in-process, with real scripts in warm workers (no daemon).

Covers engine/runner.py (run_case, fuzz_cases and its sink), engine/runs.py (the tally,
its fail-fast rule, the FuzzResults builder and the verdict), engine/repro.py (the one
replay command) and the layering rule: gpuemu.local and a generated regression test load
nothing from gpuemu.daemon.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from gpuemu.config import load_config
from gpuemu.engine.executor import Executor
from gpuemu.engine.health import RunHealth
from gpuemu.engine.repro import replay_command
from gpuemu.engine.runner import Scripts, fuzz_cases, fuzz_config, run_case
from gpuemu.engine.runs import RunVerdict, Tally, run_each, run_verdict
from gpuemu.errors import InvalidRequest
from gpuemu.fuzz.cases import CaseSpec, case_seed, spec_for_seed
from gpuemu.local import run_here
from gpuemu.protocol import FuzzResults
from gpuemu.validate import FailureKind, ValidationResult

from ..conftest import write

SCRIPTS = {
    "relu_ref.py": """
        import numpy as np
        def reference(inputs, **kw):
            return np.maximum(inputs["x"], 0)
    """,
    "relu_good.py": """
        import numpy as np
        def run(inputs, **kw):
            return np.maximum(inputs["x"], 0)
    """,
    # Wrong on every case whose last dim is 40: drops the tail past 32.
    "relu_tail.py": """
        import numpy as np
        def run(inputs, **kw):
            out = np.maximum(inputs["x"], 0)
            out[..., 32:] = 0 if out.shape[-1] == 40 else out[..., 32:]
            return out
    """,
    # Two outputs, neither named "output": which one is checked must not be a guess.
    "two_outputs_ref.py": """
        import numpy as np
        def reference(inputs, **kw):
            return {"y": np.maximum(inputs["x"], 0), "mask": inputs["x"] > 0}
    """,
    # Values far below atol: an all-zeros output passes the check too (a vacuous check).
    "tiny_ref.py": """
        import numpy as np
        def reference(inputs, **kw):
            return (inputs["x"] * 1e-9).astype(inputs["x"].dtype)
    """,
}

OPS = {  # op: reference, op script, the hidden dims fuzzed (shapes are [2, 3, hidden])
    "relu": ("relu_ref.py", "relu_good.py", [16, 40]),
    "relu_tail": ("relu_ref.py", "relu_tail.py", [16, 40]),
    "two_outputs": ("two_outputs_ref.py", "relu_good.py", [16]),
    "tiny": ("tiny_ref.py", "tiny_ref.py", [16]),
}
CONFIG = "".join(f"""
[[ops]]
name = "{name}"
reference = "{reference}"
op_script = "{script}"
input_names = ["x"]
dtypes = ["float32"]
[ops.fuzz]
edge_case_prob = 0.0
batch_sizes = [2]
seq_lengths = [3]
hidden_dims = {hidden}
""" for name, (reference, script, hidden) in OPS.items())


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("engine")
    for name, body in SCRIPTS.items():
        write(root / name, body)
    write(root / "gpuemu.toml", CONFIG)
    return root


@pytest.fixture(scope="module")
def scripts(project):
    with Executor(max_workers_per_script=2) as executor:
        yield Scripts(executor, project)


def op(project: Path, name: str):
    return load_config(project / "gpuemu.toml").op(name)


def run(scripts: Scripts, name: str, iterations: int, *, fail_fast: bool = False,
        checkpoint=None) -> tuple[FuzzResults, list[int]]:
    """Fuzz ``name`` in-process; the results, and the indices the sink received."""
    the_op = op(scripts.root, name)
    config = fuzz_config(the_op, None)
    health = RunHealth(config, guard=the_op.vacuous_guard)
    sunk: list[int] = []
    lock = threading.Lock()

    def sink(index: int, spec: CaseSpec, result: ValidationResult) -> None:
        assert spec.seed == case_seed(7, index) == result.seed
        with lock:
            sunk.append(index)

    tally = fuzz_cases(scripts, the_op, config, 7, range(iterations), 1, health,
                       Tally(fail_fast=fail_fast), sink, checkpoint=checkpoint)
    return tally.results(the_op.name, 7, health.verdict()), sunk


def test_a_right_op_passes_every_case_and_each_reaches_the_sink_once(scripts):
    results, sunk = run(scripts, "relu", 24)
    assert (results.iterations, results.passed, results.failed) == (24, 24, 0)
    assert sorted(sunk) == list(range(24))
    assert results.coverage is not None and results.coverage.cases == 24
    assert run_verdict(results) is RunVerdict.passed


def test_a_buggy_op_fails_its_cases_in_case_order_with_the_replay_command(scripts):
    results, _ = run(scripts, "relu_tail", 24)
    assert 0 < results.failed < 24  # only the cases whose last dim is 40
    seeds = [case_seed(7, i) for i in range(24)]
    assert [r.seed for r in results.failures] == [s for s in seeds if s in
                                                  {r.seed for r in results.failures}]
    first = results.failures[0]
    assert first.failures[0].kind == FailureKind.ToleranceExceeded
    assert first.repro_info.command == replay_command("relu_tail", first.seed)
    assert first.repro_info.command == f"gpuemu reproduce --seed {first.seed} --op relu_tail"
    assert first.repro_info.input_shapes["x"][-1] == 40
    assert run_verdict(results) is RunVerdict.failed


def test_fail_fast_takes_no_new_case_once_one_failed(scripts):
    results, sunk = run(scripts, "relu_tail", 200, fail_fast=True)
    assert results.failed >= 1
    assert results.iterations == len(sunk) < 200  # cases in flight finish and count


def test_a_checkpoint_that_raises_stops_the_run_at_a_case_boundary(scripts):
    calls = []

    def checkpoint() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("cancelled")

    with pytest.raises(KeyboardInterrupt):
        run(scripts, "relu", 500, checkpoint=checkpoint)


def test_a_multi_output_reference_is_the_same_clear_error_in_the_engine_and_in_process(scripts):
    the_op = op(scripts.root, "two_outputs")
    spec = spec_for_seed(fuzz_config(the_op, None), 3, the_op.name)
    message = r"returned outputs \['mask', 'y'\]; a case compares one output: return a single"
    with pytest.raises(InvalidRequest, match=message):
        run_case(scripts, the_op, spec)
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    with pytest.raises(InvalidRequest, match=message):
        run_here(the_op, scripts.root, {"x": x}, {}, 3)


def test_a_vacuous_check_warns_alone_and_is_left_to_the_run_in_a_run(scripts):
    """One judging path: a lone case (run_case without a run, gpuemu.local) gets a
    VacuousCheck warning; a case of a run only lists its impostors. Neither fails."""
    the_op = op(scripts.root, "tiny")
    spec = spec_for_seed(fuzz_config(the_op, None), 5, the_op.name)
    alone = run_case(scripts, the_op, spec)
    assert alone.passed and [w.kind for w in alone.warnings] == [FailureKind.VacuousCheck]
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    here = run_here(the_op, scripts.root, {"x": x}, {}, 5).result
    assert here.passed and [w.kind for w in here.warnings] == [FailureKind.VacuousCheck]
    health = RunHealth(fuzz_config(the_op, None), guard=True)
    in_run = run_case(scripts, the_op, spec, health=health)
    assert in_run.passed and in_run.warnings == [] and "zeros" in in_run.impostors


def test_run_each_stops_drawing_cases_once_fail_fast_stops():
    drawn = []

    def cases():
        for i in range(10):
            drawn.append(i)
            yield i

    def judge(i: int) -> ValidationResult | None:
        return ValidationResult(passed=i != 3, op_name="op", seed=i)

    tally = run_each(cases(), judge, Tally(fail_fast=True))
    assert (tally.done, list(tally.failures), drawn) == (4, [3], [0, 1, 2, 3])
    results = tally.results("op", 99)
    assert (results.iterations, results.passed, results.failed) == (4, 3, 1)
    assert [r.seed for r in results.failures] == [3]
    everything = run_each(iter(range(10)), judge, Tally())
    assert (everything.done, list(everything.failures)) == (10, [3])


def test_run_verdict_a_failure_wins_over_vacuity():
    run = FuzzResults(op_name="op", seed=1, iterations=3, passed=3, failed=0, vacuous=True)
    assert run_verdict(run) is RunVerdict.vacuous and run_verdict(run) == "vacuous"
    run.failed, run.passed = 1, 2
    assert run_verdict(run) is RunVerdict.failed


def test_replay_command_names_the_seed_and_op_or_the_reproducer_file():
    assert replay_command("softmax", 42) == "gpuemu reproduce --seed 42 --op softmax"
    assert replay_command(None, 42) == "gpuemu reproduce --seed 42"
    assert replay_command(source="case.json") == "gpuemu reproduce --from case.json"


def test_the_in_process_path_and_regression_tests_load_nothing_from_the_daemon(project, tmp_path):
    """gpuemu.local, and a test that `minimize --write-test` writes (run here, passing),
    import nothing from gpuemu.daemon: they must work where no daemon could run."""
    from gpuemu.fuzz.regression import write_regression_test

    the_op = op(project, "relu")
    spec = spec_for_seed(fuzz_config(the_op, None), 11, the_op.name)
    test = write_regression_test(project / "gpuemu.toml", spec, tmp_path / "regress")
    code = textwrap.dedent(f"""
        import runpy, sys
        import gpuemu.local
        module = runpy.run_path({str(test)!r})
        [name] = [n for n in module if n.startswith("test_")]
        module[name]()
        print(sorted(m for m in sys.modules if m.startswith("gpuemu.daemon")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
