"""Seed 000's messages, raw JSON in both of its forms (flat and ``{"type", "payload"}``),
against a real daemon: every request type, the reply type and fields the seed names, the
error envelope and version negotiation."""

from __future__ import annotations

import numpy as np
import pytest

from .support import FORMS, RawClient, array, tensor

pytestmark = pytest.mark.e2e

RESULT_KEYS = {"passed", "seed", "op_name", "max_diff", "max_rel_diff", "failures", "timestamp",
               "duration_ms", "repro_info"}
X = np.linspace(-2, 2, 16, dtype=np.float32).reshape(2, 8)


def check_result(result: dict, *, passed: bool | None = None) -> dict:
    """A ValidationResult as seed 000 shows one: its nine keys, failures with kind/message."""
    assert RESULT_KEYS <= set(result), sorted(result)
    assert isinstance(result["seed"], int) and isinstance(result["timestamp"], (int, float))
    for failure in result["failures"]:
        assert {"kind", "message"} <= set(failure)
    if passed is not None:
        assert result["passed"] is passed, result["failures"]
    return result


def check_error(reply: tuple[str, dict], code: str) -> str:
    kind, body = reply
    assert kind == "Error" and body["code"] == code, body
    assert body["message"]
    return body["message"]


@pytest.fixture(scope="module", params=FORMS)
def raw(request, module_daemon):
    client = RawClient(module_daemon.socket, request.param)
    yield client
    client.close()


def test_ping_pong_carries_the_protocol_version(raw):
    kind, body = raw.send("Ping")
    assert kind == "Pong" and body["protocol_version"] == 1
    assert {"version", "uptime_secs"} <= set(body)


def test_validate_op_as_seed_000_writes_it(raw):
    inputs = {"x": tensor(X, dtype="Float32")}
    kind, body = raw.send("ValidateOp", op_name="relu", inputs=inputs,
                          output=tensor(np.maximum(X, 0), dtype="Float32"), dtype="float32", seed=77)
    assert kind == "ValidationResult"
    result = check_result(body["result"], passed=True)
    if raw.form == "envelope":  # seed 000: the payload is the result itself
        assert check_result(body, passed=True)["seed"] == 77
    assert result["seed"] == 77 and result["op_name"] == "relu"
    kind, body = raw.send("GetResult", seed=77)
    assert kind == "ValidationResult" and body["result"]["seed"] == 77
    kind, body = raw.send("ListResults")
    assert kind == "Results" and 77 in [check_result(r)["seed"] for r in body["results"]]


def test_a_failing_validation_says_why(raw):
    kind, body = raw.send("ValidateOp", op_name="relu", inputs={"x": tensor(X)},
                          output=tensor(np.abs(X)), kwargs={"note": "1"})
    result = check_result(body["result"], passed=False)
    assert result["max_diff"] == pytest.approx(2.0)
    assert result["failures"][0]["kind"] == "ToleranceExceeded"
    assert result["repro_info"]["shape"] == [2, 8] and result["repro_info"]["dtype"] == "float32"


def test_baselines(raw):
    raw.send("ValidateOp", op_name="relu", inputs={"x": tensor(X)}, output=tensor(np.maximum(X, 0)))
    assert raw.send("StoreBaseline", tag="v1")[0] == "Ok"
    kind, body = raw.send("CompareBaseline", tag="v1", fail_on_regression=True)
    assert kind == "BaselineComparison"
    assert {"regressions", "improvements", "unchanged"} <= set(body)
    check_error(raw.send("CompareBaseline", tag="nope"), "BaselineNotFound")


def test_fuzz_reproduce_minimize_list_failures(raw):
    kind, body = raw.send("FuzzOp", op_name="relu_abs", iterations=3, seed=42)
    assert kind == "FuzzResults"
    assert (body["seed"], body["total"], body["passed"] + body["failed"]) == (42, 3, 3)
    failure = check_result(body["failures"][0], passed=False)
    kind, body = raw.send("Reproduce", seed=failure["seed"])
    assert kind == "ReproduceResult" and check_result(body["result"], passed=False)
    x = array(body["inputs"]["x"])
    assert list(x.shape) == failure["repro_info"]["shape"]
    kind, body = raw.send("Minimize", seed=failure["seed"], strategy="BinarySearchDims", max_iters=3)
    assert kind == "MinimizeResult" and body["original_seed"] == failure["seed"]
    assert all(isinstance(d, int) for d in body["minimized_shape"])
    assert isinstance(body["minimized_seed"], int) and check_result(body["result"])
    kind, body = raw.send("ListFailures", limit=5)
    assert kind == "Results" and failure["seed"] in [check_result(r)["seed"] for r in body["results"]]


def test_lint_and_artifacts(raw):
    for fields in ({"kernel_name": "saxpy"}, {"ptx_path": "kernels/saxpy.ptx"}, {}):
        kind, body = raw.send("LintKernel", **fields)
        assert kind == "LintResults" and {"warnings", "errors", "info"} <= set(body)
        (entry,) = body["results"]
        assert {"kernel_name", "passed", "metrics", "violations", "timestamp"} <= set(entry)
        assert entry["metrics"]["register_count"] > 0
    assert raw.send("StoreArtifact", kernel_name="mine", metrics={"registers": 40, "spills": 0})[0] == "Ok"
    kind, body = raw.send("GetArtifact", kernel_name="mine")
    assert kind == "ArtifactMetricsResult" and (body["registers"], body["spills"]) == (40, 0)
    kind, body = raw.send("ListArtifacts")
    assert kind == "ArtifactList" and {a["kernel_name"] for a in body["artifacts"]} >= {"mine", "saxpy"}
    assert raw.send("StoreArtifactBaseline", tag="a1")[0] == "Ok"  # every kernel
    raw.send("StoreArtifact", kernel_name="mine", metrics={"registers": 80, "spills": 8})
    kind, body = raw.send("DiffArtifactBaseline", tag="a1", fail_on_regression=True)
    assert kind == "ArtifactDiffs" and not body["passed"]
    diffs = {d["kernel_name"]: d for d in body["diffs"]}
    assert set(diffs) == {"mine", "saxpy"} and not diffs["mine"]["passed"]
    check_error(raw.send("GetArtifact", kernel_name="none"), "ArtifactNotFound")
    check_error(raw.send("LintKernel", kernel_name="none"), "KernelNotFound")


def test_ci(raw):
    kind, body = raw.send("RunCi", quick=True, parallel=1, format="json")
    assert kind == "CiRunComplete" and {"summary", "results", "duration_ms"} <= set(body)
    assert body["summary"]["total"] == 6  # three ops, quick_iterations = 2
    for result in body["results"]:
        check_result(result, passed=False)
    assert raw.send("GetCiSummary")[0] == "CiSummary"


def test_daemon_orchestrated_cases(raw):
    kind, case = raw.send("GetTestCase", op_name="relu", seed=7)
    assert kind == "TestCase" and case["seed"] == 7 and case["metadata"]
    x = array(case["inputs"]["x"])
    kind, body = raw.send("SubmitOutput", op_name="relu", seed=7,
                          output=tensor(np.maximum(x, 0), dtype="Float32"))
    assert kind == "SubmitResult" and check_result(body["result"], passed=True)["seed"] == 7
    kind, body = raw.send("GetTestBatch", op_name="relu", seeds=[7, 8, 9])
    assert kind == "TestBatch"
    cases = body["test_cases" if raw.form == "envelope" else "cases"]
    assert [c["seed"] for c in cases] == [7, 8, 9]
    np.testing.assert_array_equal(array(cases[0]["inputs"]["x"]), x)


def test_errors_come_back_in_the_form_of_the_request(raw):
    message = check_error(raw.send("ValidateOp", op_name="softmax2", inputs={"x": tensor(X)},
                                   output=tensor(X)), "OpNotFound")
    assert "softmax2" in message
    check_error(raw.send("GetResult", seed=123456789), "NotFound")
    check_error(raw.send("GetResult", seed="not a seed"), "InvalidRequest")
    check_error(raw.send("NoSuchRequest"), "InvalidRequest")
    message = check_error(raw.send("Ping", protocol_version=2), "VersionMismatch")
    assert "restart the daemon" in message


@pytest.mark.parametrize("form", FORMS)
def test_shutdown_is_acknowledged_with_ok(daemon, form):
    raw = RawClient(daemon.socket, form)
    assert raw.send("Shutdown") == ("Ok", {})
    raw.close()
    daemon.proc.wait(timeout=60)
