"""What the conformance tests share: a raw JSON client in either form of seed 000, tensors
encoded as the seeds' programs encode them, and scripts written the way the seeds' scripts
are (all in our own words: the seeds describe the interface, these exercise it)."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pynng

from gpuemu import paths

FORMS = ("flat", "envelope")


class RawClient:
    """JSON over NNG REQ, as a client that knows only the seeds would write it."""

    def __init__(self, socket: Path, form: str, timeout_ms: int = 120_000):
        self.form = form
        self.sock = pynng.Req0(dial=paths.socket_url(socket), block_on_dial=True,
                               recv_timeout=timeout_ms, send_timeout=timeout_ms, resend_time=-1)

    def send(self, kind: str, **fields) -> tuple[str, dict]:
        """``(reply type, reply fields)`` for a request of ``kind``, in this client's form."""
        if self.form == "envelope":
            message = {"type": kind, "payload": fields}
        else:
            message = {"type": kind, **fields}
        self.sock.send(json.dumps(message).encode())
        reply = json.loads(self.sock.recv())
        kind = reply.pop("type")
        if self.form == "envelope":
            assert set(reply) == {"payload"}, reply
            return kind, reply["payload"]
        return kind, reply

    def close(self) -> None:
        self.sock.close()


def tensor(arr: np.ndarray, *, dtype: str | None = None, byte_strides: bool = False,
           strides: bool = True) -> dict:
    """A TensorData dict: C-order bytes; element strides (seed 000) or numpy's byte strides
    (the original Python client); ``dtype`` spelled as given (default numpy's name)."""
    out = {"shape": list(arr.shape), "dtype": dtype or str(arr.dtype),
           "data": base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode()}
    if strides:
        out["strides"] = (list(arr.strides) if byte_strides
                          else [s // arr.itemsize for s in np.ascontiguousarray(arr).strides])
    return out


def array(t: dict) -> np.ndarray:
    """A tensor as the seeds' programs read one: ``np.dtype(dtype)``, frombuffer, reshape."""
    data = base64.b64decode(t["data"])
    assert len(data) == math.prod(t["shape"]) * np.dtype(t["dtype"]).itemsize, t["shape"]
    return np.frombuffer(data, dtype=np.dtype(t["dtype"])).reshape(t["shape"])


# Scripts in the seeds' style: JSON in on stdin, one tensor out on stdout, decoded with
# np.dtype(t["dtype"]) and frombuffer().reshape(), written without strides. {BODY} turns the
# dict `xs` of input arrays into `y`; {WRAP} shapes the reply.
SCRIPT = '''
import base64, json, sys
import numpy as np

def as_array(t):
    raw = base64.b64decode(t["data"])
    return np.frombuffer(raw, dtype=np.dtype(t["dtype"])).reshape(t["shape"])

def as_tensor(a):
    return {{"shape": list(a.shape), "dtype": str(a.dtype),
             "data": base64.b64encode(a.tobytes()).decode("ascii")}}

{MAIN}
'''
TOP_LEVEL = '''
message = json.loads(sys.stdin.read())
xs = {{name: as_array(t) for name, t in message["inputs"].items()}}
{BODY}
json.dump({WRAP}, sys.stdout)
'''
GUARDED = '''
if __name__ == "__main__":
    message = json.load(sys.stdin)
    xs = {{name: as_array(t) for name, t in message["inputs"].items()}}
    {BODY}
    json.dump({WRAP}, sys.stdout)
'''
WRAPS = {"bare": "as_tensor(y)", "outputs": '{"outputs": {"result": as_tensor(y)}}',
         "output": '{"output": as_tensor(y)}'}


def seed_style_script(body: str, wrap: str = "bare", guarded: bool = False) -> str:
    """A script as seeds 003 (top level) and 004 (``__main__`` guard) write them."""
    main = (GUARDED if guarded else TOP_LEVEL).format(BODY=body, WRAP=WRAPS[wrap])
    return SCRIPT.format(MAIN=main)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
