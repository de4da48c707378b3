"""ValidateOp round trip for a 64x64 float32 softmax.

Floor: the same reference function and ``validate_output`` called in this process.
Above it: the daemon through the Client in msgpack (the default) and in flat JSON,
and a Ping for the bare transport. Far above: spawning ``python REFERENCE`` per call,
which is what a daemon without warm workers would pay.
"""

from __future__ import annotations

import subprocess
import sys

import msgspec
import numpy as np

from gpuemu.engine.executor import parse_stdout
from gpuemu.protocol import Form
from gpuemu.script import Request
from gpuemu.tensor import from_numpy, to_numpy

from .project import Session, compare, load_function, validate_call
from .report import Figure, Section, Target
from .timing import interleave

SHAPE = (64, 64)


def run(session: Session) -> Section:
    daemon = session.daemon
    script = daemon.project / "scripts" / "softmax_ref.py"
    reference = load_function(script, "reference")
    x = np.random.default_rng(0).standard_normal(SHAPE, dtype=np.float32)
    actual = reference({"x": x})
    request = msgspec.json.encode(Request(inputs={"x": from_numpy(x)}))

    def in_process() -> None:
        compare("softmax", actual, reference({"x": x}))

    def spawned() -> None:
        out = subprocess.run([sys.executable, str(script)], input=request, capture_output=True,
                             check=True, cwd=daemon.project).stdout
        compare("softmax", actual, to_numpy(parse_stdout(out)["output"]))

    with daemon.client(Form.MSGPACK) as packed, daemon.client(Form.FLAT) as flat:
        t = interleave({"in_process": in_process, "ping": packed.ping,
                        "daemon_msgpack": validate_call(packed, "softmax", {"x": x}, actual),
                        "daemon_json": validate_call(flat, "softmax", {"x": x}, actual)},
                       reps=session.reps(1000, 30), block=10, warmup=10)
    t |= interleave({"spawn": spawned}, reps=session.reps(5, 2), warmup=0)
    return Section("roundtrip", "ValidateOp round trip, 64x64 float32 softmax", [
        Figure.time("in_process", "in-process: reference + validate_output", t["in_process"]),
        Figure.time("ping", "daemon Ping round trip (transport only)", t["ping"],
                    vs=("in_process",)),
        Figure.time("daemon_msgpack", "daemon ValidateOp, msgpack (default)",
                    t["daemon_msgpack"], vs=("in_process",),
                    target=Target(10, at_most=True, on_ratio=True)),
        Figure.time("daemon_json", "daemon ValidateOp, JSON", t["daemon_json"],
                    vs=("in_process", "daemon_msgpack")),
        Figure.time("spawn", "spawn `python reference.py` per call", t["spawn"],
                    vs=("daemon_msgpack", "in_process"),
                    target=Target(200, at_most=False, on_ratio=True)),
    ])
