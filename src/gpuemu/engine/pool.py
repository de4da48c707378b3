"""The executor's long-lived processes (warm workers and fork servers) and their release.

Without release, a daemon that has fuzzed many ops keeps every script's workers for its
whole life (issue 26: 8 ops held 32 processes and 5.7 GB). Here an idle process is
released after ``idle_timeout_s``; the processes of all scripts together are capped in
number (``max_workers``) and in resident memory (``max_memory_mb``, RSS from /proc), and
the least recently used idle one makes room first. A caller that finds no room waits
for one to be released, as it waits for a busy worker of its own script.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import shm
from .limits import physical_memory_mb, rss_bytes

DEFAULT_IDLE_TIMEOUT_S = 60.0
WORKERS_PER_CORE = 8
"""Default max_workers per core: an op and its reference on every core for a few runs at
once (a cap of 2 per core made three concurrent fuzz runs restart workers on every case);
the memory cap and the idle timeout are what bound a long campaign."""
MEMORY_FRACTION = 0.25  # default max_memory_mb, of physical RAM
MAX_TICK_S = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    """Daemon-wide caps ([daemon] in gpuemu.toml); None means the default."""

    max_workers: int | None = None
    max_memory_mb: int | None = None
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S

    @property
    def workers(self) -> int:
        return self.max_workers or WORKERS_PER_CORE * (os.cpu_count() or 1)

    @property
    def memory_bytes(self) -> int:
        return (self.max_memory_mb or int(physical_memory_mb() * MEMORY_FRACTION)) << 20


@dataclass(frozen=True, slots=True)
class Figures:
    """What ``gpuemu daemon status`` shows of the pool."""

    live: int
    idle: int
    rss_bytes: int
    max_workers: int
    max_memory_bytes: int
    idle_timeout_s: float


class Slot:
    """One live process of a script; ``busy`` counts the calls using it (a fork server
    serves many at once, a worker one)."""

    def __init__(self, group: tuple, process: Any):
        self.group, self.process = group, process
        self.busy, self.last_used, self.retired = 1, time.monotonic(), False
        self._started, self._ok = threading.Event(), False

    def usable(self) -> bool:
        """Alive, or still being started by the caller that created it."""
        return not self._started.is_set() or (self._ok and self.process.alive())

    def ready(self, deadline: float, fresh: bool) -> bool:
        """Start the process (the caller that created it) or wait until it has started."""
        if fresh:
            try:
                self._ok = self.process.start(deadline)
            finally:
                self._started.set()
        else:
            self._started.wait(max(0.0, deadline - time.monotonic()))
        return self._ok


@dataclass(frozen=True, slots=True)
class Lease:
    slot: Slot
    fresh: bool  # this caller created the process and must start it

    @property
    def process(self) -> Any:
        return self.slot.process


class _Group:
    def __init__(self, stamp: Any):
        self.stamp, self.slots = stamp, []


class ProcessPool:
    """Workers (one call at a time, up to ``per_script`` per script) and fork servers
    (one per script, any number of calls), released as the module docstring says.
    ``on_reaped(why, n)`` counts releases: why is "idle", "cap" or "memory"."""

    def __init__(self, per_script: int, limits: Limits, on_reaped: Callable[[str, int], None]):
        self.per_script, self.limits, self._on_reaped = per_script, limits, on_reaped
        self._cond = threading.Condition()
        self._groups: dict[tuple, _Group] = {}
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None

    def acquire_worker(self, key: tuple, stamp: Any, make: Callable[[], Any]) -> Lease | None:
        """An idle worker of ``key`` (the most recently used), else a new one; None once closed."""
        return self._acquire(("worker", *key), stamp, make, shared=False)

    def acquire_server(self, key: tuple, stamp: Any, make: Callable[[], Any]) -> Lease | None:
        """The fork server of ``key``, new if there is none; None once closed."""
        return self._acquire(("server", *key), stamp, make, shared=True)

    def release(self, lease: Lease, healthy: bool) -> None:
        slot, doomed = lease.slot, []
        with self._cond:
            slot.busy -= 1
            slot.last_used = time.monotonic()
            if not healthy or slot.retired or self._closed.is_set():
                self._remove(slot, doomed)
            self._cond.notify_all()
        _kill(doomed)

    def figures(self) -> Figures:
        with self._cond:
            slots = self._slots()
            idle = sum(1 for s in slots if not s.busy)
        return Figures(len(slots), idle, sum(rss_bytes(p) for p in _pids(slots)),
                       self.limits.workers, self.limits.memory_bytes, self.limits.idle_timeout_s)

    def close(self) -> None:
        """Kill the idle processes now and the busy ones' groups (their callers reap them)."""
        with self._cond:
            self._closed.set()
            slots = self._slots()
            self._groups.clear()
            self._cond.notify_all()
        for slot in slots:
            if slot.busy:
                slot.retired = True
                slot.process.signal_kill()
            else:
                slot.process.kill()

    # -- under the lock ---------------------------------------------------------------

    def _acquire(self, group_key: tuple, stamp: Any, make: Callable[[], Any],
                 shared: bool) -> Lease | None:
        doomed: list[Slot] = []
        try:
            with self._cond:
                self._start_reaper()
                while not self._closed.is_set():
                    group = self._group(group_key, stamp, doomed)
                    for slot in sorted(group.slots, key=lambda s: -s.last_used):
                        if slot.busy and not shared:
                            continue
                        if slot.usable():
                            slot.busy += 1
                            return Lease(slot, False)
                        self._remove(slot, doomed)
                    limit = 1 if shared else self.per_script
                    if len(group.slots) < limit and self._room(doomed):
                        slot = Slot(group_key, make())
                        group.slots.append(slot)
                        return Lease(slot, True)
                    self._cond.wait()
                return None
        finally:
            _kill(doomed)

    def _group(self, group_key: tuple, stamp: Any, doomed: list[Slot]) -> _Group:
        """The group for the script as it is now: one of an older file is retired."""
        group = self._groups.get(group_key)
        if group is not None and group.stamp == stamp:
            return group
        if group is not None:
            for slot in list(group.slots):
                if slot.busy:
                    slot.retired = True
                else:
                    doomed.append(slot)
        group = self._groups[group_key] = _Group(stamp)
        return group

    def _room(self, doomed: list[Slot]) -> bool:
        """Whether one more process fits under max_workers, releasing the LRU idle one if needed."""
        if len(self._slots()) < self.limits.workers:
            return True
        idle = [s for s in self._slots() if not s.busy]
        if not idle:
            return False
        self._remove(min(idle, key=lambda s: s.last_used), doomed)
        self._on_reaped("cap", 1)
        return True

    def _remove(self, slot: Slot, doomed: list[Slot]) -> None:
        group = self._groups.get(slot.group)
        if group is not None and slot in group.slots:
            group.slots.remove(slot)
        if not slot.busy:
            doomed.append(slot)
        else:
            slot.retired = True  # killed by the release that makes it idle

    def _slots(self) -> list[Slot]:
        return [slot for group in self._groups.values() for slot in group.slots]

    # -- the reaper ---------------------------------------------------------------------

    def _start_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = threading.Thread(target=self._reap_forever, daemon=True,
                                            name="gpuemu-worker-reaper")
            self._reaper.start()

    def _reap_forever(self) -> None:
        tick = min(MAX_TICK_S, self.limits.idle_timeout_s / 4)
        while not self._closed.wait(tick):
            self.reap()

    def reap(self) -> None:
        """Release idle processes past their timeout, then LRU ones while over the memory cap."""
        doomed: list[Slot] = []
        with self._cond:
            now = time.monotonic()
            for slot in self._slots():
                if not slot.busy and now - slot.last_used >= self.limits.idle_timeout_s:
                    self._remove(slot, doomed)
            slots = self._slots()
        _kill(doomed)
        if doomed:
            self._on_reaped("idle", len(doomed))
        rss = {id(slot): rss_bytes(slot.process.pid or 0) for slot in slots}
        total = sum(rss.values())
        if total <= self.limits.memory_bytes:
            return
        doomed = []
        with self._cond:
            for slot in sorted((s for s in self._slots() if not s.busy), key=lambda s: s.last_used):
                if total <= self.limits.memory_bytes:
                    break
                total -= rss.get(id(slot), 0)
                self._remove(slot, doomed)
        _kill(doomed)
        if doomed:
            self._on_reaped("memory", len(doomed))


def _pids(slots: list[Slot]) -> list[int]:
    return [pid for slot in slots if (pid := slot.process.pid)]


def _kill(slots: list[Slot]) -> None:
    for slot in slots:
        slot.process.kill()
    if slots:
        shm.reap()  # the shared-memory files the killed workers kept for their outputs
