"""The minimizer on real buggy ops whose failures do not grow with size (issue 26): wrong
only at odd sizes, at sizes that are not a multiple of the vector width, at size 3, at
sizes that are not a power of two. Each is fuzzed by a real daemon over an op schema, its
first failure minimized, and the minimized case must be the smallest failing one: halving
alone met only passing sizes (1025 -> 513 -> ...) and stopped far above it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from gpuemu.fuzz import case_seed

from ..conftest import DaemonProcess, run_cli, write

pytestmark = pytest.mark.timeout(600)

SEED, ITERATIONS = 3, 30

REFERENCE = """
import numpy as np


def reference(inputs, **kwargs):
    return 2 * inputs["x"]
"""

BUGGY = """
import numpy as np


def run(inputs, **kwargs):
    x = inputs["x"]
    y = 2 * x
    n = x.shape[-1]
    if {wrong}:
        y[..., -1] += 1
    return y
"""

BUGS = {  # op -> (when it is wrong, in terms of the last dim n; the smallest failing shape)
    "odd_tail": ("n % 2 == 1", [1, 1, 1]),
    "vector4_tail": ("n % 4 != 0", [1, 1, 1]),
    "only_three": ("n == 3", [1, 1, 3]),
    "not_power_of_two": ("n & (n - 1) != 0", [1, 1, 3]),
}

OP = """
[[ops]]
name = "{name}"
reference = "refs/double.py"
op_script = "ops/{name}.py"
input_names = ["x"]
dtypes = ["float32"]
[ops.schema]
output = ["B", "S", "H"]
[ops.schema.dims]
B = [2, 4]
S = [5, 16]
H = [3, 16, 1025]
[ops.schema.inputs]
x = ["B", "S", "H"]
"""


@pytest.fixture(scope="module")
def daemon():
    tmp = Path(tempfile.mkdtemp(prefix="gm-", dir="/tmp"))
    write(tmp / "refs" / "double.py", REFERENCE)
    for name, (wrong, _) in BUGS.items():
        write(tmp / "ops" / f"{name}.py", BUGGY.format(wrong=wrong))
    write(tmp / "gpuemu.toml", "".join(OP.format(name=name) for name in BUGS))
    home = tmp / "home"
    env = {**os.environ, "GPUEMU_HOME": str(home), "GPUEMU_AUTO_START": "0"}
    env.pop("GPUEMU_SOCKET", None)
    process = DaemonProcess(home=home, config=tmp / "gpuemu.toml", env=env)
    try:
        yield process.start(wait_s=60)
    finally:
        process.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("name", BUGS)
def test_the_first_failure_minimizes_to_the_smallest_failing_shape(daemon, name):
    with daemon.client(timeout_ms=300_000) as client:
        fuzz = client.fuzz_op(name, iterations=ITERATIONS, seed=SEED, fail_fast=True)
        assert fuzz.failures, f"{name} passed {ITERATIONS} cases"
        index = {case_seed(SEED, i): i for i in range(ITERATIONS)}
        first = min(fuzz.failures, key=lambda r: index[r.seed])
        small = client.minimize_case(first.seed, op_name=name, max_iters=100)
    smallest = BUGS[name][1]
    assert small.minimized_shape == {"x": smallest}, small.steps
    assert not small.result.passed  # the minimized case still fails, the same way
    assert small.result.failure_kinds == first.failure_kinds
    wanted = ["B=1 (candidates 2, 4)", "S=1 (candidates 5, 16)"]
    if smallest[-1] not in (3, 16, 1025):
        wanted.append(f"H={smallest[-1]} (candidates 3, 16, 1025)")
    assert small.outside_schema == wanted


def test_the_report_says_when_the_minimized_shape_is_outside_the_schema(daemon):
    with daemon.client(timeout_ms=300_000) as client:
        seed = client.fuzz_op("odd_tail", iterations=ITERATIONS, seed=SEED,
                              fail_fast=True).failures[0].seed
    out = run_cli("minimize", "--seed", str(seed), cwd=daemon.config.parent,
                  env={"GPUEMU_HOME": str(daemon.home), "GPUEMU_AUTO_START": "0"})
    assert out.returncode == 1, out.stderr  # the minimized case fails, as it must
    assert ("    outside the op's schema: B=1 (candidates 2, 4); S=1 (candidates 5, 16);"
            " H=1 (candidates 3, 16, 1025) (the smallest failing case found; fuzzing draws only"
            " the schema's candidates)") in out.stdout
