"""The wire codec: both JSON forms and msgpack, and one error type for every malformed message."""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest

from gpuemu.errors import ErrorCode, InvalidRequest, OpNotFound, error_from_code
from gpuemu.protocol import (
    PROTOCOL_VERSION, REQUEST_TYPES, RESPONSE_TYPES, Error, Form, FuzzOp, GetResult, Pong, RunCi,
    ValidateOp, ValidationResultResponse, decode_request, decode_response, encode_message,
    error_response, form_of, framing,
)
from gpuemu.tensor import from_numpy, to_numpy
from gpuemu.validate.result import ValidationResult

SPEC_REQUESTS = {
    "Ping", "Shutdown", "ValidateOp", "GetResult", "ListResults", "StoreBaseline",
    "CompareBaseline", "FuzzOp", "Reproduce", "Minimize", "ListFailures", "LintKernel",
    "StoreArtifact", "StoreArtifactBaseline", "DiffArtifactBaseline", "GetArtifact",
    "ListArtifacts", "RunCi", "GetCiSummary", "GetTestCase", "GetTestBatch", "SubmitOutput",
}
OUR_REQUESTS = {"FinishFuzzRun", "GetCoverage"}  # additions to the spec, each optional for a client


def test_every_request_type_of_the_spec_exists():
    assert {cls.__name__ for cls in REQUEST_TYPES} == SPEC_REQUESTS | OUR_REQUESTS
    assert PROTOCOL_VERSION == 1


def test_every_error_code_of_the_spec_maps_back_to_its_class():
    assert len(ErrorCode) == 12
    for code in ErrorCode:
        exc = error_from_code(code.value, "m")
        assert exc.code is code and str(exc) == "m"
    assert isinstance(error_from_code("OpNotFound", "x"), OpNotFound)
    assert error_from_code("Bogus", "x").code is ErrorCode.InternalError


@pytest.mark.parametrize("form", list(Form))
def test_request_round_trip_in_every_form(form):
    x = np.arange(12, dtype=np.float32).reshape(3, 4).T
    req = ValidateOp(op_name="softmax", inputs={"x": from_numpy(x)}, output=from_numpy(x),
                     kwargs={"axis": -1}, seed=2**64 - 1)
    decoded, got_form = decode_request(encode_message(req, form))
    assert got_form is form and decoded == req
    assert np.array_equal(to_numpy(decoded.inputs["x"]), x)


@pytest.mark.parametrize("form", list(Form))
def test_framing_is_told_from_the_first_byte_and_the_envelope_from_the_payload(form):
    data = encode_message(GetResult(seed=42), form)
    assert form_of(data) is form
    assert framing(data) is (Form.MSGPACK if form is Form.MSGPACK else Form.FLAT)
    assert framing(b"") is Form.FLAT and framing(b" \n{") is Form.FLAT  # nothing to parse yet


def test_envelope_and_flat_json_shapes():
    flat = json.loads(encode_message(GetResult(seed=42), Form.FLAT))
    assert flat == {"type": "GetResult", "seed": 42}
    env = json.loads(encode_message(GetResult(seed=42), Form.ENVELOPE))
    assert env == {"type": "GetResult", "payload": {"seed": 42}}


def test_seed_000_names_are_accepted():
    req, form = decode_request(json.dumps({"type": "FuzzOp", "payload": {
        "op_name": "relu", "iterations": 5, "seed": 9}, "protocol_version": 1}).encode())
    assert form is Form.ENVELOPE and req == FuzzOp(op_name="relu", iterations=5, seed=9,
                                                   protocol_version=1)
    ci, _ = decode_request(b'{"type": "RunCi", "parallel": 3, "format": "junit"}')
    assert isinstance(ci, RunCi) and ci.jobs == 3 and ci.format == "junit"


def test_u64_seeds_never_pass_through_a_float():
    big = 2**64 - 1
    req, _ = decode_request(f'{{"type": "GetResult", "seed": {big}}}'.encode())
    assert req.seed == big
    assert f'"seed":{big}'.encode() in encode_message(req)


@pytest.mark.parametrize("data, field, match", [
    (b"", None, "not valid JSON"),
    (b"{oops", None, "not valid JSON"),
    (b"[1, 2]", None, "Expected `object`"),
    (b'{"seed": 1}', "type", "type"),
    (b'{"type": "Nope"}', "type", "unknown request type 'Nope'; expected one of: Ping"),
    (b'{"type": "GetResult"}', "seed", "missing required field `seed`"),
    (b'{"type": "GetResult", "seed": -1.5}', "seed", "Expected `int`"),
    (b'{"type": "GetResult", "payload": {"seed": "x"}}', "payload.seed", "Expected `int`"),
    (b'{"type": "GetResult", "payload": 7}', "payload", "Expected `object`"),
    (b'{"type": "ListResults", "limt": 2}', "limt", "unknown field `limt`"),
    (b'{"type": "ValidateOp", "op_name": "a", "inputs": {}, "output": '
     b'{"shape": [1], "dtype": "float32", "data": "@@@"}}', "output.data", "base64"),
    (b"\x81\xa4type\xa4Nope", "type", "unknown request type"),
])
def test_malformed_messages_raise_invalid_request_naming_the_field(data, field, match):
    with pytest.raises(InvalidRequest, match=match) as info:
        decode_request(data)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("form", list(Form))
def test_responses_decode_in_every_form(form):
    result = ValidationResult(passed=False, op_name="relu", seed=3, max_diff=float("nan"))
    reply = decode_response(encode_message(ValidationResultResponse(result=result), form))
    assert isinstance(reply, ValidationResultResponse) and reply.result.op_name == "relu"
    pong = Pong(version="0.1.0", protocol_version=1, uptime_secs=2.5)
    assert decode_response(encode_message(pong, form)) == pong


def test_non_finite_numbers_are_json_null():
    result = ValidationResult(passed=False, op_name="x", max_diff=float("inf"),
                              max_rel_diff=float("nan"))
    text = encode_message(ValidationResultResponse(result=result)).decode()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["result"]["max_diff"] is None


def test_error_response_carries_code_and_field():
    err = error_response(InvalidRequest("bad", field="inputs.x.data"))
    assert err == Error(code="InvalidRequest", message="bad", field="inputs.x.data")
    assert isinstance(decode_response(msgspec.json.encode(err)), Error)


def test_every_response_type_has_a_unique_tag():
    tags = [msgspec.inspect.type_info(c).tag for c in RESPONSE_TYPES]
    assert len(tags) == len(set(tags))


def test_an_older_client_ignores_response_fields_a_newer_daemon_adds():
    reply = decode_response(b'{"type": "Pong", "version": "9.0", "protocol_version": 1,'
                               b' "uptime_secs": 1.0, "added_in_a_later_version": [1, 2]}')
    assert isinstance(reply, Pong) and reply.version == "9.0"
    with pytest.raises(InvalidRequest, match="unknown field `verson`"):  # requests stay strict
        decode_request(b'{"type": "Ping", "verson": 1}')


_SAMPLES = [
    {"type": "GetResult", "seed": 1, "op_name": "relu"},
    {"type": "StoreBaseline", "tag": "v1"},
    {"type": "FuzzOp", "op_name": "relu", "fuzz_config": {"dtypes": ["float32"],
                                                         "layouts": ["contiguous"]}},
    {"type": "ValidateOp", "op_name": "relu", "kwargs": {"mode": "fast"},
     "inputs": {"x": {"shape": [1], "dtype": "float32", "data": "AACAPw=="}},
     "output": {"shape": [1], "dtype": "float32", "data": "AACAPw=="}},
]


def _string_paths(value, path=()):
    """Every (path, is_key) of a string in a JSON document: the places a bad byte can go."""
    if isinstance(value, str):
        yield path, False
    elif isinstance(value, dict):
        for key, item in value.items():
            yield path + (key,), True
            yield from _string_paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _string_paths(item, path + (i,))


def _with_bad_byte(doc, path, is_key):
    """``doc`` as JSON bytes whose string at ``path`` (a key, or a value) holds 0xFF."""
    marker = "\u2603MARK\u2603"
    doc = json.loads(json.dumps(doc))
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if is_key:
        parent[marker + path[-1]] = parent.pop(path[-1])
    else:
        parent[path[-1]] = marker + parent[path[-1]]
    return json.dumps(doc, ensure_ascii=False).encode().replace(marker.encode(), b"\xff")


@pytest.mark.parametrize("envelope", [False, True], ids=["flat", "envelope"])
@pytest.mark.parametrize("sample", _SAMPLES, ids=[s["type"] for s in _SAMPLES])
def test_invalid_utf8_anywhere_is_an_invalid_request_naming_its_field(sample, envelope):
    doc = sample
    if envelope:
        doc = {"type": sample["type"], "payload": {k: v for k, v in sample.items() if k != "type"}}
    decode_request(json.dumps(doc).encode())  # the sample itself is valid
    for path, is_key in _string_paths(doc):
        data = _with_bad_byte(doc, path, is_key)
        with pytest.raises(InvalidRequest, match="not valid UTF-8") as info:
            decode_request(data)
        named = [*map(str, path[:-1]), ("\ufffd" if is_key else "") + str(path[-1])]
        assert info.value.field == ".".join(named), (path, is_key, data)
