"""How a Client's requests reach a daemon: a Transport moves encoded bytes, nothing more.

``NngTransport`` is the real one: NNG REQ over the daemon's ipc socket (spoken by
gpuemu.sp), starting a daemon when none answers (``auto_start``), with a version
handshake on connecting and a ProgressWatch over long requests. The daemon package adds
an in-process transport (gpuemu.daemon.inprocess) that calls the daemon's dispatch
directly, for tests and tools that need no socket. ``socket_answers`` is the probe the
launcher and the server use.
"""

from __future__ import annotations

import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .client_errors import START_HINT, ClientError, ConnectionError, check_version
from .progress import ProgressWatch
from .sp import Lost, ReqConnection
from .protocol import (
    Form, FuzzOp, Minimize, Ping, Pong, Request, RunCi, decode_response, encode_message,
)

LONG_REQUESTS = (FuzzOp, Minimize, RunCi)
"""Requests that wait as long as the daemon makes progress, not ``timeout_ms``."""


class Transport(ABC):
    """Carries one encoded request to a daemon and returns its encoded reply."""

    @abstractmethod
    def exchange(self, data: bytes, request: Request) -> bytes:
        """The reply to ``data`` (``request`` encoded); ConnectionError when none comes."""

    def close(self) -> None:
        """Release the connection (a later exchange opens a new one)."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NngTransport(Transport):
    """NNG REQ over ``socket_path``: kept connections for short requests (as many as
    threads send at once), a fresh one per long request (FuzzOp, Minimize, RunCi),
    watched by a ProgressWatch. A kept connection whose daemon went away is replaced,
    waiting up to ``timeout_ms`` for a restarting daemon as NNG's own REQ socket would."""

    def __init__(self, socket_path: Path, timeout_ms: int = 30000, *, auto_start: bool = False,
                 config_path: Path | None = None, form: Form = Form.MSGPACK,
                 start_hint: str = START_HINT):
        """``start_hint``: what to do when no daemon answers and none may be started."""
        self.socket_path, self.timeout_ms, self.auto_start = socket_path, timeout_ms, auto_start
        self.config_path, self.form, self.start_hint = config_path, form, start_hint
        self._idle: list[ReqConnection] = []
        self._lock = threading.Lock()
        self._connected = False  # a daemon answered (and its version was checked) once
        self._pid = os.getpid()  # a forked child must not share its parent's connections

    def exchange(self, data: bytes, request: Request) -> bytes:
        if isinstance(request, LONG_REQUESTS):
            conn = self._connect(request)
            try:
                with ProgressWatch(self._probe, self.timeout_ms, conn.abort) as watch:
                    return self._exchange(conn, data, request, watch)
            finally:
                conn.close()
        conn = self._take(request)
        try:
            return self._exchange(conn, data, request)
        finally:
            with self._lock:
                if conn.usable:
                    self._idle.append(conn)
                else:
                    conn.close()

    def ping(self) -> Pong:
        """One Ping over a kept connection (GpuemuError when no Pong comes back)."""
        reply = decode_response(self.exchange(encode_message(Ping(), self.form), Ping()))
        if not isinstance(reply, Pong):
            raise ClientError(f"daemon answered {type(reply).__name__} to Ping")
        return reply

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @contextmanager
    def _probe(self) -> Iterator[Callable[[], Pong]]:
        with NngTransport(self.socket_path, self.timeout_ms, form=self.form) as probe:
            yield probe.ping

    def _take(self, request: Request) -> ReqConnection:
        """An idle kept connection that is still open, else a new one."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the connections are the parent's
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                conn = self._idle.pop()
                if conn.idle_and_open():
                    return conn
                conn.close()  # its daemon exited (or a late reply waits): not reused
        return self._connect(request)

    def _connect(self, request: Request) -> ReqConnection:
        """A new connection; the first one checks the daemon's version."""
        conn = self._dial(request)
        if not self._connected:
            try:
                reply = self._exchange(conn, encode_message(Ping(), self.form), Ping())
                check_version(decode_response(reply), self.socket_path)
            except BaseException:
                conn.close()
                raise
            self._connected = True
        return conn

    def _open(self) -> ReqConnection:
        return ReqConnection(self.socket_path, self.timeout_ms / 1000)

    def _dial(self, request: Request) -> ReqConnection:
        try:
            return self._open()
        except (OSError, Lost):
            pass
        if self._connected:  # it answered before: wait for it, as for a late reply
            return self._redial(request)
        if not self.auto_start:
            raise ConnectionError(f"no gpuemu daemon answers on {self.socket_path}; "
                                  f"{self.start_hint}")
        from .daemon.launcher import start_background  # the daemon package only when needed

        start_background(self.config_path, socket_path=self.socket_path)
        try:
            return self._open()
        except (OSError, Lost) as exc:
            raise ConnectionError(f"started a daemon but cannot connect to {self.socket_path}:"
                                  f" {exc}; {START_HINT}") from None

    def _redial(self, request: Request) -> ReqConnection:
        """Connect again within ``timeout_ms`` (a daemon restarting comes back by then)."""
        deadline = time.monotonic() + self.timeout_ms / 1000
        pause = 0.01
        while time.monotonic() < deadline:
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(2 * pause, 0.25)
            try:
                return self._open()
            except (OSError, Lost):
                continue
        raise self._timed_out(request)

    def _exchange(self, conn: ReqConnection, data: bytes, request: Request,
                  watch: ProgressWatch | None = None) -> bytes:
        try:  # a long request waits as long as its watch sees the daemon answer
            return conn.exchange(data, None if watch else self.timeout_ms / 1000)
        except TimeoutError:
            raise self._timed_out(request) from None
        except (Lost, OSError) as exc:
            if watch is not None and watch.stalled:
                raise ConnectionError(
                    f"the gpuemu daemon on {self.socket_path} stopped answering Ping for"
                    f" {self.timeout_ms} ms during a {type(request).__name__};"
                    " check `gpuemu daemon status` and its log (`gpuemu daemon logs`), or raise"
                    " Client(timeout_ms=...)") from None
            raise ConnectionError(f"lost the connection to the gpuemu daemon: {exc}; "
                                  f"{START_HINT}") from None

    def _timed_out(self, request: Request) -> ConnectionError:
        return ConnectionError(
            f"the gpuemu daemon on {self.socket_path} did not answer a {type(request).__name__}"
            f" within {self.timeout_ms} ms; check `gpuemu daemon status` and its log"
            " (`gpuemu daemon logs`), or raise Client(timeout_ms=...)")


def socket_answers(path: Path, timeout_ms: int = 1000) -> bool:
    """True when a daemon answers a Ping on ``path`` within ``timeout_ms``."""
    try:
        conn = ReqConnection(path, timeout_ms / 1000)
        try:
            return b"Pong" in conn.exchange(b'{"type":"Ping"}', timeout_ms / 1000)
        finally:
            conn.close()
    except (OSError, Lost):
        return False
