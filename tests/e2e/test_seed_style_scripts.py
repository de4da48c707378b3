"""Scripts written as the specification shows them (JSON on stdin, JSON on stdout, base64
by hand, no function to call) fuzzed through a real daemon: each case is a fork of a
preloaded server, so a 100-iteration FuzzOp from a default ``Client()`` (30 s timeout)
finishes in time even on a busy 2-core machine, where a Python start-up per script and
case (~3 cases/s) did not."""

from __future__ import annotations

import pytest

from gpuemu.client import Client

from ..conftest import write

pytestmark = pytest.mark.e2e

CODEC = """
import base64, json, sys
import numpy as np

def decode_tensor(encoded):
    data = base64.b64decode(encoded["data"])
    return np.frombuffer(data, dtype=np.dtype(encoded["dtype"])).reshape(encoded["shape"])

def encode_tensor(arr):
    return {"data": base64.b64encode(arr.tobytes()).decode("ascii"),
            "dtype": str(arr.dtype), "shape": list(arr.shape)}
"""
REFERENCE = CODEC + """
request = json.loads(sys.stdin.read())
x = decode_tensor(request["inputs"]["x"])
e = np.exp(x - x.max(axis=-1, keepdims=True))
json.dump({"outputs": {"result": encode_tensor(e / e.sum(axis=-1, keepdims=True))}}, sys.stdout)
"""
OP = CODEC + """
if __name__ == "__main__":
    payload = json.load(sys.stdin)
    inputs = {name: decode_tensor(t) for name, t in payload["inputs"].items()}
    x = inputs["x"]
    e_x = np.exp(x - np.max(x, axis=-1, keepdims=True))
    json.dump(encode_tensor(e_x / e_x.sum(axis=-1, keepdims=True){bug}), sys.stdout)
"""
OP_ENTRY = """
[[ops]]
name = "{name}"
reference = "scripts/ref_softmax.py"
op_script = "scripts/{name}.py"
input_names = ["x"]
execution_mode = "script_based"

[ops.fuzz]
edge_case_prob = 0.0
"""


@pytest.fixture
def project(short_tmp):
    write(short_tmp / "scripts" / "ref_softmax.py", REFERENCE)
    write(short_tmp / "scripts" / "run_softmax.py", OP.replace("{bug}", ""))
    write(short_tmp / "scripts" / "buggy_softmax.py", OP.replace("{bug}", " * 1.01"))
    ops = "".join(OP_ENTRY.format(name=n) for n in ("run_softmax", "buggy_softmax"))
    return write(short_tmp / "gpuemu.toml", '[project]\nname = "seed-style"\n' + ops)


def test_a_hundred_cases_of_seed_style_scripts_within_the_default_client_timeout(make_daemon,
                                                                                 project):
    make_daemon(project)
    with Client() as client:  # default timeout_ms: 30000
        run = client.fuzz_op("run_softmax", iterations=100, seed=42)
        buggy = client.fuzz_op("buggy_softmax", iterations=3, seed=42)
    assert (run.iterations, run.failed) == (100, 0), run.failures[:1]
    assert buggy.failed == 3  # the cases are really checked
