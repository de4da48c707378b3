"""A case whose script raised, reported through a real daemon and the CLI as fully as a
tolerance failure (issue 26): dtype, shape, layout and case index in text, JSON, Markdown and
SARIF, the author's frame and the final error in the traceback, and a health verdict that
blames the script that really raised."""

from __future__ import annotations

import json

import pytest

from gpuemu.fuzz import case_seed

from ..conftest import run_cli, write

pytestmark = pytest.mark.e2e

SEED, N = 5, 12

LIBRARY = """
def launch(kernel, x, depth=15):
    # An interpreter's launcher (Triton's, say): deep, and it wraps what the kernel raised.
    if depth:
        return launch(kernel, x, depth - 1)
    try:
        return kernel(x)
    except Exception as exc:
        raise RuntimeError("kernel failed under the interpreter") from exc
"""

HALF_RAISES = """
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vendor",
                                "site-packages"))
import fakelib
import numpy as np


def kernel(x):
    if x.dtype == np.float16:
        raise TypeError("no float16 kernel")  # the author's line
    return 2 * x


def run(inputs, **kwargs):
    return fakelib.launch(kernel, inputs["x"])
"""

DOUBLE = """
import numpy as np


def {entry}(inputs, **kwargs):
    x = inputs["x"]
    if {half_fails} and x.dtype == np.float16:
        raise TypeError("the reference has no float16 path")
    return (2 * x.astype(np.float64)).astype(x.dtype)
"""

OP = """
[[ops]]
name = "{name}"
reference = "refs/{ref}.py"
op_script = "ops/{op}.py"
input_names = ["x"]
dtypes = ["float32", "float16"]
oracle = "native"  # the reference sees float16 (else it computes in float64)
[ops.fuzz]
batch_sizes = [2]
seq_lengths = [7]
hidden_dims = [33]
edge_case_prob = 0.0
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("raising")
    write(root / "vendor" / "site-packages" / "fakelib.py", LIBRARY)
    write(root / "ops" / "half_raises.py", HALF_RAISES)
    write(root / "ops" / "double.py", DOUBLE.format(entry="run", half_fails=False))
    write(root / "refs" / "double.py", DOUBLE.format(entry="reference", half_fails=False))
    write(root / "refs" / "double_no_half.py", DOUBLE.format(entry="reference", half_fails=True))
    write(root / "gpuemu.toml", OP.format(name="half_raises", ref="double", op="half_raises")
          + OP.format(name="ref_no_half", ref="double_no_half", op="double"))
    return root


@pytest.fixture
def gpuemu(make_daemon, project):
    make_daemon(project / "gpuemu.toml")
    return lambda *args: run_cli(*args, cwd=project)


def test_an_op_that_raised_is_reported_with_its_case_and_the_authors_frame(gpuemu):
    out = gpuemu("fuzz", "half_raises", "-n", str(N), "--seed", str(SEED), "--format", "json")
    assert out.returncode == 1, out.stderr
    (run,) = json.loads(out.stdout)["ops"]
    index = {case_seed(SEED, i): i for i in range(N)}
    failures = run["failures"]
    assert failures and len(failures) == run["coverage"]["dtypes"]["float16"]
    for f in failures:
        assert f["dtype"] == "Float16" and [r["kind"] for r in f["failures"]] == ["ExecutionError"]
        assert f["shape"] == f["repro_info"]["input_shapes"]["x"] and len(f["shape"]) == 3
        assert f["repro_info"]["layout"] and f["repro_info"]["input_dtypes"] == {"x": "Float16"}
        assert f["case_index"] == index[f["seed"]]
        message = f["failures"][0]["message"]
        assert 'raise TypeError("no float16 kernel")  # the author\'s line' in message
        assert "TypeError: no float16 kernel" in message
        assert message.rstrip().endswith("RuntimeError: kernel failed under the interpreter")
        assert "frames of gpuemu or library code left out" in message
        assert "gpuemu/engine/worker.py" not in message
    assert [f["case_index"] for f in failures] == sorted(f["case_index"] for f in failures)

    health = {h["kind"]: h["message"] for h in run["health"]}
    first = min(failures, key=lambda f: f["seed"])
    assert health["DtypeNotReached"] == (
        f"dtype 'float16' was drawn in {len(failures)} cases but never reached the check: the op"
        f" script raised in all {len(failures)} (seed {first['seed']}: RuntimeError: kernel"
        " failed under the interpreter); fix the op for this dtype, or drop the dtype from the"
        " op's dtypes")

    text = gpuemu("fuzz", "half_raises", "-n", str(N), "--seed", str(SEED)).stdout
    shown = failures[0]
    assert (f"    seed {shown['seed']} (case {shown['case_index']}) Float16 {{'x': {shown['shape']}}}:"
            " ExecutionError") in text
    assert "    health: " + health["DtypeNotReached"] in text
    assert "reference" not in health["DtypeNotReached"]

    markdown = gpuemu("fuzz", "half_raises", "-n", str(N), "--seed", str(SEED),
                      "--format", "pr-comment").stdout
    assert f"seed {shown['seed']} (case {shown['case_index']}) Float16 x {shown['shape']}" in markdown
    sarif = json.loads(gpuemu("fuzz", "half_raises", "-n", str(N), "--seed", str(SEED),
                              "--format", "sarif").stdout)
    props = [r["properties"] for r in sarif["runs"][0]["results"] if "caseIndex" in r["properties"]]
    assert sorted(p["caseIndex"] for p in props) == [f["case_index"] for f in failures]


def test_a_reference_that_raised_is_named_as_the_reference(gpuemu):
    out = gpuemu("fuzz", "ref_no_half", "-n", str(N), "--seed", str(SEED), "--format", "json")
    (run,) = json.loads(out.stdout)["ops"]
    drawn = run["coverage"]["dtypes"]["float16"]
    health = {h["kind"]: h["message"] for h in run["health"]}
    assert health["DtypeNotReached"] == (
        f"dtype 'float16' was drawn in {drawn} cases but never reached the check: the reference"
        f" script failed in all {drawn}; fix the reference for this dtype (the failures show its"
        " error), or drop the dtype from the op's dtypes")
    failures = run["failures"]
    assert len(failures) == drawn and all(f["dtype"] == "Float16" for f in failures)
    assert all("the reference script failed on this case" in f["failures"][0]["message"]
               and "TypeError: the reference has no float16 path" in f["failures"][0]["message"]
               for f in failures)
