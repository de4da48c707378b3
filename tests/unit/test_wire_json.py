"""gpuemu.protocol.wire_json: what JSON replies add for the seeds' readers, and what msgpack keeps."""

from __future__ import annotations

import json

import msgspec
import numpy as np

from gpuemu import protocol  # TestCase/TestBatch by module: pytest would collect the classes
from gpuemu.protocol import Form, FuzzResults, Results, ValidationResultResponse, encode_message
from gpuemu.tensor import from_numpy
from gpuemu.validate import FailureReason, ValidationResult
from gpuemu.protocol.wire_json import RESULT_DEFAULTS, encode_reply

PASSED = ValidationResult(passed=True, op_name="relu")  # every seed-000 key at its default
FAILED = ValidationResult(passed=False, op_name="relu", seed=9, max_diff=float("nan"),
                          failures=[FailureReason(kind="NaNDetected", message="1 NaN")])
SEED_KEYS = {"passed", "op_name", "timestamp", *RESULT_DEFAULTS}


def reply(message, form: Form) -> dict:
    return json.loads(encode_reply(message, form))


def test_results_have_every_key_of_seed_000_even_at_their_defaults():
    flat = reply(Results(results=[PASSED, FAILED]), Form.FLAT)
    assert flat["type"] == "Results"
    for result in flat["results"]:
        assert set(result) >= SEED_KEYS
    assert flat["results"][0]["failures"] == [] and flat["results"][0]["repro_info"] is None
    assert flat["results"][1]["max_diff"] is None  # NaN is null, never an invalid token


def test_the_envelope_payload_of_a_validation_result_is_the_result_and_holds_it():
    flat = reply(ValidationResultResponse(result=FAILED), Form.FLAT)
    assert set(flat) == {"type", "result"} and flat["result"]["seed"] == 9
    env = reply(ValidationResultResponse(result=FAILED), Form.ENVELOPE)
    assert env["type"] == "ValidationResult" and set(env) == {"type", "payload"}
    assert env["payload"]["seed"] == 9 and env["payload"]["result"]["seed"] == 9
    assert env["payload"]["failures"][0] == {"kind": "NaNDetected", "message": "1 NaN"}


def test_fuzz_results_carry_total_and_their_failures_list():
    run = FuzzResults(op_name="relu", seed=1, iterations=3, passed=3, failed=0)
    body = reply(run, Form.FLAT)
    assert (body["total"], body["failures"]) == (3, [])
    assert "total" not in msgspec.msgpack.decode(encode_reply(run, Form.MSGPACK))


def test_test_cases_are_plain_in_json_and_views_in_msgpack():
    x = np.arange(12, dtype=np.float32).reshape(3, 4).T
    case = protocol.TestCase(op_name="relu", seed=5, inputs={"x": from_numpy(x)}, dtype="Float32")
    batch = protocol.TestBatch(cases=[case])
    env = reply(batch, Form.ENVELOPE)["payload"]
    assert env["test_cases"] == env["cases"]
    flat = reply(batch, Form.FLAT)
    assert "test_cases" not in flat
    (sent,) = flat["cases"]
    assert sent["dtype"] == "float32" and sent["inputs"]["x"]["dtype"] == "float32"
    got = np.frombuffer(msgspec.json.decode(json.dumps(sent["inputs"]["x"]["data"]), type=bytes),
                        np.dtype(sent["inputs"]["x"]["dtype"])).reshape(sent["inputs"]["x"]["shape"])
    np.testing.assert_array_equal(got, x)
    assert encode_reply(batch, Form.MSGPACK) == encode_message(batch, Form.MSGPACK)
