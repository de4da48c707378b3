"""A fuzz campaign on a Ray cluster, driven by the daemon (imported only when a run names one).

The run's case indices are cut into tasks of ``[cluster] cases_per_task``; a window of
tasks (two per CPU of the cluster) is in flight at a time, so fail_fast stops soon and a
large run does not flood the scheduler. What the tasks answer is stored in seed order
as soon as every earlier case is in, so the stored run is the one a local run with the
same root seed stores. A task whose node or worker dies is rerun by Ray elsewhere
(``max_retries``); only a task's answer is stored, never a half-run task, so no case is
stored twice, and whatever was answered before an error is stored before it is raised.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gpuemu

from ..config import ClusterSettings, OpConfig, ProjectConfig
from ..daemon.fuzzing import store_case
from ..engine.health import RunHealth
from ..daemon.state import DaemonState
from ..errors import ConfigError, GpuemuError, InternalError
from ..protocol import FuzzConfigPayload
from ..validate import ValidationResult
from .node import CaseOutcome, run_cases

START_HINT = (
    "Start one (docs/cluster.md): export RAY_AUTH_MODE=token and the same RAY_AUTH_TOKEN on"
    " every machine and for the daemon, run `ray start --head --port 6379` on the head and"
    " `ray start --address HEAD:6379` on each other machine, then pass --cluster HEAD:6379"
    " (or `auto` on a cluster's machine); --cluster local runs on this machine instead")
CANCEL_POLL_S = 0.5
"""How often a run waiting on the cluster looks whether its request was cancelled."""
UPLOAD_EXCLUDES = [".git", ".venv", "node_modules", "__pycache__", "*.pyc"]

_cond = threading.Condition()
_key: tuple[str, str] | None = None  # (address, the job's runtime_env) of the connection
_active = 0  # campaigns using it


@contextmanager
def connected(address: str, runtime_env: dict | None, stamp: str = "") -> Iterator[Any]:
    """The ``ray`` module, connected to ``address`` as a job with ``runtime_env``, for one
    campaign. One daemon is one Ray driver: a campaign that needs another cluster, or another
    upload of the project (``stamp`` changed: a file was edited), waits for the campaigns on
    the current connection to end, then reconnects. ConfigError when Ray is missing or
    nobody answers."""
    global _key, _active
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"cluster {address!r}: Ray is not installed for the daemon's Python"
            f" ({sys.executable}); install it there and on every node with"
            " `pip install 'gpuemu[ray]'` (ray==2.60.0), or run with --cluster local") from None
    key = (address, json.dumps(runtime_env, sort_keys=True) + stamp)
    with _cond:
        while _key != key and _active:
            _cond.wait()
        if _key != key or not ray.is_initialized():
            _probe(address)  # before leaving the cluster of the last run
            if ray.is_initialized():
                ray.shutdown()
            _key = None
            try:
                ray.init(address=address, runtime_env=runtime_env, logging_level="ERROR",
                         log_to_driver=False)
            except Exception as exc:  # ConnectionError, AuthenticationError, RuntimeError...
                raise ConfigError(f"cannot connect to the Ray cluster at {address!r}:"
                                  f" {type(exc).__name__}: {exc}. {START_HINT}") from None
            _key = key
        _active += 1
    try:
        yield ray
    finally:
        with _cond:
            _active -= 1
            _cond.notify_all()


def _probe(address: str) -> None:
    """Fail in a second, not after Ray's minute of retries, when no one listens at HOST:PORT."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"no Ray cluster answers at {address!r} ({exc}). {START_HINT}") from None


def task_options(op: OpConfig, settings: ClusterSettings) -> dict[str, Any]:
    """The Ray options of the op's tasks: a GPU share when the op asks for one (``num_gpus``),
    else a CPU."""
    options: dict[str, Any] = {"num_cpus": 1, "max_retries": settings.max_retries,
                               "retry_exceptions": False}
    if op.num_gpus:
        options["num_gpus"] = op.num_gpus
    return options


def job_env(config: ProjectConfig) -> tuple[str, dict | None, str]:
    """How the project reaches the nodes ([cluster] ship): the config path they open, the
    job's runtime_env, and a stamp of the uploaded files (empty when nothing is uploaded)."""
    package = Path(gpuemu.__file__).parent
    if config.cluster.ship == "runtime_env":
        env = {"working_dir": str(config.root), "py_modules": [str(package)],
               "excludes": UPLOAD_EXCLUDES}
        return config.path.name, env, _stamp(config.root) + _stamp(package)
    if package.parent.name in ("site-packages", "dist-packages"):
        return str(config.path), None, ""
    # a source checkout (editable, or on PYTHONPATH): the nodes import the daemon's gpuemu
    return str(config.path), {"env_vars": {"PYTHONPATH": str(package.parent)}}, ""


def _stamp(root: Path) -> str:
    """Names, sizes and times of the files under ``root`` that an upload would carry."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and not any(fnmatch.fnmatch(part, pattern) for part in parts
                                      for pattern in UPLOAD_EXCLUDES):
            st = path.stat()
            digest.update(f"{'/'.join(parts)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def partition(indices: range, size: int) -> Iterable[list[int]]:
    return (list(indices[i:i + size]) for i in range(0, len(indices), size))


def _check_gpus(ray: Any, op: OpConfig, address: str) -> None:
    have = ray.cluster_resources().get("GPU", 0)
    if op.num_gpus > have:
        raise ConfigError(
            f"op {op.name!r} asks for num_gpus = {op.num_gpus} per task, but the Ray cluster at"
            f" {address!r} has {have:g} GPUs, so its tasks could never start; start the nodes"
            " that have GPUs (`ray start --num-gpus N`), or lower num_gpus in its [[ops]] entry")


class SeedOrder:
    """Stores answered cases in index order, each once, as soon as every earlier one is in."""

    def __init__(self, state: DaemonState, indices: range):
        self._state, self._next, self._end = state, indices.start, indices.stop
        self._waiting: dict[int, CaseOutcome] = {}

    def add(self, outcome: CaseOutcome) -> None:
        if outcome.index >= self._next:
            self._waiting.setdefault(outcome.index, outcome)
        while self._next in self._waiting:
            self._store(self._waiting.pop(self._next))
            self._next += 1

    def flush(self) -> None:
        """The rest, in order, past cases that will not come (a fail_fast stop or an error)."""
        for index in sorted(self._waiting):
            self._store(self._waiting[index])
        self._next, self._waiting = self._end, {}

    def _store(self, outcome: CaseOutcome) -> None:
        store_case(self._state, outcome.spec, outcome.result)


def run_campaign(state: DaemonState, op: OpConfig, payload: FuzzConfigPayload | None, seed: int,
                 indices: range, runs: int, health: RunHealth, address: str, *,
                 fail_fast: bool = False, progress: Callable[[int, int], None] | None = None
                 ) -> dict[int, ValidationResult]:
    """Cases ``indices`` of root ``seed`` on the cluster at ``address``; the results by index."""
    config = state.config.get()
    config_path, runtime_env, stamp = job_env(config)
    with connected(address, runtime_env, stamp) as ray:
        _check_gpus(ray, op, address)
        task = ray.remote(run_cases).options(**task_options(op, config.cluster))
        window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        return _drive(ray, task, state, op, (config_path, op.name, payload, seed), indices, runs,
                      health, address, window, fail_fast, progress)


def _drive(ray: Any, task: Any, state: DaemonState, op: OpConfig, args: tuple,
           indices: range, runs: int, health: RunHealth, address: str, window: int,
           fail_fast: bool, progress: Callable[[int, int], None] | None
           ) -> dict[int, ValidationResult]:
    """Submit the chunks, ``window`` at a time; take the answers as they come."""
    todo = deque(partition(indices, state.config.get().cluster.cases_per_task))
    pending: dict[Any, list[int]] = {}
    results: dict[int, ValidationResult] = {}
    order = SeedOrder(state, indices)
    failed = False
    try:
        while todo or pending:
            state.check_cancelled()  # a client gone or a shutdown: the tasks are cancelled below
            while todo and len(pending) < window:
                chunk = todo.popleft()
                pending[task.remote(*args, chunk, runs)] = chunk
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=CANCEL_POLL_S)
            if not ready:
                continue
            (ref,) = ready
            chunk = pending.pop(ref)
            for outcome in _answer(ray, ref, chunk, op, address):
                if outcome.index in results:
                    continue
                results[outcome.index] = outcome.result
                failed = failed or not outcome.result.passed
                if outcome.seen is None:
                    health.filtered(outcome.spec)
                else:
                    health.record(outcome.spec, outcome.seen, outcome.result)
                order.add(outcome)
            if progress:
                progress(len(results), len(indices))
            if fail_fast and failed:
                todo.clear()
    finally:
        for ref in pending:
            ray.cancel(ref)
        order.flush()
    return results


def _answer(ray: Any, ref: Any, chunk: list[int], op: OpConfig, address: str) -> list[CaseOutcome]:
    """A task's outcomes; its failure (after Ray's retries) as the error it was, naming the cases."""
    where = f"cases {chunk[0]}..{chunk[-1]} of op {op.name!r} on the Ray cluster at {address!r}"
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        kind = type(cause) if isinstance(cause, GpuemuError) else InternalError
        raise kind(f"{where} failed on a node: {type(cause).__name__}: {cause}. With [cluster]"
                   " ship = \"shared\" every node needs gpuemu and the project at the daemon's"
                   " paths; ship = \"runtime_env\" uploads them") from None
    except ray.exceptions.RayError as exc:
        raise InternalError(f"{where} were lost: {type(exc).__name__}: {exc}; Ray retried them"
                            " [cluster] max_retries times (raise it, or check the nodes' logs)"
                            ) from None
