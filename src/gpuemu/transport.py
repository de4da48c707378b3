"""How a Client's requests reach a daemon: a Transport moves encoded bytes, nothing more.

``NngTransport`` is the real one: NNG REQ over the daemon's ipc socket, starting a daemon
when none answers (``auto_start``), with a version handshake on connecting and a
ProgressWatch over long requests. The daemon package adds an in-process transport
(gpuemu.daemon.inprocess) that calls the daemon's dispatch directly, for tests and tools
that need no socket. ``socket_answers`` is the probe the launcher and the server use.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pynng

from . import paths
from .client_errors import START_HINT, ClientError, ConnectionError, check_version
from .progress import ProgressWatch
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
    """NNG REQ over ``socket_path``: one kept connection for short requests, a fresh one
    per long request (FuzzOp, Minimize, RunCi), watched by a ProgressWatch."""

    def __init__(self, socket_path: Path, timeout_ms: int = 30000, *, auto_start: bool = False,
                 config_path: Path | None = None, form: Form = Form.MSGPACK,
                 start_hint: str = START_HINT):
        """``start_hint``: what to do when no daemon answers and none may be started."""
        self.socket_path, self.timeout_ms, self.auto_start = socket_path, timeout_ms, auto_start
        self.config_path, self.form, self.start_hint = config_path, form, start_hint
        self._sock: pynng.Req0 | None = None
        self._lock = threading.Lock()

    def exchange(self, data: bytes, request: Request) -> bytes:
        if not isinstance(request, LONG_REQUESTS):
            return self._exchange(self._socket(), data, request)
        sock = self._dial(recv_timeout_ms=-1)
        try:
            with ProgressWatch(self._probe, self.timeout_ms, sock.close) as watch:
                return self._exchange(sock, data, request, watch)
        finally:
            sock.close()

    def ping(self) -> Pong:
        """One Ping over the kept connection (GpuemuError when no Pong comes back)."""
        reply = decode_response(self.exchange(encode_message(Ping(), self.form), Ping()))
        if not isinstance(reply, Pong):
            raise ClientError(f"daemon answered {type(reply).__name__} to Ping")
        return reply

    @contextmanager
    def _probe(self) -> Iterator[Callable[[], Pong]]:
        with NngTransport(self.socket_path, self.timeout_ms, form=self.form) as probe:
            yield probe.ping

    def _socket(self) -> pynng.Req0:
        with self._lock:
            if self._sock is None:
                sock = self._dial()
                try:
                    reply = self._exchange(sock, encode_message(Ping(), self.form), Ping())
                    check_version(decode_response(reply), self.socket_path)
                except BaseException:
                    sock.close()
                    raise
                self._sock = sock
            return self._sock

    def _dial(self, recv_timeout_ms: int | None = None) -> pynng.Req0:
        url = paths.socket_url(self.socket_path)
        # resend_time -1: NNG's REQ re-sends an unanswered request after 60 s by default, and
        # the daemon would run a long fuzz or CI request a second time.
        opts = dict(recv_timeout=self.timeout_ms if recv_timeout_ms is None else recv_timeout_ms,
                    send_timeout=self.timeout_ms, recv_max_size=0, resend_time=-1)
        try:
            return pynng.Req0(dial=url, block_on_dial=True, **opts)
        except pynng.exceptions.NNGException:
            if not self.auto_start:
                raise ConnectionError(f"no gpuemu daemon answers on {self.socket_path}; "
                                      f"{self.start_hint}") from None
        from .daemon.launcher import start_background  # the daemon package only when needed

        start_background(self.config_path, socket_path=self.socket_path)
        try:
            return pynng.Req0(dial=url, block_on_dial=True, **opts)
        except pynng.exceptions.NNGException as exc:
            raise ConnectionError(f"started a daemon but cannot connect to {self.socket_path}:"
                                  f" {exc}; {START_HINT}") from None

    def _exchange(self, sock: pynng.Req0, data: bytes, request: Request,
                  watch: ProgressWatch | None = None) -> bytes:
        try:
            with sock.new_context() as ctx:
                ctx.send(data)
                return ctx.recv()
        except pynng.exceptions.Timeout:
            raise ConnectionError(
                f"the gpuemu daemon on {self.socket_path} did not answer a {type(request).__name__}"
                f" within {self.timeout_ms} ms; check `gpuemu daemon status` and its log"
                " (`gpuemu daemon logs`), or raise Client(timeout_ms=...)") from None
        except pynng.exceptions.NNGException as exc:
            if watch is not None and watch.stalled:
                raise ConnectionError(
                    f"the gpuemu daemon on {self.socket_path} stopped answering Ping for"
                    f" {self.timeout_ms} ms during a {type(request).__name__};"
                    " check `gpuemu daemon status` and its log (`gpuemu daemon logs`), or raise"
                    " Client(timeout_ms=...)") from None
            raise ConnectionError(f"lost the connection to the gpuemu daemon: {exc}; "
                                  f"{START_HINT}") from None

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def socket_answers(path: Path, timeout_ms: int = 1000) -> bool:
    """True when a daemon answers a Ping on ``path`` within ``timeout_ms``."""
    try:
        with pynng.Req0(dial=paths.socket_url(path), block_on_dial=True, resend_time=-1,
                        send_timeout=timeout_ms, recv_timeout=timeout_ms) as sock:
            sock.send(b'{"type":"Ping"}')
            return b"Pong" in sock.recv()
    except pynng.exceptions.NNGException:
        return False
