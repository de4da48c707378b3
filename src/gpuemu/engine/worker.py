"""Warm workers: a process that imports one script once and calls its function per
request, and the executor's handle on such a process.

The child is ``python -P -m gpuemu.engine.worker SCRIPT`` in its own session. Its
frame channel is its original stdin/stdout, moved to private descriptors before the
script is imported: the script's prints then go to stderr (fd 1 becomes a copy of
fd 2) and its reads of stdin see an empty file, so nothing the script does can
corrupt a frame. A frame is an 8-byte little-endian length and a msgpack body (tensor
bytes raw, no base64). The child first sends a Hello, then answers each Request with
one Reply until its stdin closes. Asked to (``Call.against``), it also makes the check's
fused pass over its output and the output the daemon will judge (gpuemu.validate.fused).
The process itself is started and ended as any script's (engine.process).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import select
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from .. import shm, shm_maps, shm_pool
from ..errors import InvalidTensorData
from ..frameworks.cuda_emulation import emulate_if_asked, emulation_env
from ..dtypes import DType
from ..promotion import cast_inputs, cast_outputs
from ..script import SINGLE_OUTPUT, Request, encode_outputs
from ..tensor import TensorData, to_numpy
from ..validate import fused
from . import heap
from .orphans import watch_parent
from .process import ScriptProcess, StderrTail, exit_status, kill_group, open_pidfd, readable, spawn

HEADER = struct.Struct("<Q")
READ_AHEAD = 1 << 16
"""Bytes a frame reader takes at once: a small frame and its header in one read."""
FUNCTION_NAMES = ("reference", "run")
MODULE_NAME = "gpuemu_user_script"  # anything but "__main__", so the main guard does not run


class Hello(msgspec.Struct):
    """The child's first frame: the function it calls, or None when the script has no
    ``reference``/``run`` or failed to import (a one-shot run then shows why)."""

    function: str | None


class Against(msgspec.Struct):
    """The output the reference's output will be judged against, and the pass to make over both."""

    actual: TensorData
    params: fused.Params


class Call(Request, omit_defaults=True):
    """A request as a warm worker gets it: ``check_inputs`` asks it to compare the inputs
    before and after the call (in this process: the daemon never sees the script's copy);
    ``oracle`` (a dtype name), to call the function on the promoted inputs in float64 and
    cast its float64 outputs back to that dtype (gpuemu.promotion); ``against``, to make
    the fused pass over its output and that one (gpuemu.validate.fused)."""

    check_inputs: bool = False
    oracle: str | None = None
    against: Against | None = None


class Reply(msgspec.Struct, omit_defaults=True):
    """One call's result: the outputs, or the traceback of what the function raised;
    ``mutated_inputs`` names the inputs the call wrote into (when asked to check);
    ``compared`` the pass asked for (None: it does not apply to this output)."""

    outputs: dict[str, TensorData] | None = None
    error: str | None = None
    mutated_inputs: list[str] | None = None
    compared: fused.Spans | None = None


# --- the child -------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    script = Path((argv or sys.argv)[1]).resolve()
    heap.forget()
    watch_parent()
    frames_in, frames_out = _take_frame_channel()
    emulate_if_asked()
    fn, name = _load(script)
    write_frame(frames_out, msgspec.msgpack.encode(Hello(function=name)))
    if fn is None:
        return
    shm_maps.MAPS.enable()  # keep the mappings of the client's files between calls
    decoder, encoder = msgspec.msgpack.Decoder(Call), msgspec.msgpack.Encoder()
    frames = FrameReader(frames_in)
    while True:
        heap.idle(frames_in)  # gives the kept heap back between bursts of calls
        body = frames.read()
        if body is None:
            return
        write_frame(frames_out, encoder.encode(_call(fn, decoder.decode(body))))
        shm_maps.MAPS.settle()  # once the call's arrays are gone, and off the reply's path


def _take_frame_channel() -> tuple[int, int]:
    """Move the frames to private fds; give the script an empty stdin and stderr as stdout."""
    frames_in, frames_out = os.dup(0), os.dup(1)  # not inherited by the script's children
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return frames_in, frames_out


def _load(script: Path) -> tuple[Callable | None, str | None]:
    """Import the script as a module (its main guard stays false) and find its function."""
    sys.argv = [str(script)]
    sys.path.insert(0, str(script.parent))  # as `python script.py` would
    loader = importlib.machinery.SourceFileLoader(MODULE_NAME, str(script))
    spec = importlib.util.spec_from_loader(MODULE_NAME, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    try:
        loader.exec_module(module)
    except BaseException:  # noqa: BLE001 - SystemExit too: a top-level script may exit
        return None, None
    finally:
        sys.stdout.flush()
    for name in FUNCTION_NAMES:
        fn = getattr(module, name, None)
        if callable(fn):
            return fn, name
    return None, None


def _call(fn: Callable, request: Call) -> Reply:
    shm_pool.POOL.release_all()  # the executor took our last outputs: their files are free
    try:
        inputs = {name: to_numpy(td, f"inputs.{name}") for name, td in request.inputs.items()}
        given = dict(inputs)  # the arrays themselves, even if the script rebinds dict entries
        before = {name: x.tobytes() for name, x in given.items()} if request.check_inputs else None
        if request.oracle is None:
            result = fn(inputs, **request.kwargs)
        else:
            native = DType.parse(request.oracle, "oracle").numpy
            result = cast_outputs(fn(cast_inputs(inputs, np.float64), **request.kwargs), native)
        outputs, compared = _outputs(result, request.against)
        mutated = None if before is None else [
            name for name, x in given.items() if x.tobytes() != before[name]]
        return Reply(outputs=outputs, mutated_inputs=mutated, compared=compared)
    except (Exception, SystemExit):
        return Reply(error=traceback.format_exc())
    finally:
        sys.stdout.flush()  # the script's prints reach stderr per call, not at exit


def _outputs(result: Any, against: Against | None
             ) -> tuple[dict[str, TensorData], fused.Spans | None]:
    """The call's outputs (large ones in shared memory) and, when asked, the pass over its
    output, which also writes that output into its shared-memory file as it reads it."""
    compared = None
    if against is not None and (pair := _pair(result, against)) is not None:
        key, expected, actual = pair
        where = shm.directory()
        if not shm.wanted(expected.nbytes, where):
            compared = fused.tally(actual, expected, against.params)
        else:
            _, copy = shm_pool.POOL.reserve(expected.nbytes, where)
            compared = fused.tally(actual, expected, against.params, copy_to=copy)
            copy = copy.view(expected.dtype).reshape(expected.shape)  # from_numpy names its file
            result = copy if key is None else {**result, key: copy}
    return encode_outputs(result, shared=True), compared  # gpuemu.shm


def _pair(result: Any, against: Against) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """The reference's output the daemon will judge (its only one, or the one named
    ``output``; ``key`` None: not a dict), and ``against.actual``, where the pass applies."""
    key = None
    if isinstance(result, Mapping):
        key = next(iter(result)) if len(result) == 1 else SINGLE_OUTPUT
        if key not in result:
            return None
    try:
        expected = np.asarray(result if key is None else result[key])
        actual = to_numpy(against.actual, "against.actual")
    except InvalidTensorData:  # its file is gone: the daemon then makes the pass itself
        return None
    if expected.shape != actual.shape or not fused.applies(actual, expected, False, False):
        return None
    return key, expected, actual


class FrameError(Exception):
    """More came than the one frame the reader waited for."""


class FrameReader:
    """The frames of one pipe. Each side sends one frame and waits for the other's, so a
    small frame comes with its header in one read, into a buffer kept for the next (a
    body is valid until then); a large one is read on into a buffer of its size."""

    def __init__(self, fd: int):
        self.fd = fd
        self._buf = bytearray(READ_AHEAD)

    def read(self, wait: Callable[[], None] | None = None) -> memoryview | None:
        """The next frame's body; None at the end of the stream. ``wait()`` returns once
        a non-blocking fd is readable."""
        buf = self._buf
        got = _read_into(self.fd, memoryview(buf), HEADER.size, wait)
        if got == 0:
            return None
        end = HEADER.size + HEADER.unpack_from(buf)[0]
        if got > end:
            raise FrameError(f"{got - end} bytes came past the frame")
        if end > len(buf):
            buf = bytearray(end)
            buf[:got] = memoryview(self._buf)[:got]
        if got < end and _read_into(self.fd, memoryview(buf)[got:end], end - got, wait) == 0:
            return None
        return memoryview(buf)[HEADER.size:end]


def _read_into(fd: int, view: memoryview, at_least: int, wait: Callable[[], None] | None) -> int:
    """Read ``fd`` into ``view`` until ``at_least`` bytes came; 0 at the end of the stream."""
    got = 0
    while got < at_least:
        try:
            k = os.readv(fd, [view[got:]])
        except BlockingIOError:
            wait()
            continue
        if k == 0:
            return 0
        got += k
    return got


def write_frame(fd: int, body: bytes, on_full: Callable[[], None] | None = None) -> None:
    """Write a frame with one system call where the pipe has room, so that the reader
    wakes once; ``on_full`` waits until a non-blocking ``fd`` can take more."""
    parts = [memoryview(HEADER.pack(len(body))), memoryview(body)]
    while parts:
        try:
            n = os.writev(fd, parts)
        except BlockingIOError:
            on_full()
            continue
        while parts and n >= len(parts[0]):
            n -= len(parts.pop(0))
        if parts:
            parts[0] = parts[0][n:]


# --- the executor's side ---------------------------------------------------------------

class WorkerTimedOut(Exception):
    """The deadline passed before the worker answered."""


class WorkerDied(Exception):
    """The worker exited, or broke the frame protocol; the message says which."""


class WorkerProcess:
    """The executor's handle on one child. Created as a placeholder (so that a pool can
    count it under its lock) and spawned by ``start``; used by one thread at a time,
    except ``signal_kill``."""

    def __init__(self, script: str, cwd: str, max_memory_mb: int | None = None,
                 emulate_cuda: bool = False):
        self.script, self.cwd, self.max_memory_mb = script, cwd, max_memory_mb
        self.env = {**emulation_env(emulate_cuda), **heap.env()}  # engine.heap
        self.function = ""
        self.stderr = StderrTail()
        self._proc: ScriptProcess | None = None
        self._pidfd: int | None = None
        self._readable: select.poll | None = None  # its output and its pidfd, kept
        self._frames: FrameReader | None = None
        self._lock = threading.Lock()
        self._killed = False  # signal_kill came first: start must not spawn

    def start(self, deadline: float) -> bool:
        """Spawn and wait for the Hello; False when the script cannot be kept warm."""
        argv = [sys.executable, "-P", "-m", __spec__.name, self.script]
        with self._lock:
            if self._killed:  # the executor closed while this worker was being handed out
                raise WorkerDied("was stopped before it started")
            self._proc = spawn(argv, self.cwd, self.max_memory_mb, env=self.env)
        self._pidfd = open_pidfd(self._proc.pid)
        self.stderr.drain(self._proc.stderr)
        for pipe in (self._proc.stdin, self._proc.stdout):
            os.set_blocking(pipe.fileno(), False)
        self._frames = FrameReader(self._proc.stdout.fileno())
        self._readable = self._poller(self._proc.stdout.fileno(), select.POLLIN)  # every reply's
        try:
            hello = self.receive(Hello, deadline)
        except WorkerDied:  # it died importing the script: a one-shot run will show how
            return False
        self.function = hello.function or ""
        return hello.function is not None

    def send(self, body: bytes, deadline: float) -> None:
        fd = self._proc.stdin.fileno()
        try:
            write_frame(fd, body, lambda: self._wait(fd, select.POLLOUT, deadline))
        except BrokenPipeError:
            raise WorkerDied("closed its input") from None

    def receive(self, kind: type, deadline: float):
        try:
            return msgspec.msgpack.decode(self._read_frame(deadline), type=kind)
        except msgspec.DecodeError as exc:
            raise WorkerDied(f"sent a malformed {kind.__name__} frame ({exc})") from None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None else proc.pid

    def alive(self) -> bool:
        if self._pidfd is not None:
            return not readable(self._pidfd, 0.0)
        return self._proc.poll() is None

    def signal_kill(self) -> None:
        """Kill the process group from any thread (or keep it from starting); the owner
        reaps it."""
        with self._lock:
            self._killed = True
            if self._proc is not None:
                kill_group(self._proc)

    def kill(self, grace_s: float = 0.0) -> str:
        """Kill and reap (idempotent); returns how the process ended, for messages.

        ``grace_s`` lets a worker that is already dying finish and report its own status.
        """
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return "was already stopped"
        if self._pidfd is not None:
            readable(self._pidfd, grace_s)
            os.close(self._pidfd)
        kill_group(proc)
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        self.stderr.join()
        return exit_status(proc.returncode)

    def _read_frame(self, deadline: float) -> memoryview:
        frames = self._frames
        try:
            body = frames.read(lambda: self._wait(frames.fd, select.POLLIN, deadline))
        except FrameError as exc:
            raise WorkerDied(f"broke the frame protocol: {exc}") from None
        if body is None:
            raise WorkerDied("died during the call")
        return body

    def _wait(self, fd: int, event: int, deadline: float) -> None:
        """Until ``fd`` is ready; WorkerDied if the child exits first (the pidfd notices
        even when a forked grandchild holds the pipes), WorkerTimedOut at the deadline."""
        poller = self._readable if event == select.POLLIN else self._poller(fd, event)
        ready = dict(poller.poll(max(0.0, deadline - time.monotonic()) * 1000))
        if fd in ready:
            return
        if ready:
            raise WorkerDied("died during the call")
        if time.monotonic() >= deadline:
            raise WorkerTimedOut

    def _poller(self, fd: int, event: int) -> select.poll:
        """A poll object for ``event`` on ``fd`` and for the child's exit (its pidfd)."""
        poller = select.poll()
        poller.register(fd, event)
        if self._pidfd is not None:
            poller.register(self._pidfd, select.POLLIN)
        return poller


if __name__ == "__main__":
    main()
