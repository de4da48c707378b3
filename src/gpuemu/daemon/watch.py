"""Connections whose reading thread is busy answering, watched by one thread.

Each connection has one thread that reads its requests. That thread used to let another
thread take over the reading as soon as it had a request, so that a pipelined request
(NNG contexts) or a hang-up (which cancels the work) was seen while it answered: a
thread wake-up per request, ~30-60 us on these VMs with the GIL passed back and forth:
a small ValidateOp took 6-11% longer (docs/performance.md). Now the thread keeps its
connection: it answers, then reads the next request itself. While it answers, the
connection is ``arm``ed: one thread waits in epoll on all armed connections and hands
one that becomes readable (a request, or its client gone) to ``on_ready``, which gives
it a thread of its own. Arming and ``disarm``ing are system calls, not wake-ups; a
request that arrives after the answer is read by the thread that answered.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable

from ..sp import RepConnection

EVENTS = select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLONESHOT


class Watch:
    """The armed connections; ``on_ready(conn)`` runs on the watching thread."""

    def __init__(self, on_ready: Callable[[RepConnection], None]):
        self._on_ready = on_ready
        self._epoll = select.epoll()
        self._lock = threading.Lock()
        self._armed: dict[int, RepConnection] = {}  # fd -> its connection, while it is armed
        self._wake_r, self._wake_w = os.pipe()  # close() ends the watching thread
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._closed = False
        threading.Thread(target=self._run, name="gpuemu-watch", daemon=True).start()

    def arm(self, conn: RepConnection) -> None:
        """Hand ``conn`` to ``on_ready`` once it has something to read."""
        fd = conn.fileno()
        with self._lock:
            self._armed[fd] = conn
            if self._closed or fd < 0:
                return  # closing: the daemon ends every connection itself
            try:
                self._epoll.modify(fd, EVENTS)
            except FileNotFoundError:  # first armed, or its fd was closed and reused since
                self._epoll.register(fd, EVENTS)

    def disarm(self, conn: RepConnection) -> bool:
        """Take ``conn`` back to read it here; False when it was handed on already."""
        fd = conn.fileno()
        with self._lock:
            if self._armed.get(fd) is not conn:
                return False
            del self._armed[fd]
            if not self._closed:
                try:
                    self._epoll.modify(fd, 0)
                except OSError:  # closed meanwhile: nothing left to watch
                    pass
            return True

    def close(self) -> None:
        """Stop watching (the daemon is closing every connection)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        os.write(self._wake_w, b"x")

    def _run(self) -> None:
        while True:
            events = self._epoll.poll()
            with self._lock:
                if self._closed:
                    self._epoll.close()
                    os.close(self._wake_r)
                    os.close(self._wake_w)
                    return
                # None: disarmed as the event came (or the wake-up pipe's)
                ready = [conn for fd, _ in events if (conn := self._armed.pop(fd, None))]
            for conn in ready:
                self._on_ready(conn)
