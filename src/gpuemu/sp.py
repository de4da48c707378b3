"""NNG's request/reply protocol over an ipc socket, spoken by gpuemu itself.

pynng hands every message from NNG's I/O thread to the thread that waits for it: one
more thread wake-up per message, on a small VM about 100 us of each side of a round
trip. The wire protocol is small (NNG's SP-over-IPC mapping and its req/rep headers), so
the Client (``ReqConnection``) and the daemon (``RepConnection``) speak it on plain Unix
sockets and read each message in the thread that handles it. Any NNG REQ client (the
specification's pynng client among them) talks to the daemon as before.

A connection opens with an 8-byte SP header each way (``\\0SP\\0``, the 16-bit protocol
number, two zero bytes), after which each message is one byte 0x01, a 64-bit big-endian
length and the payload. A request's payload starts with its backtrace: 32-bit words, the
last of which (the request ID) has its top bit set; REP echoes the backtrace at the start
of the reply, so a REQ tells a late reply to a request it gave up on from the awaited one
and skips it, as NNG's REQ does.
"""

from __future__ import annotations

import array
import fcntl
import itertools
import os
import random
import select
import socket
import struct
import termios
import threading
import time
import weakref
from pathlib import Path

REQ0, REP0 = 0x30, 0x31
MAX_HOPS = 8
"""Backtrace words a REP accepts before the request ID (NNG's default maximum TTL)."""
_SP = struct.Struct(">4sHH")
_FRAME = struct.Struct(">BQ")
_ID = struct.Struct(">I")
_MAGIC = b"\0SP\0"
_INLINE = 1 << 16
"""Bodies up to this size go out in one buffer with their header (one write, one wake-up)."""
_NAMES = {REQ0: "REQ", REP0: "REP"}


class Lost(Exception):
    """The peer closed the connection, or broke the protocol (the message says which):
    the connection is of no further use."""


class TooLarge(Lost):
    """A message over the receiver's limit: its payload is left unread."""


class Connection:
    """One SP connection over a connected Unix socket, after the header exchange."""

    def __init__(self, sock: socket.socket, own: int, peer: int, timeout_s: float | None):
        """Exchange SP headers on ``sock`` within ``timeout_s`` (TimeoutError); Lost when the
        peer does not speak protocol ``peer``. The socket is closed on any error."""
        self._sock = sock
        weakref.finalize(self, sock.close)  # one dropped unclosed closes quietly
        self.usable = True  # False once a timeout cut a message short: the stream is lost
        try:
            sock.settimeout(timeout_s)
            sock.sendall(_SP.pack(_MAGIC, own, 0))
            magic, theirs, _ = _SP.unpack(self._read(_SP.size))
            if magic != _MAGIC or theirs != peer:
                raise Lost(f"the peer is not an NNG {_NAMES[peer]} socket (SP header {magic!r},"
                           f" protocol {theirs:#x})")
        except BaseException:
            sock.close()
            raise

    def abort(self) -> None:
        """End a wait on this connection from another thread (it raises Lost)."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        """The socket's descriptor (-1 once closed), for a poller."""
        return self._sock.fileno()

    def hung_up(self) -> bool:
        """Whether the peer has closed its end (a read would find the end of the stream)."""
        try:
            return self._sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):  # open, nothing to read
            return False
        except OSError:  # reset, or closed here
            return True

    def unread(self) -> int:
        """Bytes this side sent that the peer has not read yet (Linux SIOCOUTQ: a Unix
        socket's sent data counts until the reader takes it); 0 once closed."""
        count = array.array("i", [0])
        try:
            fcntl.ioctl(self._sock.fileno(), termios.TIOCOUTQ, count)  # = SIOCOUTQ
        except (OSError, ValueError):
            return 0
        return count[0]

    def _send(self, head: bytes, body: bytes) -> None:
        if len(body) <= _INLINE:
            self._sock.sendall(head + body)
        else:
            self._sock.sendall(head)
            self._sock.sendall(body)

    def _read_header(self, limit: int | None = None) -> int:
        """The next message's payload size; Lost past ``limit`` bytes (its payload unread:
        the stream is then lost), at the end of the stream or on a malformed header."""
        kind, size = _FRAME.unpack(self._read(_FRAME.size, first=True))
        if kind != 1:
            self.usable = False
            raise Lost(f"malformed message header (type {kind}, {size} bytes)")
        if limit is not None and size > limit:
            self.usable = False
            raise TooLarge(f"a message of {size} bytes is over the limit of {limit}")
        return size

    def _read(self, n: int, first: bool = False) -> bytearray:
        """``n`` bytes; ``first``: they start a message (a timeout before any of them
        arrived leaves the stream intact)."""
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            try:
                k = self._sock.recv_into(view[got:])
            except TimeoutError:
                self.usable = first and not got
                raise
            except OSError as exc:  # reset, or closed by abort()
                self.usable = False
                raise Lost(f"the connection was lost ({exc})") from None
            if k == 0:
                self.usable = False
                raise Lost("the peer closed the connection")
            got += k
        return buf


class ReqConnection(Connection):
    """The Client's side: ``exchange`` sends a request and returns its reply. Used by one
    thread at a time, except ``abort``."""

    def __init__(self, path: Path | str, timeout_s: float):
        """Connect (OSError when nothing listens on ``path``) and exchange SP headers
        within ``timeout_s``."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout_s)
            sock.connect(os.fspath(path))
        except BaseException:
            sock.close()
            raise
        super().__init__(sock, REQ0, REP0, timeout_s)
        self._ids = itertools.count(random.getrandbits(31))

    def exchange(self, body: bytes, timeout_s: float | None) -> bytearray:
        """Send ``body`` as a request and wait for its reply; ``timeout_s`` bounds the
        send and the wait (None: no bound). TimeoutError past it: while ``usable``, the
        connection takes the next request and skips this one's late reply. Lost: the
        connection is gone."""
        self._sock.settimeout(timeout_s)
        request_id = _ID.pack((next(self._ids) & 0x7FFF_FFFF) | 0x8000_0000)
        self.usable = False  # until the request is out whole
        try:
            self._send(_FRAME.pack(1, len(body) + _ID.size) + request_id, body)
        except (BrokenPipeError, ConnectionResetError) as exc:  # usable stays False
            raise Lost(f"the connection closed while sending ({exc})") from None
        self.usable = True
        while True:
            size = self._read_header()
            if size < _ID.size:
                self.usable = False
                raise Lost(f"a reply of {size} bytes has no request ID")
            reply_id = self._read(_ID.size)
            body = self._read(size - _ID.size)  # read apart: a large reply is not copied
            if reply_id == request_id:
                return body

    def idle_and_open(self) -> bool:
        """True when nothing waits to be read: a peer that closed (or a daemon that
        exited since the last request) makes the socket readable."""
        try:
            return not select.select([self._sock], [], [], 0)[0]
        except (OSError, ValueError):  # closed here
            return False


class RepConnection(Connection):
    """The daemon's side of one client's connection: one thread at a time receives, any
    thread replies."""

    def __init__(self, sock: socket.socket, timeout_s: float):
        """``sock`` as accepted; the SP headers are exchanged within ``timeout_s``, then
        the connection waits for requests without a bound."""
        super().__init__(sock, REP0, REQ0, timeout_s)
        sock.settimeout(None)
        self._write = threading.Lock()
        self.replied_at = 0.0  # time.monotonic() of the last reply sent

    def receive(self, limit: int) -> tuple[bytes, bytearray] | None:
        """The next request's backtrace and body; None for a malformed one (dropped, as
        NNG does); Lost at the end of the stream or past ``limit`` bytes, its backtrace
        included (as NNG's recv_max_size counts them)."""
        size = self._read_header(limit)
        backtrace = bytearray()
        while size - len(backtrace) >= _ID.size and len(backtrace) < _ID.size * MAX_HOPS:
            backtrace += self._read(_ID.size)
            if backtrace[-_ID.size] & 0x80:  # the request ID ends the backtrace
                return bytes(backtrace), self._read(size - len(backtrace))
        self._read(size - len(backtrace))
        return None

    def reply(self, backtrace: bytes, body: bytes) -> bool:
        """Send ``body`` as the reply to the request of ``backtrace``; False when the
        connection is closed (its client left)."""
        with self._write:
            try:
                self._send(_FRAME.pack(1, len(backtrace) + len(body)) + backtrace, body)
                self.replied_at = time.monotonic()
                return True
            except OSError:
                return False

    def close(self) -> None:
        with self._write:  # not while a reply is being written: its fd could be reused
            super().close()


def listen(path: Path) -> socket.socket:
    """A Unix socket listening on ``path`` (OSError, e.g. EADDRINUSE, when taken)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.fspath(path))
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock
