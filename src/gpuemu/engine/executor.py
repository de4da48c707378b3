"""Runs reference and op scripts in subprocesses: warm workers, fork servers, one-shot.

Starting Python and importing numpy costs ~170 ms, far more than a small reference,
so a script that defines a top-level ``reference(inputs, **kwargs)`` or ``run(...)``
is imported once per worker process (``gpuemu.engine.worker``) and called many
times; any other script (JSON on stdin, JSON on stdout, as the specification writes
them) is run as ``__main__`` in a child forked per case from a process that has
already imported numpy and the script's imports (``gpuemu.engine.forkserver``), and
as a fresh ``python SCRIPT`` (one-shot) only when that server cannot start. Every
script process gets its own session, so a timeout or a crash kills its whole process
group (children it forked included) and never the daemon; descendants that left the
group are found by a token in their environment (``orphans``), and each process's
address space is capped at the op's ``max_memory_mb`` (``limits``). Workers and fork
servers of a script whose file changed are replaced; a script found not warm-capable
is forked (or run one-shot) until its file changes. Idle workers and servers are
released (``ProcessPool``): after ``idle_timeout_s``, and least recently used first
when the daemon-wide caps on their number or their resident memory are reached. The
executor only runs paths its caller resolved from the project config, never code from
a request.
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
from functools import lru_cache
from pathlib import Path

import msgspec
import numpy as np

from ..errors import InvalidRequest, ReferenceScriptFailed
from ..frameworks import cuda_emulation
from ..dtypes import DType
from ..promotion import cast_inputs, cast_outputs
from ..script import Request
from .. import shm
from ..tensor import TensorData, from_numpy, plain, to_numpy
from ..validate import fused
from .forkserver import CaseRun, ForkServer, ServerDied
from .limits import memory_hint, out_of_memory
from .pool import Figures, Limits, ProcessPool
from .process import ScriptProcess, exit_status, kill_group, last_lines, spawn
from .stdout import BadOutput, parse_stdout
from .tracebacks import quote_traceback
from .worker import Against, Call, Reply, WorkerDied, WorkerProcess, WorkerTimedOut

_Key = tuple[str, str, "int | None", bool]  # absolute (script, cwd), memory cap, emulate_cuda
_Stamp = tuple[int, int, int]  # (mtime_ns, size, inode) of the script file

@dataclass(frozen=True, slots=True)
class ScriptRun:
    """A script's outputs by name; ``mutated_inputs`` the inputs it wrote into (None: not checked)."""

    outputs: dict[str, np.ndarray]
    mutated_inputs: tuple[str, ...] | None = None
    compared: fused.Spans | None = None


@dataclass(frozen=True, slots=True)
class ExecutorStats:
    """Counts since the executor started, for the daemon's logs and status, and for tests."""

    spawned: int = 0  # warm workers started
    reused: int = 0  # calls served by a worker that was already running
    crashed: int = 0  # workers that died during a call
    timed_out: int = 0  # calls killed at their timeout (any mode)
    one_shot: int = 0  # calls run as a fresh `python SCRIPT`
    forked: int = 0  # calls run in a child of a fork server
    compared: int = 0  # calls whose warm worker made the check's pass (run_checked's against)
    servers: int = 0  # fork servers started
    reaped_idle: int = 0  # workers and servers released after idle_timeout_s
    reaped_cap: int = 0  # ... to make room under max_workers
    reaped_memory: int = 0  # ... to bring their memory under max_worker_memory_mb


class Executor:
    """Runs scripts named by the caller, from any number of threads at once.

    ``max_workers_per_script`` caps the warm workers alive per script (default: the CPU
    count); a caller blocks while all of them are busy. ``limits`` caps the workers and
    fork servers of all scripts together (``pool.Limits``). ``warm=False`` runs every call
    one-shot.
    """

    def __init__(self, max_workers_per_script: int | None = None, warm: bool = True,
                 limits: Limits | None = None):
        limit = (os.cpu_count() or 1) if max_workers_per_script is None else max_workers_per_script
        if limit < 1:
            raise ValueError(f"max_workers_per_script must be >= 1, got {limit}")
        self.warm = warm
        self._lock = threading.Lock()
        self._processes = ProcessPool(limit, limits or Limits(), self._count_reaped)
        self._cold: dict[_Key, _Stamp] = {}  # scripts that cannot be kept warm, by file stamp
        self._no_server: dict[_Key, _Stamp] = {}  # scripts whose fork server did not start
        self._one_shots: set[ScriptProcess] = set()
        self._counts: Counter[str] = Counter()
        self._closed = False

    def run_script(self, script: Path, inputs: dict[str, np.ndarray], kwargs: dict | None = None,
                   *, timeout_s: float = 60.0, cwd: Path | None = None,
                   max_memory_mb: int | None = None,
                   emulate_cuda: bool = False) -> dict[str, np.ndarray]:
        """Run ``script`` on ``inputs`` and return its outputs by name.

        A single unnamed output comes back under ``"output"``. Inputs keep their
        layout (a transposed array reaches the script non-contiguous). Raises
        ReferenceScriptFailed, quoting the script's stderr or traceback, when the
        script exits non-zero, crashes, runs past ``timeout_s``, exceeds
        ``max_memory_mb`` (address space; None: no cap) or writes no valid output.
        ``emulate_cuda`` runs code written for a CUDA GPU on the CPU
        (gpuemu.frameworks.cuda_emulation).
        """
        return self.run_checked(script, inputs, kwargs, timeout_s=timeout_s, cwd=cwd,
                                max_memory_mb=max_memory_mb, emulate_cuda=emulate_cuda).outputs

    def run_checked(self, script: Path, inputs: dict[str, np.ndarray], kwargs: dict | None = None,
                    *, timeout_s: float = 60.0, cwd: Path | None = None,
                    check_inputs: bool = False, max_memory_mb: int | None = None,
                    emulate_cuda: bool = False, oracle: np.dtype | None = None,
                    against: tuple[np.ndarray, fused.Params] | None = None) -> ScriptRun:
        """``run_script``, plus (with ``check_inputs``) which inputs the script wrote into:
        its warm worker compares them before and after the call. A script that cannot be
        kept warm runs forked or one-shot and is not checked (``mutated_inputs`` None).
        ``oracle``: run the script on its promoted inputs in float64 and cast its float64
        outputs back to this dtype (gpuemu.promotion), in the warm worker where there is one.
        ``against``: an output held in shared memory and a pass to make over it and the
        script's output, in the warm worker (``compared``; None where it made none)."""
        cwd, path = _absolute(script, cwd or os.getcwd())
        key, stamp = (path, cwd, max_memory_mb, emulate_cuda), _stamp(path)
        if self.warm and self._cold.get(key) != stamp:
            # Large inputs reach our warm worker through shared memory (gpuemu.shm); a
            # one-shot script reads JSON it may parse itself, so it always gets them inline.
            # keep_offset: an offset view (a fuzz layout) must reach the op misaligned.
            shared = {name: from_numpy(a, shared=True, keep_offset=True) for name, a in inputs.items()}
            request = Call(inputs=shared, kwargs=dict(kwargs or {}), check_inputs=check_inputs,
                           oracle=None if oracle is None else DType.from_numpy(oracle).value,
                           against=_against(against))
            try:
                payload = _encode(request, msgspec.msgpack, path)
                if (run := self._run_warm(key, stamp, payload, timeout_s)) is not None:
                    return run
            finally:
                shm.discard(shm.names(request.inputs.values()))
        # A one-shot script may decode tensors itself, as the seeds' scripts do
        # (np.dtype(t["dtype"]), frombuffer(...).reshape(shape)): plain tensors.
        given = inputs if oracle is None else cast_inputs(inputs, np.float64)
        one_shot = Request(inputs={name: plain(a) for name, a in given.items()},
                           kwargs=dict(kwargs or {}))
        payload = _encode(one_shot, msgspec.json, path)
        if self.warm and self._no_server.get(key) != stamp:
            if (case := self._run_forked(key, stamp, payload, timeout_s)) is not None:
                return ScriptRun(cast_outputs(self._finish(path, case, timeout_s, max_memory_mb), oracle))
        return ScriptRun(cast_outputs(self._run_one_shot(key, payload, timeout_s), oracle))

    def stats(self) -> ExecutorStats:
        with self._lock:
            return ExecutorStats(**self._counts)

    def figures(self) -> Figures:
        """Live and idle workers and fork servers, and their resident memory."""
        return self._processes.figures()

    def close(self) -> None:
        """Kill every worker, server and running script (idempotent)."""
        with self._lock:
            one_shots, self._closed = list(self._one_shots), True
        self._processes.close()
        for proc in one_shots:
            kill_group(proc)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self._counts[what] += n

    def _count_reaped(self, why: str, n: int) -> None:
        self._count(f"reaped_{why}", n)

    def _run_warm(self, key: _Key, stamp: _Stamp, payload: bytes,
                  timeout_s: float) -> ScriptRun | None:
        """The outputs from a warm worker; None when the script cannot be kept warm."""
        lease = self._processes.acquire_worker(key, stamp, lambda: WorkerProcess(*key))
        if lease is None:
            raise _closed_error(key[0])
        worker, fresh = lease.process, lease.fresh
        self._count("spawned" if fresh else "reused")
        deadline = time.monotonic() + timeout_s
        healthy = False
        try:
            if fresh and not lease.slot.ready(deadline, fresh):
                with self._lock:
                    self._cold[key] = stamp
                return None  # a forked or one-shot run reports the real error, if there is one
            worker.send(payload, deadline)
            reply = worker.receive(Reply, deadline)
            healthy = True  # its files taken while it is ours: its next call may rewrite them
            outputs = None if reply.error is not None else _to_arrays(reply.outputs or {}, key[0])
        except WorkerTimedOut:
            self._count("timed_out")
            worker.kill()
            raise _failure(key[0], _timed_out(timeout_s), worker.stderr.tail()) from None
        except WorkerDied as exc:
            if self._closed:
                raise _closed_error(key[0]) from None
            self._count("crashed")
            status = worker.kill(grace_s=1.0)
            tail = worker.stderr.tail()
            what = (memory_hint(key[2]) if key[2] is not None and out_of_memory(tail)
                    else f"crashed: its warm worker {exc} and {status}")
            raise _failure(key[0], what, tail) from None
        finally:
            self._processes.release(lease, healthy)
        if reply.error is not None:
            if key[2] is not None and out_of_memory(reply.error.rstrip().rsplit("\n", 1)[-1]):
                raise _failure(key[0], memory_hint(key[2]), quote_traceback(reply.error))
            raise ReferenceScriptFailed(
                f"script {key[0]} raised in {worker.function}():\n{quote_traceback(reply.error)}"
            )
        if reply.compared is not None:
            self._count("compared")
        return ScriptRun(outputs, None if reply.mutated_inputs is None else tuple(reply.mutated_inputs),
                         reply.compared)

    def _run_forked(self, key: _Key, stamp: _Stamp, payload: bytes,
                    timeout_s: float) -> CaseRun | None:
        """One case in a child of the script's fork server; None when it cannot start."""
        lease = self._processes.acquire_server(key, stamp, lambda: ForkServer(key[0], key[1], key[3]))
        if lease is None:
            raise _closed_error(key[0])
        deadline = time.monotonic() + timeout_s
        healthy = False
        try:
            if lease.fresh:
                self._count("servers")
            if not lease.slot.ready(deadline, lease.fresh):
                with self._lock:
                    self._no_server[key] = stamp
                return None
            self._count("forked")
            case = lease.process.run(payload, deadline, key[2])
            healthy = True
            return case
        except ServerDied:
            if self._closed:
                raise _closed_error(key[0]) from None
            return None  # a one-shot run takes this case; the next call starts a new server
        finally:
            self._processes.release(lease, healthy)

    def _run_one_shot(self, key: _Key, payload: bytes, timeout_s: float) -> dict[str, np.ndarray]:
        path, cwd, max_memory_mb, emulate_cuda = key
        self._count("one_shot")
        shim = ["-m", cuda_emulation.__name__] if emulate_cuda else []
        proc = spawn([sys.executable, *shim, path], cwd, max_memory_mb)
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
        case = CaseRun(None if timed_out else proc.returncode, out, err)
        return self._finish(path, case, timeout_s, max_memory_mb)

    def _finish(self, path: str, case: CaseRun, timeout_s: float,
                max_memory_mb: int | None) -> dict[str, np.ndarray]:
        """The outputs of a forked or one-shot run, or the failure that says what happened."""
        if case.returncode is None:
            self._count("timed_out")
            raise _failure(path, _timed_out(timeout_s), last_lines(case.stderr))
        if case.returncode != 0:
            if self._closed:
                raise _closed_error(path)
            tail = quote_traceback(case.stderr)
            oom = max_memory_mb is not None and out_of_memory(tail)
            raise _failure(path, memory_hint(max_memory_mb) if oom
                           else exit_status(case.returncode), tail)
        try:
            return _to_arrays(parse_stdout(case.stdout), path)
        except BadOutput as exc:
            raise _failure(path, str(exc), last_lines(case.stderr)) from None


def _kill_leftovers(proc: ScriptProcess) -> None:
    proc.wait()
    kill_group(proc, recent=True)


def _to_arrays(outputs: dict[str, TensorData], script: str) -> dict[str, np.ndarray]:
    if not outputs:
        raise ReferenceScriptFailed(f"script {script} returned no outputs; return an array")
    try:
        return {name: to_numpy(td, f"output.{name}") for name, td in outputs.items()}
    except InvalidRequest as exc:  # a bad dtype, layout or byte count
        raise ReferenceScriptFailed(f"script {script} returned a bad tensor: {exc}") from None


def _against(against: tuple[np.ndarray, fused.Params] | None) -> Against | None:
    """The worker's side of ``run_checked``'s ``against``: the output goes by the name of
    its held file when it has one (the runner asks only for such outputs)."""
    if against is None:
        return None
    return Against(actual=from_numpy(against[0], shared=True), params=against[1])


@lru_cache(maxsize=1024)  # a daemon asks for the same few scripts again and again
def _absolute(script: str | os.PathLike, cwd: str | os.PathLike) -> tuple[str, str]:
    """``cwd`` and ``script`` (relative to it; an absolute one stays as is) as absolute
    strings: pathlib costs ~20 us a call, and the executor keys everything by them."""
    cwd = os.path.abspath(cwd)
    return cwd, os.path.abspath(os.path.join(cwd, script))


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
