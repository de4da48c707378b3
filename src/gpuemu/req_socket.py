"""NNG's REQ protocol over an ipc socket, spoken by the client itself.

pynng's REQ socket hands every reply from NNG's I/O thread to the waiting thread: one
more thread wake-up per request, a third of a small request's round trip on a VM. The
wire protocol is small (NNG's SP-over-IPC mapping and req/rep headers), so the Client
speaks it on a plain Unix socket and reads each reply in the calling thread. Any NNG
REP peer answers it; the daemon still listens with NNG.

A connection opens with an 8-byte SP header each way (``\\0SP\\0``, the 16-bit protocol
number, two zero bytes), after which each message is one byte 0x01, a 64-bit big-endian
length and the payload. A request's payload starts with a 32-bit request ID whose top bit
is set; REP echoes it at the start of the reply, so a late reply to a request given up
on is told apart and skipped, as NNG's REQ does.
"""

from __future__ import annotations

import itertools
import os
import random
import select
import socket
import struct
import weakref
from pathlib import Path

REQ0, REP0 = 0x30, 0x31
_SP = struct.Struct(">4sHH")
_FRAME = struct.Struct(">BQ")
_ID = struct.Struct(">I")
_MAGIC = b"\0SP\0"
_INLINE = 1 << 16
"""Bodies up to this size go out in one buffer with their header (one write, one wake-up)."""


class Lost(Exception):
    """The peer closed the connection, or broke the protocol (the message says which):
    the connection is of no further use."""


class ReqConnection:
    """One REQ connection: ``exchange`` sends a request and returns its reply. Used by one
    thread at a time, except ``abort``."""

    def __init__(self, path: Path | str, timeout_s: float):
        """Connect (OSError when nothing listens on ``path``) and exchange SP headers
        within ``timeout_s`` (TimeoutError)."""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        weakref.finalize(self, self._sock.close)  # a Client dropped unclosed closes quietly
        self.usable = True  # False once a timeout cut a message short: the stream is lost
        self._ids = itertools.count(random.getrandbits(31))
        try:
            self._sock.settimeout(timeout_s)
            self._sock.connect(os.fspath(path))
            self._sock.sendall(_SP.pack(_MAGIC, REQ0, 0))
            magic, peer, _ = _SP.unpack(self._read(_SP.size))
        except BaseException:
            self._sock.close()
            raise
        if magic != _MAGIC or peer != REP0:
            self._sock.close()
            raise Lost(f"the peer is not an NNG REP socket (SP header {magic!r}, protocol {peer:#x})")

    def exchange(self, body: bytes, timeout_s: float | None) -> bytes:
        """Send ``body`` as a request and wait for its reply; ``timeout_s`` bounds the
        send and the wait (None: no bound). TimeoutError past it: while ``usable``, the
        connection takes the next request and skips this one's late reply. Lost: the
        connection is gone."""
        self._sock.settimeout(timeout_s)
        request_id = (next(self._ids) & 0x7FFF_FFFF) | 0x8000_0000
        head = _FRAME.pack(1, len(body) + _ID.size) + _ID.pack(request_id)
        self.usable = False  # until the request is out whole
        try:
            if len(body) <= _INLINE:
                self._sock.sendall(head + body)
            else:
                self._sock.sendall(head)
                self._sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError) as exc:  # usable stays False
            raise Lost(f"the connection closed while sending ({exc})") from None
        self.usable = True
        while True:
            header = self._read(_FRAME.size + _ID.size, first=True)
            kind, size = _FRAME.unpack_from(header)
            if kind != 1 or size < _ID.size:
                self.usable = False
                raise Lost(f"malformed message header (type {kind}, {size} bytes)")
            payload = self._read(size - _ID.size)
            if _ID.unpack_from(header, _FRAME.size)[0] == request_id:
                return bytes(payload)

    def idle_and_open(self) -> bool:
        """True when nothing waits to be read: a peer that closed (or a daemon that
        exited since the last request) makes the socket readable."""
        try:
            return not select.select([self._sock], [], [], 0)[0]
        except (OSError, ValueError):  # closed here
            return False

    def abort(self) -> None:
        """End a wait in ``exchange`` from another thread (it raises Lost)."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self._sock.close()

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
