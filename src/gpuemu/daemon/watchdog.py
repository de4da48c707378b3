"""The daemon watches its own Ping path: a thread pings the socket over a fresh
connection, as a client would, and says in the log and in ``daemon.watchdog`` (read by
``gpuemu daemon status``) when the daemon stops answering, and when it answers again.

A deaf daemon cannot report itself in a Pong, hence the file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

log = logging.getLogger("gpuemu.daemon")
INTERVAL_S = float(os.environ.get("GPUEMU_WATCHDOG_S", "10"))
PROBE_TIMEOUT_MS = 5000


class WatchdogReport(msgspec.Struct):
    """``deaf_since``: wall-clock time of the first unanswered self-Ping of the current
    silence, None while the daemon answers. ``silences``: how many there were since start."""

    pid: int
    checked: float
    deaf_since: float | None = None
    silences: int = 0
    last_silence_s: float | None = None


class Watchdog:
    def __init__(self, probe: Callable[[], bool], report_path: Path,
                 interval_s: float = INTERVAL_S):
        self.probe = probe
        self.report_path = report_path
        self.interval_s = interval_s
        self.report = WatchdogReport(pid=os.getpid(), checked=time.time())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpuemu-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._write()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=PROBE_TIMEOUT_MS / 1000 + 1)
        self.report_path.unlink(missing_ok=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check()

    def check(self) -> None:
        """One self-Ping; logs and records a change between answering and silent."""
        answered = self.probe()
        now = time.time()
        report = self.report
        report.checked = now
        if not answered and report.deaf_since is None and not self._stop.is_set():
            report.deaf_since = now
            report.silences += 1
            log.error("watchdog: this daemon did not answer its own Ping within %d ms; it is"
                      " deaf to clients (see the lines above; `gpuemu daemon stop`, or kill"
                      " pid %d if that fails too)", PROBE_TIMEOUT_MS, report.pid)
        elif answered and report.deaf_since is not None:
            report.last_silence_s = now - report.deaf_since
            report.deaf_since = None
            log.warning("watchdog: the daemon answers its own Ping again after %.1f s of"
                        " silence", report.last_silence_s)
        self._write()

    def _write(self) -> None:
        tmp = self.report_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as f:
            f.write(msgspec.json.encode(self.report))
        os.replace(tmp, self.report_path)


def read_report(path: Path) -> WatchdogReport | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=WatchdogReport)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None
