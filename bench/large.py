"""Large-tensor validation: a float32 relu of 64 MiB (and 256 MiB with --large).

A ValidateOp sends the input and the output to the daemon, which runs the reference
in a warm worker and compares. Floors: memcpy of the output (np.copyto), the
in-process compare (``validate_output`` alone; with the vacuity guard, whose cost
is shown against it), the in-process reference + compare,
the same with the reference run by an Executor's warm worker in this process (the
worker hop without the daemon: this process publishes a shared-memory directory as a
daemon does), the wire codec alone (from_numpy, encode, decode,
to_numpy of both tensors), which shows what base64 JSON costs next to raw msgpack,
and the request's msgpack bytes sent over NNG ipc to an echo thread (the transport
alone). The daemon is timed with its default transport, where large tensors travel
through shared memory (gpuemu.shm), and with the client sending them inline
(GPUEMU_SHM=0 in this process: the before, as far as one process can show it; the
daemon still hands them to its worker through shared memory). The op runs its reference
in the input's dtype (``oracle = "native"``), as the floors do; one more row shows the
default float64 oracle (the reference on a float64 copy: twice the bytes to move and
compute). Rates are output bytes per second. Each variant's repetitions run back to
back, as a loop validating one output after another would (a warm worker keeps its heap
and its input mappings only while calls keep coming: engine.heap, shm_maps).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pynng

from gpuemu import shm
from gpuemu.engine.executor import Executor
from gpuemu.protocol import Form, ValidateOp, decode_request, encode_message
from gpuemu.tensor import from_numpy, to_numpy
from gpuemu.validate import validate_output

from .project import Session, compare, load_function, must_pass, validate_call
from .report import Figure, Section, Target
from .timing import Timing, interleave

MIB = 1 << 20
ROW = 4096


def _codec(x: np.ndarray, out: np.ndarray, form: Form):
    def call() -> None:
        req = ValidateOp(op_name="relu", inputs={"x": from_numpy(x)}, output=from_numpy(out))
        decoded, _ = decode_request(encode_message(req, form))
        to_numpy(decoded.inputs["x"]), to_numpy(decoded.output)
    return call


def _inline(call: Callable[[], None]) -> Callable[[], None]:
    """``call`` with this process's tensors sent inline, not through shared memory."""
    def inline() -> None:
        os.environ["GPUEMU_SHM"] = "0"
        try:
            call()
        finally:
            del os.environ["GPUEMU_SHM"]
    return inline


@contextmanager
def _nng_echo(socket: Path, payload: bytes) -> Iterator[Callable[[], None]]:
    """A call that sends ``payload`` over NNG ipc to a thread that answers b"ok" unread."""
    url = f"ipc://{socket}"
    with pynng.Rep0(listen=url, recv_max_size=0) as rep, \
            pynng.Req0(dial=url, block_on_dial=True, recv_max_size=0) as req:
        def serve() -> None:
            try:
                while True:
                    rep.recv()
                    rep.send(b"ok")
            except pynng.exceptions.Closed:
                return

        server = threading.Thread(target=serve, daemon=True)
        server.start()

        def call() -> None:
            req.send(payload)
            req.recv()

        yield call
    server.join(timeout=5)


@contextmanager
def _published(socket: Path) -> Iterator[None]:
    """This process with a shared-memory directory of its own, as a daemon has, so that
    its Executor's worker gets and returns large tensors as the daemon's does."""
    shm.publish(socket)
    try:
        yield
    finally:
        shm.withdraw(socket)


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by this process and ``pids`` (Linux /proc)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return time.process_time() + ticks / os.sysconf("SC_CLK_TCK")


def _with_children(pid: int) -> list[int]:
    """``pid`` and its child processes (the daemon and its warm workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue  # a thread that ended while we looked
    return found


def _cpu_per_call(call: Callable[[], None], pids: list[int], reps: int) -> Timing:
    """CPU seconds a call costs in this process and ``pids`` together: unlike the wall
    time, this does not grow with the machine's load (on a shared machine each of the
    three processes of a ValidateOp waits for a time slice at every hand-over)."""
    started = _cpu_seconds(pids)
    for _ in range(reps):
        call()
    each = (_cpu_seconds(pids) - started) / reps
    return Timing(each, each, each, reps)


def _figures(session: Session, size: int) -> list[Figure]:
    daemon = session.daemon
    script = daemon.project / "scripts" / "relu_ref.py"
    reference = load_function(script, "reference")
    x = np.random.default_rng(1).standard_normal((size // 4 // ROW, ROW), dtype=np.float32)
    out, expected, scratch = reference({"x": x}), reference({"x": x}), np.empty_like(x)
    wire = encode_message(ValidateOp(op_name="relu", inputs={"x": from_numpy(x)},
                                     output=from_numpy(out)), Form.MSGPACK)
    with (daemon.client(Form.MSGPACK) as packed, daemon.client(Form.FLAT) as flat,
          _published(daemon.root / "bench.sock"),
          Executor(max_workers_per_script=1) as executor,
          _nng_echo(daemon.root / "echo.sock", wire) as nng):
        def worker_compare() -> None:
            got = executor.run_script(script, {"x": x}, timeout_s=600, cwd=daemon.project)
            compare("relu", out, got["output"])

        t = interleave({
            "memcpy": lambda: np.copyto(scratch, out),
            "compare": lambda: compare("relu", out, expected),
            "guard": lambda: must_pass(validate_output(out, expected, op_name="relu",
                                                       inputs={"x": x}, vacuous="warn")),
            "ref_compare": lambda: compare("relu", out, reference({"x": x})),
            "worker_compare": worker_compare,
            "codec_msgpack": _codec(x, out, Form.MSGPACK),
            "codec_json": _codec(x, out, Form.FLAT),
            "nng": nng,
            "daemon_shm": validate_call(packed, "relu", {"x": x}, out),
            "daemon_oracle": validate_call(packed, "relu_oracle", {"x": x}, out),
            "daemon_msgpack": _inline(validate_call(packed, "relu", {"x": x}, out)),
            "daemon_json": _inline(validate_call(flat, "relu", {"x": x}, out)),
        }, reps=(reps := session.reps(3, 1)), block=reps, warmup=1)
        cpu_reps = reps
        t["cpu_ref_compare"] = _cpu_per_call(
            lambda: compare("relu", out, reference({"x": x})), [], cpu_reps)
        t["cpu_daemon_shm"] = _cpu_per_call(validate_call(packed, "relu", {"x": x}, out),
                                            _with_children(daemon.proc.pid), cpu_reps)
    mib = size // MIB

    def fig(key: str, label: str, vs: tuple[str, ...] = (), **kw) -> Figure:
        return Figure.rate(f"{key}_{mib}m", f"{label}, {mib} MiB", size, "B/s", t[key],
                           vs=tuple(f"{v}_{mib}m" for v in vs), **kw)

    return [
        fig("memcpy", "memcpy (np.copyto)"),
        fig("compare", "in-process validate_output", ("memcpy",),
            target=Target(2.0, at_most=True, on_ratio=True)),
        fig("guard", "in-process validate_output with the vacuity guard", ("compare",)),
        fig("ref_compare", "in-process reference + validate_output", ("memcpy",)),
        fig("worker_compare", "warm worker (Executor) + validate_output", ("ref_compare",)),
        fig("codec_msgpack", "codec only: msgpack, both tensors", ("memcpy",)),
        fig("codec_json", "codec only: JSON+base64, both tensors", ("codec_msgpack",)),
        fig("nng", "NNG ipc only: the msgpack request's bytes", ("memcpy",)),
        fig("daemon_shm", "daemon ValidateOp, shared memory (default)", ("ref_compare", "memcpy"),
            target=Target(1.5 * 2**30, at_most=False)),
        Figure.rate(f"daemon_shm_vs_floor_{mib}m", f"  the same, against the in-process floor,"
                    f" {mib} MiB", size, "B/s", t["daemon_shm"], vs=(f"ref_compare_{mib}m",),
                    target=Target(2.0, at_most=True, on_ratio=True)),
        Figure.time(f"cpu_ref_compare_{mib}m", f"CPU time: in-process reference +"
                    f" validate_output, {mib} MiB", t["cpu_ref_compare"]),
        Figure.time(f"cpu_daemon_shm_{mib}m", f"CPU time: daemon ValidateOp (client + daemon +"
                    f" worker), {mib} MiB", t["cpu_daemon_shm"], vs=(f"cpu_ref_compare_{mib}m",)),
        fig("daemon_oracle", "daemon ValidateOp, shared memory, float64 oracle (default)",
            ("daemon_shm",)),
        fig("daemon_msgpack", "daemon ValidateOp, tensors inline in msgpack",
            ("daemon_shm", "ref_compare")),
        fig("daemon_json", "daemon ValidateOp, tensors inline in JSON", ("daemon_msgpack",)),
    ]


def run(session: Session) -> Section:
    sizes = [64 * MIB] + ([256 * MIB] if session.large else [])
    notes = [] if session.large else ["256 MiB skipped; add --large to include it"]
    return Section("large", "large-tensor validation, float32 relu (rates in output bytes/s)",
                   [f for size in sizes for f in _figures(session, size)], notes)
