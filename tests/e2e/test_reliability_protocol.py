"""Bad input thrown at a real daemon over raw NNG: every message is answered, malformed
ones with an Error, and the daemon keeps answering Ping after each.

Hypothesis draws four kinds of message: random bytes, random JSON documents, valid
requests mutated at a random place (in all three forms: flat JSON, envelope JSON,
msgpack), and ValidateOps whose TensorData lies (shape x itemsize != bytes, huge shapes,
bad strides and offsets). Runs are derandomized (the same messages every run) unless
GPUEMU_SOAK=1, which also raises the count.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import msgspec
import numpy as np
import pynng
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gpuemu import paths
from gpuemu.client import ClientError, ConnectionError
from gpuemu.dtypes import DType
from gpuemu.protocol import REQUESTS, RESPONSES
from gpuemu.tensor import c_strides, from_numpy, numpy_bytes, span

from .reliability_support import (
    DOUBLE, DOUBLE_OP, SOAK, daemon_for, decode, ping, project_dir, request, running, scaled,
)

pytestmark = pytest.mark.e2e

MAX_MESSAGE_BYTES = 1 << 20
CONFIG = f"""
[project]
name = "protocol-fuzz"

[daemon]
max_message_bytes = {MAX_MESSAGE_BYTES}
{DOUBLE_OP}[ops.schema]
dims = {{ n = [1, 3] }}
inputs = {{ x = ["n"] }}
"""
TALLY: Counter[str] = Counter()  # reply kinds of every message sent but the Ping probes
PROBE = b'{"type":"Ping"}'


@pytest.fixture(scope="module")
def daemon():
    with project_dir("protocol", {"gpuemu.toml": CONFIG, "refs/double.py": DOUBLE}) as root:
        with running(daemon_for(root)) as d:
            yield d


@pytest.fixture(scope="module")
def send(daemon):
    """Send on one REQ socket (as a long-lived client would) and decode the reply."""
    sock = pynng.Req0(dial=paths.socket_url(daemon.socket), block_on_dial=True,
                      recv_timeout=30_000, send_timeout=30_000, resend_time=-1)

    def send(data: bytes) -> dict:
        sock.send(data)
        reply = decode(sock.recv())
        if data != PROBE:
            TALLY[f"{reply['type']} {reply.get('code', '')}".strip()] += 1
        return reply

    yield send
    sock.close()


# -- strategies ----------------------------------------------------------------------------

X = np.arange(6, dtype=np.float32).reshape(2, 3)
TD = msgspec.to_builtins(from_numpy(X))  # JSON form: data as base64 text
VALID = [
    {"type": "Ping"},
    {"type": "ValidateOp", "op_name": "double", "inputs": {"x": TD},
     "output": msgspec.to_builtins(from_numpy(2 * X)), "kwargs": {"k": [1, {"a": None}]},
     "seed": 5},
    {"type": "GetResult", "seed": 5, "op_name": "double"},
    {"type": "ListResults", "limit": 3, "op_name": "double"},
    {"type": "ListFailures", "limit": 3},
    {"type": "StoreBaseline", "tag": "fuzz"},
    {"type": "CompareBaseline", "tag": "fuzz", "fail_on_regression": True},
    {"type": "GetTestCase", "op_name": "double", "seed": 3, "fuzz_config": {"dtypes": ["float32"]}},
    {"type": "GetTestBatch", "op_name": "double", "seed": 3, "count": 2,
     "fuzz_config": {"op_schema": {"dims": {"n": [2]}, "inputs": {"x": ["n"]}}}},
    {"type": "SubmitOutput", "op_name": "double", "seed": 3, "output": TD},
    {"type": "Reproduce", "seed": 5, "op_name": "double"},
    {"type": "Minimize", "seed": 5, "op_name": "double", "max_iters": 2},
    {"type": "FuzzOp", "op_name": "double", "iterations": 2, "seed": 1},
    {"type": "LintKernel", "kernel_name": "k", "ptx_content": ".version 8.0\n.target sm_80\n"},
    {"type": "ListArtifacts", "limit": 2},
    {"type": "GetCiSummary"},
]
# Shutdown would end the run, RunCi runs every op's whole CI: neither is a parsing matter.
TYPES = sorted(set(REQUESTS) - {"Shutdown", "RunCi"})
EDGE_INTS = [0, 1, -1, 2**31, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63)]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(EDGE_INTS),
                    st.floats(), st.text(max_size=16))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=16)


def encode(msg, form: str) -> bytes:
    if form == "msgpack":
        try:
            return msgspec.msgpack.encode(msg)
        except OverflowError:  # msgpack has no integers beyond 64 bits: JSON does
            form = "flat"
    if form == "envelope" and isinstance(msg, dict) and "type" in msg:
        body = {k: v for k, v in msg.items() if k != "type"}
        return json.dumps({"type": msg["type"], "payload": body}).encode()
    return json.dumps(msg).encode()


def raw_tensors(msg: dict) -> dict:
    """``msg`` with base64 tensor data as bytes, the msgpack form's spelling."""
    out = copy.deepcopy(msg)
    for td in (*out["inputs"].values(), out["output"]):
        td["data"] = base64.b64decode(td["data"])
    return out


def places(value, at=()):
    yield at
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(
        value, list) else ()
    for key, child in children:
        yield from places(child, (*at, key))


@st.composite
def mutated(draw):
    """A valid request changed at 1-3 random places: replaced, deleted or added to."""
    msg = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        where = [p for p in places(msg) if p and p != ("type",)]
        if not where:
            break
        at = draw(st.sampled_from(where))
        parent = msg
        for key in at[:-1]:
            parent = parent[key]
        how = draw(st.sampled_from(["replace", "delete", "add"]))
        if how == "replace":
            parent[at[-1]] = draw(json_values)
        elif how == "delete":
            del parent[at[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
        else:
            parent.append(draw(json_values))
    return encode(msg, draw(st.sampled_from(["flat", "envelope", "msgpack"]))), False


@st.composite
def lying_tensor(draw):
    """A ValidateOp whose inputs.x or output cannot be a tensor of what it claims."""
    dtype = draw(st.sampled_from(list(DType)))
    shape = draw(st.lists(st.integers(0, 8) | st.sampled_from([2**31, 2**40, 2**62 - 1]),
                          max_size=5))
    strides = draw(st.none() | st.lists(st.integers(-4, 64) | st.sampled_from([2**40, 2**61]),
                                        min_size=len(shape), max_size=len(shape) + 1))
    offset = draw(st.sampled_from([0, 0, 1, 7, 2**40]))
    data = draw(st.binary(max_size=256))
    if strides is None or (len(strides) == len(shape) and min(strides, default=0) >= 0):
        honest = offset + span(shape, strides or c_strides(shape))
        item = DType.parse(dtype).itemsize
        assume(len(data) != honest * item)  # else it may be valid
        # numpy byte strides of C-order bytes (the original client's) are valid too
        assume(strides is None or offset or not numpy_bytes(shape, strides, item, len(data)))
    td = {"shape": shape, "dtype": dtype.value, "data": data, "offset": offset}
    if strides is not None:
        td["strides"] = strides
    where = draw(st.sampled_from(["inputs", "output"]))
    form = draw(st.sampled_from(["flat", "msgpack"]))
    if form == "flat":
        td["data"] = base64.b64encode(data).decode()
    msg = raw_tensors(VALID[1]) if form == "msgpack" else copy.deepcopy(VALID[1])
    if where == "inputs":
        msg["inputs"]["x"] = td
    else:
        msg["output"] = td
    return encode(msg, form), True


random_documents = st.builds(
    lambda kind, fields, form: (encode({"type": kind, **fields}, form), kind not in REQUESTS),
    st.sampled_from(TYPES) | st.text(max_size=12),
    st.dictionaries(st.sampled_from(["op_name", "inputs", "output", "seed", "limit", "tag",
                                     "kwargs", "fuzz_config", "count", "payload", "x"]),
                    json_values, max_size=4),
    st.sampled_from(["flat", "envelope", "msgpack"]))


def is_a_map(data: bytes) -> bool:
    """Whether random bytes happen to be a JSON object or msgpack map (Hypothesis does find
    b'{"type":"Ping"}'); only those may be valid requests."""
    for codec in (msgspec.json, msgspec.msgpack):
        try:
            return isinstance(codec.decode(data), dict)
        except (ValueError, RecursionError):  # msgspec raises UnicodeDecodeError too
            continue
    return False


messages = st.one_of(
    st.binary(min_size=1, max_size=512).map(lambda b: (b, not is_a_map(b))),
    json_values.map(lambda v: (json.dumps(v).encode(), not isinstance(v, dict))),
    random_documents, mutated(), lying_tensor(),
)


# -- tests ---------------------------------------------------------------------------------

def check_reply(reply: dict, must_fail: bool) -> None:
    assert reply["type"] in RESPONSES
    if must_fail:
        assert reply["type"] == "Error", reply
    assert reply.get("code") != "InternalError", f"a request broke a handler: {reply['message']}"


@settings(max_examples=scaled(700, 20_000), deadline=None, derandomize=not SOAK, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(message=messages)
def test_every_message_is_answered_and_the_daemon_keeps_answering_ping(send, message):
    data, must_fail = message
    check_reply(send(data), must_fail)
    assert send(PROBE)["type"] == "Pong"


def lie(field: str, shape, data: str = "AAAAAA==", **more) -> tuple[dict, str]:
    return {"shape": shape, "dtype": "float32", "data": data, **more}, field


LIES = [
    lie("inputs.x.data", [4], "AAAA"),
    lie("inputs.x.data", [2**61, 2**61], ""),
    lie("inputs.x.shape", [2**63], ""),
    lie("inputs.x.shape", [0, 2**61], ""),
    lie("inputs.x.shape", [1] * 65),
    lie("inputs.x.shape", "many"),
    lie("inputs.x.strides", [2, 2], "A" * 24, strides=[1, 1]),
    lie("inputs.x.strides", [2], "A" * 12, strides=[-1]),
    lie("inputs.x.strides", [2], "A" * 12, strides=[1, 1]),
    lie("inputs.x.offset", [1], offset=-1),
    lie("inputs.x.offset", [1], offset=2**62),
    lie("inputs.x.dtype", [1], dtype=["float32"]),
    lie("inputs.x.data", [1], "not base64!"),
]


def test_lying_tensors_name_the_field(send):
    """Beside the fuzzing: each lie names the field it is in."""
    for td, field in LIES:
        reply = send(json.dumps({**VALID[1], "inputs": {"x": td}}).encode())
        assert (reply["type"], reply.get("code")) == ("Error", "InvalidRequest"), (td, reply)
        # msgspec names a dict's key `[...]` when the JSON itself is mistyped
        named = reply.get("field", "").replace("inputs[...]", "inputs.x")
        assert named == field, (td, reply)
        assert field.split(".")[-1] in reply["message"]


@pytest.mark.parametrize("depth", [50, 500])
def test_moderately_nested_kwargs_reach_the_reference(send, depth):
    kwargs = {"deep": json.loads("[" * depth + "]" * depth)}
    for data in (json.dumps({**VALID[1], "kwargs": kwargs}).encode(),
                 encode({**raw_tensors(VALID[1]), "kwargs": kwargs}, "msgpack")):
        assert send(data)["type"] == "ValidationResult"


@pytest.mark.parametrize("depth", [2_000, 200_000])
def test_deeply_nested_requests_are_invalid_requests(send, depth):
    nested = b"[" * depth + b"]" * depth
    for data in (b'{"type":"ValidateOp","kwargs":{"a":' + nested + b"}}",
                 b"\x82\xa4type\xaaValidateOp\xa6kwargs\x81\xa1a" + b"\x91" * depth + b"\x90"):
        reply = send(data)
        assert (reply["type"], reply.get("code")) == ("Error", "InvalidRequest"), reply
        assert "nest" in reply["message"]


@pytest.mark.parametrize("data", [b'{"type":"\x80"}', b"\x81\xa4type\xa1\xff",
                                  b'{"type":"GetResult","seed":1,"op_name":"\xff"}'])
def test_invalid_utf8_is_an_invalid_request(send, data):
    reply = send(data)
    assert (reply["type"], reply.get("code")) == ("Error", "InvalidRequest"), reply
    assert "UTF-8" in reply["message"]


@pytest.mark.parametrize("kind", ["ListResults", "ListFailures"])
def test_a_limit_beyond_int64_is_an_invalid_request(send, kind):
    reply = send(json.dumps({"type": kind, "limit": 2**63}).encode())
    assert (reply["type"], reply.get("code"), reply.get("field")) == ("Error", "InvalidRequest",
                                                                      "limit")


@pytest.mark.parametrize("schema", [
    {"inputs": {"x": [2**63]}},
    {"dims": {"n": [10**7]}, "inputs": {"x": ["n", "n"]}},
])
def test_fuzz_schema_sizes_are_bounded(send, schema):
    reply = send(json.dumps({"type": "GetTestBatch", "op_name": "double", "seed": 1, "count": 1,
                             "fuzz_config": {"op_schema": schema}}).encode())
    assert (reply["type"], reply.get("code")) == ("Error", "InvalidRequest"), reply
    assert reply["field"].startswith("fuzz_config.op_schema")


@pytest.mark.parametrize("form", ["flat", "msgpack"])
def test_a_request_over_max_message_bytes_is_answered_with_the_limit(daemon, send, form):
    msg = {"type": "Ping", "pad": "x" * MAX_MESSAGE_BYTES}
    reply = decode(request(daemon.socket, encode(msg, form)))
    TALLY["oversized, answered"] += 1
    assert (reply["type"], reply["code"]) == ("Error", "InvalidRequest")
    said = re.search(r"the request is (\d+) bytes, over this daemon's max_message_bytes of"
                     rf" {MAX_MESSAGE_BYTES}; .* raise max_message_bytes", reply["message"])
    assert said and int(said[1]) > MAX_MESSAGE_BYTES
    assert send(PROBE)["type"] == "Pong"


def test_a_request_beyond_twice_the_limit_is_dropped_and_the_client_told(daemon, monkeypatch):
    """The daemon closes the connection after reading the length of a message over
    2 x max_message_bytes, before buffering it (as NNG's recv_max_size does): no reply
    is possible.
    (Tensors inline: through shared memory, gpuemu.shm, these would fit.)"""
    monkeypatch.setenv("GPUEMU_SHM", "0")
    big = np.zeros(2 * MAX_MESSAGE_BYTES // 4 + 16, np.float32)
    with daemon.client(timeout_ms=5_000) as c:
        with pytest.raises(ConnectionError, match="lost the connection"):
            c.validate_op("double", {"x": big}, big)
        TALLY["oversized, dropped"] += 1
        assert c.ping().protocol_version == 1  # the same client carries on
        small = big[: MAX_MESSAGE_BYTES // 8]
        with pytest.raises(ClientError, match="max_message_bytes"):
            c.validate_op("double", {"x": small}, small)  # 2 x 512 KiB of tensors: over 1 MiB
    with pytest.raises(pynng.Timeout):  # a plain REQ socket re-sends, then times out
        request(daemon.socket, b'{"type":"Ping","pad":"' + b"x" * 2 * MAX_MESSAGE_BYTES + b'"}',
                timeout_ms=1_000)
    assert ping(daemon.socket)


def test_atheris_coverage_guided_fuzzing_of_the_request_path(tmp_path):
    """Runs tests/e2e/atheris_protocol.py when atheris is installed (pip install atheris)."""
    pytest.importorskip("atheris")
    runs = scaled(3_000, 300_000)
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("atheris_protocol.py")),
                           str(tmp_path / "corpus"), f"-runs={runs}"],
                          capture_output=True, text=True, timeout=scaled(110, 3_000))
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"Done {runs} runs" in proc.stderr
    TALLY["atheris inputs (in-process)"] += runs


def test_the_daemon_survived_it_all(daemon):
    """Runs last: the same process answered everything above."""
    assert daemon.proc.poll() is None and ping(daemon.socket)
    print(f"\nprotocol fuzzing: {sum(TALLY.values())} messages, replies {dict(TALLY)}")
