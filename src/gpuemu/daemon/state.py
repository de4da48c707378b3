"""What the handlers share: the project config (reloaded when the file changes),
the storage, the executor, the daemon's clock and the progress of long requests."""

from __future__ import annotations

import contextvars
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DaemonSettings, ProjectConfig, load_config
from ..errors import ConfigError, InternalError
from ..engine.executor import Executor
from ..engine.health import OpenRuns
from ..engine.runner import Scripts
from .storage import Storage


class RequestCancelled(InternalError):
    """The request's work stopped at a case boundary: its client left, or the daemon stops."""


class Cancel:
    """Set by the server when a request's client hangs up or the daemon shuts down; long
    handlers call ``DaemonState.check_cancelled`` between cases."""

    def __init__(self, limit_s: float | None = None) -> None:
        self._reason: str | None = None
        self._limit_s = limit_s
        self._deadline = None if limit_s is None else time.monotonic() + limit_s

    def set(self, reason: str) -> None:
        self._reason = self._reason or reason

    @property
    def reason(self) -> str | None:
        """Why the request must stop, or None: a hang-up, a shutdown, or its time limit."""
        if self._reason is None and self._deadline is not None and time.monotonic() > self._deadline:
            self.set(f"it ran past the daemon's request_timeout_s = {self._limit_s:g} s ([daemon] in"
                     " gpuemu.toml; raise it for longer runs and restart the daemon)")
        return self._reason


CURRENT_CANCEL: contextvars.ContextVar[Cancel | None] = contextvars.ContextVar(
    "gpuemu_cancel", default=None)
"""The Cancel of the request that this thread handles (set by the server)."""


class ConfigSource:
    """The project's gpuemu.toml, re-read when its mtime changes so that an edited
    tolerance takes effect without restarting the daemon."""

    def __init__(self, path: Path | None):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._config: ProjectConfig | None = None

    def get(self) -> ProjectConfig:
        if self.path is None:
            raise ConfigError(
                f"the daemon was started without a gpuemu.toml (working directory {os.getcwd()});"
                " stop it (`gpuemu daemon stop`) and start it from your project directory,"
                " or pass `gpuemu daemon start --config PATH`"
            )
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the project config: {exc}") from None
        with self._lock:
            if self._config is None or stamp != self._stamp:
                self._config = load_config(self.path)
                self._stamp = stamp
            return self._config


@dataclass
class DaemonState:
    config: ConfigSource
    storage: Storage
    executor: Executor
    started: float = field(default_factory=time.monotonic)
    shutdown: threading.Event = field(default_factory=threading.Event)
    runs: OpenRuns = field(default_factory=OpenRuns)
    """Client-driven fuzz runs in progress (SubmitOutput.run), for FinishFuzzRun."""

    jobs: dict[int, list] = field(default_factory=dict)
    """In-flight long requests: id -> [op_name, done, total] (see ``job``)."""
    _jobs_lock: threading.Lock = field(default_factory=threading.Lock)
    _job_ids: itertools.count = field(default_factory=itertools.count)

    @property
    def uptime_secs(self) -> float:
        return time.monotonic() - self.started

    @contextmanager
    def job(self, op_name: str, total: int) -> Iterator[Callable[[int, int], None]]:
        """Track a long request; yields the progress callback ``(done, total)`` that Ping reports."""
        key = next(self._job_ids)
        with self._jobs_lock:
            self.jobs[key] = [op_name, 0, total]

        def progress(done: int, total: int) -> None:
            with self._jobs_lock:
                self.jobs[key][1:] = [done, total]

        try:
            yield progress
        finally:
            with self._jobs_lock:
                del self.jobs[key]

    def scripts(self, config: ProjectConfig | None = None) -> Scripts:
        """Where the project's scripts run: the warm workers, in the root of ``config``
        (the one the request read its op from), else of the current config."""
        return Scripts(self.executor, (config or self.config.get()).root)

    def prune(self, settings: DaemonSettings | None = None) -> int:
        """Prune passing results as [daemon] keep_passing_* say (``settings``, else the
        project's current config)."""
        settings = settings or self.config.get().daemon
        return self.storage.prune(max_age_days=settings.keep_passing_days or None,
                                  max_passing=settings.keep_passing_results or None)

    @staticmethod
    def check_cancelled() -> None:
        """Raise RequestCancelled when the request this thread handles was cancelled."""
        cancel = CURRENT_CANCEL.get()
        if cancel is not None and cancel.reason is not None:
            raise RequestCancelled(f"the request stopped at a case boundary: {cancel.reason};"
                                   " the cases finished before are stored")

    def job_list(self) -> list[tuple[str, int, int]]:
        with self._jobs_lock:
            return [tuple(j) for j in self.jobs.values()]
