"""The daemon watches its own Ping path: a thread pings the socket over a fresh
connection, as a client would, and says in the log and in ``daemon.watchdog`` (read by
``gpuemu daemon status``) when the daemon stops answering, and when it answers again.

A deaf daemon cannot report itself in a Pong, hence the file. The file is opened once
and rewritten in place, because the commonest deafness (no file descriptor left: every
accept fails) would also stop the watchdog from creating a file.
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
REPORT_WIDTH = 256  # bytes; a report is about 120


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
        self._fd: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpuemu-watchdog", daemon=True)

    def start(self) -> Watchdog:
        self._fd = os.open(self.report_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._write()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=PROBE_TIMEOUT_MS / 1000 + 1)
        self.report_path.unlink(missing_ok=True)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # a watchdog that dies would report nothing ever again
                log.exception("watchdog: one check failed; it goes on checking")

    def check(self) -> None:
        """One self-Ping; logs and records a change between answering and silent."""
        try:
            answered = self.probe()
        except OSError:  # e.g. EMFILE: no socket can be made, so no client is answered either
            answered = False
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
        """Rewrite the open file in place, padded with blanks to a fixed width, so that a
        reader never sees the tail of a longer, older report (JSON ignores the blanks)."""
        data = msgspec.json.encode(self.report).ljust(REPORT_WIDTH)
        os.pwrite(self._fd, data, 0)


def read_report(path: Path) -> WatchdogReport | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=WatchdogReport)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None
