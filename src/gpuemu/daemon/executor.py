"""Runs reference and op scripts in subprocesses: one-shot, or in warm workers.

Starting Python and importing numpy costs ~170 ms, far more than a small reference,
so a script that defines a top-level ``reference(inputs, **kwargs)`` or ``run(...)``
is imported once per worker process (``gpuemu.daemon.worker``) and called many
times; any other script runs as ``python SCRIPT`` per call (protocol in
``gpuemu.script``). Every process gets its own session, so a timeout or a crash
kills its whole process group (children it forked included) and never the daemon;
descendants that left the group are found by a token in their environment
(``orphans``). A one-shot script's leftovers die when it exits, a warm worker's when
the worker is stopped, and a warm worker dies with its daemon.
Workers of a script whose file changed are replaced; a script found not
warm-capable is run one-shot until its file changes. The executor only runs paths
its caller resolved from the project config, never code from a request.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from ..errors import InvalidRequest, ReferenceScriptFailed
from ..script import SINGLE_OUTPUT, Request
from .. import shm
from ..tensor import TensorData, from_numpy, to_numpy
from .worker import (
    Call, Reply, ScriptProcess, WorkerDied, WorkerProcess, WorkerTimedOut, exit_status, kill_group,
    last_lines, spawn,
)

_Key = tuple[str, str]  # absolute (script, cwd): a worker is bound to both
_Stamp = tuple[int, int, int]  # (mtime_ns, size, inode) of the script file
_SHAPES = ('print a TensorData, {"output": TensorData} or {"outputs": {name: TensorData}}'
           " (gpuemu.script.write_output does)")


@dataclass(frozen=True, slots=True)
class ScriptRun:
    """A script's outputs by name; ``mutated_inputs`` the inputs it wrote into (None: not checked)."""

    outputs: dict[str, np.ndarray]
    mutated_inputs: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ExecutorStats:
    """Counts since the executor started, for the daemon's logs and for tests."""

    spawned: int = 0  # warm workers started
    reused: int = 0  # calls served by a worker that was already running
    crashed: int = 0  # workers that died during a call
    timed_out: int = 0  # calls killed at their timeout (warm or one-shot)
    one_shot: int = 0  # calls run as a fresh `python SCRIPT`


def single_output(outputs: dict[str, np.ndarray]) -> np.ndarray:
    """The output an op is checked on: the one named ``output``, else the first."""
    return outputs["output"] if "output" in outputs else next(iter(outputs.values()))


class Executor:
    """Runs scripts named by the caller, from any number of threads at once.

    ``max_workers_per_script`` caps the warm workers alive per (script, cwd)
    (default: the CPU count); a caller blocks while all of them are busy.
    ``warm=False`` runs every call one-shot.
    """

    def __init__(self, max_workers_per_script: int | None = None, warm: bool = True):
        limit = (os.cpu_count() or 1) if max_workers_per_script is None else max_workers_per_script
        if limit < 1:
            raise ValueError(f"max_workers_per_script must be >= 1, got {limit}")
        self._limit, self.warm = limit, warm
        self._lock = threading.Lock()
        self._pools: dict[_Key, _Pool] = {}
        self._cold: dict[_Key, _Stamp] = {}  # scripts that cannot be kept warm, by file stamp
        self._one_shots: set[ScriptProcess] = set()
        self._counts: Counter[str] = Counter()
        self._closed = False

    def run_script(self, script: Path, inputs: dict[str, np.ndarray], kwargs: dict | None = None,
                   *, timeout_s: float = 60.0, cwd: Path | None = None) -> dict[str, np.ndarray]:
        """Run ``script`` on ``inputs`` and return its outputs by name.

        A single unnamed output comes back under ``"output"``. Inputs keep their
        layout (a transposed array reaches the script non-contiguous). Raises
        ReferenceScriptFailed, quoting the script's stderr or traceback, when the
        script exits non-zero, crashes, runs past ``timeout_s`` or writes no valid output.
        """
        return self.run_checked(script, inputs, kwargs, timeout_s=timeout_s, cwd=cwd).outputs

    def run_checked(self, script: Path, inputs: dict[str, np.ndarray], kwargs: dict | None = None,
                    *, timeout_s: float = 60.0, cwd: Path | None = None,
                    check_inputs: bool = False) -> ScriptRun:
        """``run_script``, plus (with ``check_inputs``) which inputs the script wrote into:
        its warm worker compares them before and after the call. A script that cannot be
        kept warm runs one-shot and is not checked (``mutated_inputs`` None)."""
        cwd = os.path.abspath(cwd or os.getcwd())  # strings: pathlib costs ~20 us a call
        path = os.path.abspath(os.path.join(cwd, script))  # an absolute `script` stays as is
        key, stamp = (path, cwd), _stamp(path)
        if self.warm and self._cold.get(key) != stamp:
            # Large inputs reach our warm worker through shared memory (gpuemu.shm); a
            # one-shot script reads JSON it may parse itself, so it always gets them inline.
            shared = {name: from_numpy(a, shared=True) for name, a in inputs.items()}
            request = Call(inputs=shared, kwargs=dict(kwargs or {}), check_inputs=check_inputs)
            try:
                payload = _encode(request, msgspec.msgpack, path)
                if (run := self._run_warm(key, stamp, payload, timeout_s)) is not None:
                    return run
            finally:
                shm.discard(shm.names(request.inputs.values()))
        one_shot = Request(inputs={name: from_numpy(a) for name, a in inputs.items()},
                           kwargs=dict(kwargs or {}))
        return ScriptRun(self._run_one_shot(path, cwd, _encode(one_shot, msgspec.json, path),
                                            timeout_s))

    def stats(self) -> ExecutorStats:
        with self._lock:
            return ExecutorStats(**self._counts)

    def close(self) -> None:
        """Kill every worker and running script (idempotent)."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            one_shots, self._closed = list(self._one_shots), True
        for pool in pools:
            pool.close(kill_busy=True)
        for proc in one_shots:
            kill_group(proc)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def _pool(self, key: _Key, stamp: _Stamp) -> _Pool:
        with self._lock:
            if self._closed:
                raise _closed_error(key[0])
            old = self._pools.get(key)
            if old is not None and old.stamp == stamp:
                return old
            pool = self._pools[key] = _Pool(key, stamp, self._limit)
        if old is not None:  # the script changed: its workers run stale code
            old.close(kill_busy=False)
        return pool

    def _run_warm(self, key: _Key, stamp: _Stamp, payload: bytes,
                  timeout_s: float) -> ScriptRun | None:
        """The outputs from a warm worker; None when the script cannot be kept warm."""
        while True:
            pool = self._pool(key, stamp)
            if (got := pool.acquire()) is not None:
                break  # else that pool was retired while we waited: take the current one
        worker, fresh = got
        self._count("spawned" if fresh else "reused")
        deadline = time.monotonic() + timeout_s
        healthy = False
        try:
            if fresh and not worker.start(deadline):
                with self._lock:
                    self._cold[key] = stamp
                return None  # a one-shot run reports the real error, if there is one
            worker.send(payload, deadline)
            reply = worker.receive(Reply, deadline)
            healthy = True
        except WorkerTimedOut:
            self._count("timed_out")
            worker.kill()
            raise _failure(key[0], _timed_out(timeout_s), worker.stderr.tail()) from None
        except WorkerDied as exc:
            if self._closed:
                raise _closed_error(key[0]) from None
            self._count("crashed")
            status = worker.kill(grace_s=1.0)
            raise _failure(key[0], f"crashed: its warm worker {exc} and {status}",
                           worker.stderr.tail()) from None
        finally:
            pool.release(worker, healthy)
        if reply.error is not None:
            raise ReferenceScriptFailed(
                f"script {key[0]} raised in {worker.function}():\n{last_lines(reply.error)}"
            )
        return ScriptRun(_to_arrays(reply.outputs or {}, key[0]),
                         None if reply.mutated_inputs is None else tuple(reply.mutated_inputs))

    def _run_one_shot(self, path: str, cwd: str, payload: bytes,
                      timeout_s: float) -> dict[str, np.ndarray]:
        self._count("one_shot")
        proc = spawn([sys.executable, path], cwd)
        with self._lock:
            self._one_shots.add(proc)
            if self._closed:  # close() ran while it started
                kill_group(proc)
        # Once the script exits, kill what it left running: a child still holding its
        # stdout would otherwise keep communicate() waiting until the timeout.
        reaper = threading.Thread(target=_kill_leftovers, args=(proc,), daemon=True,
                                  name="gpuemu-one-shot-reaper")
        reaper.start()
        timed_out = False
        try:
            out, err = proc.communicate(payload, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc)
            out, err = proc.communicate()
        finally:
            if proc.poll() is None:  # communicate() raised: do not leave it running
                kill_group(proc)
            reaper.join()
            with self._lock:
                self._one_shots.discard(proc)
        if timed_out:
            self._count("timed_out")
            raise _failure(path, _timed_out(timeout_s), last_lines(err))
        if proc.returncode != 0:
            if self._closed:
                raise _closed_error(path)
            raise _failure(path, exit_status(proc.returncode), last_lines(err))
        try:
            return _to_arrays(parse_stdout(out), path)
        except _BadOutput as exc:
            raise _failure(path, str(exc), last_lines(err)) from None


def _kill_leftovers(proc: ScriptProcess) -> None:
    proc.wait()
    kill_group(proc)


class _Pool:
    """The warm workers of one (script, cwd): idle ones reused, at most ``limit`` alive."""

    def __init__(self, key: _Key, stamp: _Stamp, limit: int):
        self.key, self.stamp, self._limit = key, stamp, limit
        self._cond = threading.Condition()
        self._idle: list[WorkerProcess] = []
        self._all: set[WorkerProcess] = set()
        self._closed = False

    def acquire(self) -> tuple[WorkerProcess, bool] | None:
        """A worker and whether it is fresh; waits while all are busy; None once closed."""
        with self._cond:
            while not self._closed:
                while self._idle:
                    worker = self._idle.pop()  # the most recently used one is the warmest
                    if worker.alive():
                        return worker, False
                    self._forget(worker)
                if len(self._all) < self._limit:
                    worker = WorkerProcess(*self.key)
                    self._all.add(worker)
                    return worker, True
                self._cond.wait()
        return None

    def release(self, worker: WorkerProcess, healthy: bool) -> None:
        with self._cond:
            if healthy and not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
            self._forget(worker)

    def close(self, kill_busy: bool) -> None:
        """Kill the idle workers; busy ones now (``kill_busy``) or when released."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            for worker in idle:
                self._forget(worker)
            busy = list(self._all) if kill_busy else []
            self._cond.notify_all()
        for worker in busy:
            worker.signal_kill()  # its caller reaps it

    def _forget(self, worker: WorkerProcess) -> None:
        worker.kill()
        self._all.discard(worker)
        self._cond.notify()


class _BadOutput(Exception):
    """A one-shot script's stdout holds no readable result; the message says why."""


class _Envelope(msgspec.Struct):
    """The two wrapped shapes of a script's stdout; a bare TensorData has neither key."""

    outputs: dict[str, msgspec.Raw] | None = None
    output: msgspec.Raw = msgspec.Raw()


def parse_stdout(raw: bytes) -> dict[str, TensorData]:
    """A one-shot script's outputs from its stdout.

    The JSON may be all of stdout or, when the script printed other text first, its
    last line: ``{"outputs": {name: TensorData}}``, ``{"output": TensorData}`` or a
    bare TensorData (both named ``"output"``).
    """
    text = raw.strip()
    if not text:
        raise _BadOutput("wrote nothing to stdout; print the result as JSON (gpuemu.script.main)")
    for candidate in (text, text.rsplit(b"\n", 1)[-1]):
        try:
            envelope = msgspec.json.decode(candidate, type=_Envelope)
        except msgspec.ValidationError as exc:
            raise _BadOutput(f"wrote JSON of the wrong shape: {exc}; {_SHAPES}") from None
        except msgspec.DecodeError:
            continue
        if envelope.outputs is not None:
            return {name: _tensor(value, f"outputs.{name}")
                    for name, value in envelope.outputs.items()}
        if envelope.output:
            return {SINGLE_OUTPUT: _tensor(envelope.output, "output")}
        return {SINGLE_OUTPUT: _tensor(candidate, "its JSON")}
    shown = text[:200].decode(errors="replace")
    raise _BadOutput(
        f"wrote output that gpuemu cannot read: stdout is not JSON: {shown!r}; print the"
        " result as one JSON object on the last line of stdout (gpuemu.script.write_output)"
    )


def _tensor(raw: bytes | msgspec.Raw, where: str) -> TensorData:
    try:
        return msgspec.json.decode(raw, type=TensorData)
    except msgspec.DecodeError as exc:
        raise _BadOutput(f"wrote a bad TensorData in {where}: {exc}; {_SHAPES}") from None


def _to_arrays(outputs: dict[str, TensorData], script: str) -> dict[str, np.ndarray]:
    if not outputs:
        raise ReferenceScriptFailed(f"script {script} returned no outputs; return an array")
    try:
        return {name: to_numpy(td, f"output.{name}") for name, td in outputs.items()}
    except InvalidRequest as exc:  # a bad dtype, layout or byte count
        raise ReferenceScriptFailed(f"script {script} returned a bad tensor: {exc}") from None


def _stamp(path: str) -> _Stamp:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ReferenceScriptFailed(
            f"script {path} cannot be run: {exc.strerror}; check the script path in gpuemu.toml"
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ReferenceScriptFailed(f"script {path} is not a file; point gpuemu.toml at a .py file")
    return st.st_mtime_ns, st.st_size, st.st_ino


def _encode(request: Request, codec, script: str) -> bytes:
    """The request for ``script`` as msgpack (warm) or JSON (one-shot)."""
    try:
        return codec.encode(request)
    except (TypeError, OverflowError) as exc:  # OverflowError: an int beyond 64 bits
        raise InvalidRequest(f"kwargs: cannot be sent to {script}: {exc}", field="kwargs") from None


def _timed_out(timeout_s: float) -> str:
    return (f"timed out after {timeout_s:g} s and its process group was killed; if it needs"
            " longer, raise the op's timeout_s in gpuemu.toml")


def _closed_error(script: str) -> ReferenceScriptFailed:
    return ReferenceScriptFailed(
        f"script {script} was not run to the end: the executor is closed (the daemon is stopping)"
    )


def _failure(script: str, what: str, stderr: str) -> ReferenceScriptFailed:
    quoted = f"last lines of its stderr:\n{stderr}" if stderr.strip() else "(its stderr was empty)"
    return ReferenceScriptFailed(f"script {script} {what}\n{quoted}")
