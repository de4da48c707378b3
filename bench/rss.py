"""Daemon memory: resident set (VmRSS) idle and after work, and its peak (VmHWM) while a
64 MiB ValidateOp (256 MiB with --large) goes through, read from /proc/<pid>/status of a fresh daemon (so
that the peak is this request's, not an earlier benchmark's), for an op whose reference
runs in the input's dtype and, in another fresh daemon, one with the default float64
oracle. Warm workers are
separate processes and are not counted. Floor: a bare interpreter with the daemon's
third-party imports (numpy, msgspec) loaded.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from .project import Session, load_function, running_daemon, validate_call
from .report import Figure, Section, Target

MIB = 1 << 20
BARE = ("import numpy, msgspec, pathlib; print(next(int(l.split()[1]) * 1024 for l in"
        " pathlib.Path('/proc/self/status').read_text().splitlines() if l.startswith('VmRSS:')))")


def _over(op: str, big: np.ndarray, small: np.ndarray) -> tuple[int, int, int, int]:
    """A fresh daemon's RSS idle, after a small ValidateOp, its peak over a ValidateOp of
    ``big`` for ``op``, and its RSS after."""
    with running_daemon() as daemon, daemon.client() as client:
        client.ping()
        idle = daemon.memory("VmRSS")
        softmax = load_function(daemon.project / "scripts" / "softmax_ref.py", "reference")
        validate_call(client, "softmax", {"x": small}, softmax({"x": small}))()
        warmed = daemon.memory("VmRSS")
        validate_call(client, op, {"x": big}, np.maximum(big, 0))()
        return idle, warmed, daemon.memory("VmHWM"), daemon.memory("VmRSS")


def run(session: Session) -> Section:
    bare = int(subprocess.run([sys.executable, "-c", BARE], capture_output=True, text=True,
                              check=True).stdout)
    rng = np.random.default_rng(2)
    size = (256 if session.large else 64) * MIB
    small = rng.standard_normal((64, 64), dtype=np.float32)
    big = rng.standard_normal((size // 4 // 4096, 4096), dtype=np.float32)
    idle, warmed, peak, after = _over("relu", big, small)
    oracle_idle, _, oracle_peak, _ = _over("relu_oracle", big, small)
    mib = size // MIB

    def fig(key: str, label: str, value: float, **kw) -> Figure:
        return Figure(key, label, value, "B", 1, **kw)

    return Section("rss", "daemon memory (the daemon process only; workers not counted)", [
        fig("bare", "python with numpy and msgspec imported", bare),
        fig("idle", "daemon idle, after start and a Ping", idle, vs=("bare",),
            target=Target(80 * MIB, at_most=True)),
        fig("warmed", "daemon after a 64x64 softmax ValidateOp", warmed, vs=("idle",)),
        fig("peak", f"daemon peak (VmHWM) over a {mib} MiB ValidateOp", peak, vs=("idle",)),
        fig("after", f"daemon after the {mib} MiB ValidateOp", after, vs=("idle",)),
        Figure("peak_copies", f"peak above idle, in {mib} MiB tensors", (peak - idle) / size,
               "x", 1, target=Target(1.0, at_most=True)),
        Figure("oracle_peak_copies", f"the same with the float64 oracle (default), in {mib} MiB"
               " tensors", (oracle_peak - oracle_idle) / size, "x", 1,
               target=Target(1.0, at_most=True)),
    ])
