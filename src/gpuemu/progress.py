"""Watching a long request: is the daemon still working on it, or stuck?

REQ/REP cannot stream progress. A daemon that answers Ping is working on the request (it
cancels the work of clients that leave, bounds its length, and kills a case past the op's
timeout), so while a long request runs a second connection pings the daemon, and the
request is given up once ``timeout_ms`` pass without an answer: that tells a request of
any length from a stuck or dead daemon.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from .errors import GpuemuError

Probe = Callable[[], AbstractContextManager[Callable[[], object]]]
"""Opens a second connection; the callable it yields pings once (GpuemuError: no answer)."""


class ProgressWatch:
    """While the ``with`` block runs, ping through ``probe`` and call ``give_up`` (which
    must end the request's wait, e.g. by closing its socket) after ``timeout_ms`` without
    an answer; ``stalled`` then says so."""

    def __init__(self, probe: Probe, timeout_ms: int, give_up: Callable[[], None]):
        self.probe, self.timeout_ms, self.give_up = probe, timeout_ms, give_up
        self.stalled = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpuemu-progress", daemon=True)

    def __enter__(self) -> ProgressWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        timeout_s = self.timeout_ms / 1000
        answered = time.monotonic()
        with self.probe() as ping:
            while not self._stop.wait(min(1.0, timeout_s / 4)):
                try:
                    ping()
                    answered = time.monotonic()
                except GpuemuError:
                    if time.monotonic() - answered >= timeout_s and not self._stop.is_set():
                        self.stalled = True
                        self.give_up()
                        return
