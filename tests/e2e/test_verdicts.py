"""Verdicts that cannot be fooled, against a real daemon: each impostor op is caught by the
guard, the determinism check or the fuzz run's health check, and a correct op passes."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from gpuemu.protocol import FinishFuzzRun, FuzzOp, FuzzResults
from gpuemu.validate import FailureKind

from ..conftest import SOFTMAX_REF, write

pytestmark = pytest.mark.e2e

REFS = {
    "softmax.py": SOFTMAX_REF,
    "relu.py": """
        import numpy as np
        def reference(inputs, **kw):
            return np.maximum(inputs["x"], 0)
    """,
    "log.py": """
        import numpy as np
        def reference(inputs, **kw):
            with np.errstate(invalid="ignore"):
                return np.log(inputs["x"])
    """,
    "tanh.py": """
        import numpy as np
        def reference(inputs, **kw):
            return np.tanh(inputs["x"])
    """,
    "matmul.py": """
        import numpy as np
        def reference(inputs, **kw):
            return (inputs["a"].astype(np.float64) @ inputs["b"]).astype(np.float32)
    """,
}

OPS = {
    "zeros.py": """
        import numpy as np
        def run(inputs, **kw):
            return np.zeros_like(inputs["x"])
    """,
    "identity.py": """
        import numpy as np
        def run(inputs, **kw):
            return inputs["x"].copy()
    """,
    "nan.py": """
        import numpy as np
        def run(inputs, **kw):
            return np.full_like(inputs["x"], np.nan)
    """,
    # A race in disguise: every other call flips the lowest bit of one element.
    "flaky_tanh.py": """
        import numpy as np
        calls = 0
        def run(inputs, **kw):
            global calls
            calls += 1
            out = np.tanh(inputs["x"])
            if calls % 2 == 0 and out.size:
                out.reshape(-1)[:1].view(np.uint32)[0] ^= 1
            return out
    """,
    "inplace_tanh.py": """
        import numpy as np
        def run(inputs, **kw):
            x = inputs["x"]
            np.tanh(x, out=x)
            return x
    """,
    "softmax.py": """
        import numpy as np
        def run(inputs, **kw):
            x = inputs["x"]
            e = np.exp(x - x.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)
    """,
    "relu.py": """
        import numpy as np
        def run(inputs, **kw):
            return np.maximum(inputs["x"], 0)
    """,
}

SMALL = """
[ops.fuzz]
batch_sizes = [2, 3]
seq_lengths = [4, 5]
hidden_dims = [8, 16]
edge_case_prob = 0
"""

CONFIG = f"""
[[ops]]
name = "zeros_softmax"
reference = "refs/softmax.py"
op_script = "ops/zeros.py"
tolerances = {{ float32 = {{ atol = 1e-2, rtol = 1e-2 }} }}
[ops.fuzz]
distributions = ["normal"]
[ops.schema.dims]
B = [2, 3]
N = [16384, 20000]
[ops.schema.inputs]
x = ["B", "N"]

[[ops]]
name = "noop_relu"
reference = "refs/relu.py"
op_script = "ops/identity.py"
input_names = ["x"]
{SMALL}value_range = [0.0, 10.0]

[[ops]]
name = "nan_log"
reference = "refs/log.py"
op_script = "ops/nan.py"
input_names = ["x"]
{SMALL}value_range = [-10.0, -1.0]

[[ops]]
name = "flaky_tanh"
reference = "refs/tanh.py"
op_script = "ops/flaky_tanh.py"
input_names = ["x"]
deterministic = true
{SMALL}
[[ops]]
name = "flaky_tanh_unmarked"
reference = "refs/tanh.py"
op_script = "ops/flaky_tanh.py"
input_names = ["x"]
{SMALL}
[[ops]]
name = "inplace_tanh"
reference = "refs/tanh.py"
op_script = "ops/inplace_tanh.py"
input_names = ["x"]
deterministic = true
{SMALL}# uniform: tanh(x) == x for the default mix's subnormals, which would leave the input as it was
distributions = ["uniform"]

[[ops]]
name = "softmax"
reference = "refs/softmax.py"
op_script = "ops/softmax.py"
input_names = ["x"]
op_type = "softmax"
dtypes = ["float32", "float64"]
{SMALL}layouts = ["contiguous", "transposed", "strided", "offset"]
distributions = ["uniform", "normal", "mixed_sign", "zeros"]

[[ops]]
name = "softmax_ulp"
reference = "refs/softmax.py"
input_names = ["x"]
compare = "ulp"
max_ulp = 16

[[ops]]
name = "relu"
reference = "refs/relu.py"
op_script = "ops/relu.py"
input_names = ["x"]
{SMALL}
[[ops]]
name = "matmul"
reference = "refs/matmul.py"
input_names = ["a", "b"]
op_type = "matmul"
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("verdicts")
    for name, body in REFS.items():
        write(root / "refs" / name, body)
    for name, body in OPS.items():
        write(root / "ops" / name, body)
    write(root / "gpuemu.toml", CONFIG)
    return root


@pytest.fixture
def client(make_daemon, project):
    with make_daemon(project / "gpuemu.toml").client(timeout_ms=120_000) as c:
        yield c


def fuzz(client, op: str, iterations: int = 12, **kw) -> FuzzResults:
    reply = client.request(FuzzOp(op_name=op, iterations=iterations, seed=2024, **kw))
    assert isinstance(reply, FuzzResults)
    return reply


def errors(results: FuzzResults) -> dict[str, str]:
    return {i.kind: i.message for i in results.health if i.severity == "error"}


def test_zeros_softmax_over_huge_rows_is_caught(client):
    run = fuzz(client, "zeros_softmax", iterations=4)
    assert (run.passed, run.failed) == (4, 0)  # every case "passes" its 1e-2 tolerance ...
    assert run.vacuous  # ... and the run says that means nothing
    assert errors(run)["ImpostorPasses"].startswith(
        "an all-zeros output would have passed all 4 checked cases")
    assert run.coverage.impostors["zeros"] == 4
    x = np.random.default_rng(0).standard_normal((2, 16384)).astype(np.float32)
    single = client.validate_op("zeros_softmax", {"x": x}, np.zeros_like(x))
    # The check cannot tell zeros from the right output, so it fails neither: it warns.
    assert single.passed and [w.kind for w in single.warnings] == [FailureKind.VacuousCheck]
    assert "the tolerance swallows the reference" in single.warnings[0].message


def test_identity_op_passing_as_a_no_op_relu_is_caught(client):
    run = fuzz(client, "noop_relu")
    assert run.failed == 0 and run.vacuous
    assert errors(run)["ImpostorPasses"].startswith("a copy of input 'x' would have passed all")
    honest = fuzz(client, "noop_relu", fuzz_config={"value_range": [-10.0, 10.0]})
    assert honest.failed == 12 and not honest.vacuous
    assert {k for f in honest.failures for k in f.failure_kinds} == {"ToleranceExceeded"}


def test_nan_returning_op_is_caught(client):
    run = fuzz(client, "nan_log")
    assert run.failed == 0 and run.vacuous
    assert errors(run)["ImpostorPasses"].startswith("an all-NaN output would have passed all 12")


def test_random_bit_flip_every_other_run_is_non_deterministic(client):
    run = fuzz(client, "flaky_tanh")  # deterministic = true in its config
    assert run.failed > 0
    assert {k for f in run.failures for k in f.failure_kinds} == {"NonDeterministic"}
    assert "differs bitwise from run 1" in run.failures[0].failures[0].message
    # Without the check, the one-bit flip hides inside the tolerance.
    assert fuzz(client, "flaky_tanh_unmarked").failed == 0
    asked = fuzz(client, "flaky_tanh_unmarked", determinism=2)  # the request-level option
    assert asked.failed > 0
    assert {k for f in asked.failures for k in f.failure_kinds} == {"NonDeterministic"}


def test_op_that_writes_into_its_input_is_caught(client):
    run = fuzz(client, "inplace_tanh", iterations=6)
    assert run.failed == 6
    for result in run.failures:
        assert result.failure_kinds == ["InputMutated"]  # its output was right
        assert result.failures[0].message.startswith("the op wrote into its input 'x'")


def test_correct_op_passes_every_check_and_reports_coverage(client):
    run = fuzz(client, "softmax", iterations=40, determinism=3)
    assert (run.passed, run.failed, run.vacuous) == (40, 0, False), run.failures
    cov = run.coverage
    assert (cov.cases, cov.checked) == (40, 40)
    assert set(cov.dtypes) == {"float32", "float64"}
    assert set(cov.layouts) == {"contiguous", "transposed", "strided", "offset"}
    assert set(cov.distributions) == {"uniform", "normal", "mixed_sign", "zeros"}
    assert cov.impostors.get("constant", 0) < 40  # the zeros cases are constant: fine in a run
    wire = msgspec.json.decode(msgspec.json.encode(run))
    assert wire["coverage"]["cases"] == 40 and "vacuous" not in wire  # false is omitted


def test_a_layout_the_shapes_never_have_makes_the_run_vacuous(client):
    run = fuzz(client, "relu", fuzz_config={"layouts": ["transposed"], "min_dims": 1,
                                            "max_dims": 1})
    assert run.failed == 0 and run.vacuous
    assert errors(run)["LayoutNotReached"].startswith("layout 'transposed' was drawn in 12 cases")
    assert run.coverage.layouts == {"strided": 12}


def test_ulp_mode_and_the_applied_tolerance_are_in_the_verdict(client):
    x = np.random.default_rng(1).standard_normal((8, 64)).astype(np.float32)
    e = np.exp(x - x.max(-1, keepdims=True))
    good = (e / e.sum(-1, keepdims=True)).astype(np.float32)
    result = client.validate_op("softmax_ulp", {"x": x}, good)
    assert result.passed and result.max_ulp == 16 and result.atol is None
    assert result.max_ulp_diff <= 16
    bad = good.copy()
    bad[3, 5] = np.nextafter(bad[3, 5], np.float32(1)) * np.float32(1 + 2**-10)
    failed = client.validate_op("softmax_ulp", {"x": x}, bad)
    assert failed.mismatch.max_ulp_index == [3, 5] and failed.mismatch.max_ulp_diff > 16
    g = np.random.default_rng(2)
    a, b = (g.standard_normal(s).astype(np.float32) for s in ((8, 4096), (4096, 8)))
    product = client.validate_op("matmul", {"a": a, "b": b}, a @ b)
    assert product.passed, product.failures
    assert "scaled for op_type 'matmul' over K=4096 terms" in product.tolerance_source
    assert product.atol > 1e-5  # the applied tolerance, not the default


# -- the same health checks when the client runs the op (maybe on a GPU) -----------------------

def test_client_side_identity_op_is_caught_by_the_runs_health(client):
    run = client.fuzz_op_client_side("noop_relu", lambda inputs: inputs["x"].copy(),
                                     iterations=12, seed=2024)
    assert run.failed == 0 and run.vacuous
    assert errors(run)["ImpostorPasses"].startswith("a copy of input 'x' would have passed all 12")
    assert run.coverage.impostors["copy:x"] == 12


def test_client_side_zeros_op_is_caught_and_correct_op_reports_coverage(client):
    zeros = client.fuzz_op_client_side("zeros_softmax", lambda inputs: np.zeros_like(inputs["x"]),
                                       iterations=4, seed=2024)
    assert (zeros.failed, zeros.vacuous) == (0, True)
    assert "ImpostorPasses" in errors(zeros)

    def softmax(inputs):
        x = inputs["x"]
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    run = client.fuzz_op_client_side("softmax", softmax, iterations=40, seed=2024)
    script = fuzz(client, "softmax", iterations=40)  # the same cases, run by the daemon
    assert (run.passed, run.vacuous) == (40, False), run.failures
    assert run.coverage == script.coverage  # same cases, same coverage, whoever ran the op


def test_client_side_batches_are_one_run_that_finishes_once(client):
    run = client.fuzz_op_client_side("relu", lambda inputs: np.maximum(inputs["x"], 0),
                                     iterations=12, seed=7, batch=5)
    assert not run.vacuous and run.coverage.cases == 12  # batches of 5 add up to one run
    with pytest.raises(Exception, match="no open fuzz run 7 of op 'relu'"):
        client.request(FinishFuzzRun(op_name="relu", run=7))  # finished already


def test_a_reference_failure_in_a_client_side_run_is_one_failed_case(project, make_daemon):
    write(project / "refs" / "picky.py", """
        import numpy as np
        def reference(inputs, **kw):
            if inputs["x"].shape[0] == 3:
                raise ValueError("no batches of 3")
            return np.maximum(inputs["x"], 0)
    """)
    config = (project / "gpuemu.toml").read_text()
    write(project / "picky.toml", config + '\n[[ops]]\nname = "picky"\nreference = '
          f'"refs/picky.py"\ninput_names = ["x"]\n{SMALL}')
    with make_daemon(project / "picky.toml").client(timeout_ms=120_000) as c:
        run = c.fuzz_op_client_side("picky", lambda inputs: np.maximum(inputs["x"], 0),
                                    iterations=12, seed=2024)
    assert 0 < run.failed < 12 and run.coverage.filtered == run.failed
    assert all("the reference script failed on this case" in f.failures[0].message
               for f in run.failures)
