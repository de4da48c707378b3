"""The daemon: a thin request/reply loop around ``routes.dispatch``.

The daemon speaks NNG's REP protocol itself (gpuemu.sp): any NNG REQ client talks to it.
Each connection has one thread that reads its requests and answers them; while it
answers one, the connection is watched (daemon.watch), and a request that arrives
meanwhile, or the client hanging up, gets a thread of its own. No request is handed from
thread to thread (a wake-up) on its way. A request therefore never waits for another,
however long that runs, and a Ping is answered at once. A request
whose client hangs up while it runs is cancelled at its next case boundary: abandoned
work no longer piles up in front of live clients. Shutdown cancels the work in flight
the same way, waits at most DRAIN_S for the replies and LINGER_S for the clients to read
them, then closes every connection.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .. import paths, shm, sp
from ..config import DaemonSettings, find_config, load_config
from ..errors import GpuemuError, InternalError, InvalidRequest
from ..protocol import Ping, Shutdown, decode_request, encode_message, error_response, framing
from ..engine.executor import Executor
from ..engine.pool import Limits
from ..transport import socket_answers
from .routes import dispatch
from .state import CURRENT_CANCEL, Cancel, ConfigSource, DaemonState
from .storage import Storage
from .watch import Watch
from .watchdog import PROBE_TIMEOUT_MS, Watchdog

log = logging.getLogger("gpuemu.daemon")
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
TRANSPORT_SLACK = 2
"""Requests up to TRANSPORT_SLACK x max_message_bytes are read and answered with an
InvalidRequest that gives the limit. A bigger one closes its connection once its length
is read, as NNG's recv_max_size does, so that no request makes the daemon buffer more;
the gpuemu Client reports that at once as a lost connection."""
MAX_REQUESTS = 128
"""Requests handled at once; beyond it a request other than Ping or Shutdown is answered
at once with an error saying so."""
DRAIN_S = 3.0
"""How long shutdown waits for the replies of cancelled work (each stops at its next case
boundary) before it closes the connections: the daemon exits within ~5 s of Shutdown/SIGTERM
(DRAIN_S, then LINGER_S at most)."""
LINGER_S = 1.0
"""How long closing waits, at most, for clients to take their last replies (the
Shutdown's among them). NNG fails a request with "Connection reset" when its connection
hangs up before the reply has reached the request: its poller drops a reply still unread
when it sees the hang-up, and a reply read on one thread reaches the request on another."""
SETTLE_S = 0.2
"""How long a connection stays open after its last reply, once that reply is read, unless
its client has closed it."""
HANDSHAKE_S = 10.0
"""How long a new connection may take to send its protocol header."""
IDLE_THREADS = 4
"""Server threads kept waiting once a burst of concurrent requests is over."""
ACCEPT_RETRY_S = 0.1
"""How soon a failed accept (no file descriptor left) is tried again."""


class DaemonAlreadyRunning(GpuemuError, RuntimeError):
    """A live daemon answers on the socket; a second one must not steal it."""


class Threads:
    """Threads that run submitted calls: an idle one takes the next, else a new one
    starts, so a call never waits for a busy thread; up to ``kept`` stay idle."""

    def __init__(self, kept: int):
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._kept = kept

    def submit(self, fn: Callable[..., None], *args) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._calls.put((fn, args))
        if start:
            threading.Thread(target=self._run, name="gpuemu-server", daemon=True).start()

    def _run(self) -> None:
        while True:
            fn, args = self._calls.get()
            try:
                fn(*args)
            except Exception:  # a bug must not cost the daemon a thread's place
                log.exception("internal error in the server loop")
            with self._lock:
                if self._idle >= self._kept:
                    return
                self._idle += 1


class Daemon:
    def __init__(self, state: DaemonState, socket_path: Path, *, pid_file: Path | None = None,
                 watchdog_file: Path | None = None, max_requests: int = MAX_REQUESTS,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 request_timeout_s: float | None = None):
        self.state = state
        self.request_timeout_s = request_timeout_s  # past it, a request stops at its next case boundary
        self.socket_path = socket_path
        self.pid_file = pid_file
        self.watchdog_file = watchdog_file
        self.max_requests = max_requests
        self.max_message_bytes = max_message_bytes
        self._lock = threading.Condition()
        self._in_flight: dict[int, tuple[sp.RepConnection, Cancel]] = {}  # key -> (its client, cancel)
        self._connections: set[sp.RepConnection] = set()
        self._threads = Threads(IDLE_THREADS)
        self._watch = Watch(lambda conn: self._threads.submit(self._turn, conn))
        self._key = 0
        self._listener: socket.socket | None = None
        self._closing = False

    def serve(self) -> None:
        """Bind, serve until a Shutdown request or SIGTERM/SIGINT, then drain and close."""
        claim_socket(self.socket_path)
        try:
            self._listener = sp.listen(self.socket_path)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise DaemonAlreadyRunning(f"another gpuemu daemon took {self.socket_path} while this"
                                       " one was starting; use `gpuemu daemon status`") from None
        os.chmod(self.socket_path, 0o600)
        _publish_shared_memory(self.socket_path)  # the socket is ours: so is its directory
        if self.pid_file:
            fd = os.open(self.pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # owner-only whatever the umask (or a stale file's mode)
            with open(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
        # Logged before the first answer, so whoever sees a Pong also finds this line.
        log.info("listening on %s (pid %d)", paths.socket_url(self.socket_path), os.getpid())
        threading.Thread(target=self._accept, name="gpuemu-accept", daemon=True).start()
        watchdog = self.watchdog_file and Watchdog(
            lambda: socket_answers(self.socket_path, PROBE_TIMEOUT_MS), self.watchdog_file).start()
        try:
            while not self.state.shutdown.wait(0.5):
                pass
        finally:
            if watchdog:
                watchdog.stop()
            self._drain()
            self._close()
            shm.withdraw(self.socket_path)
            if self.socket_path.exists():
                self.socket_path.unlink()
            if self.pid_file and self.pid_file.exists():
                self.pid_file.unlink()
            log.info("stopped")

    def _accept(self) -> None:
        assert self._listener is not None
        failing = False
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError as exc:
                if self._closing:
                    return
                # Out of file descriptors, say: the client waits in the backlog meanwhile
                # (the watchdog reports a daemon that stays deaf).
                if not failing:
                    log.warning("cannot accept connections (%s); retrying", exc)
                failing = True
                time.sleep(ACCEPT_RETRY_S)
                continue
            failing = False
            self._threads.submit(self._open, sock)

    def _open(self, sock: socket.socket) -> None:
        """Exchange protocol headers with a new client, then wait for its first request."""
        try:
            conn = sp.RepConnection(sock, HANDSHAKE_S)
        except (OSError, sp.Lost) as exc:
            log.info("refused a connection: %s", exc)
            return
        with self._lock:  # after _close has ended every connection, none is added
            closing = self._closing
            if not closing:
                self._connections.add(conn)
        if closing:
            conn.close()
        else:
            self._turn(conn)

    def _turn(self, conn: sp.RepConnection) -> None:
        """Answer ``conn``'s requests one after another for as long as this thread keeps
        the connection (daemon.watch)."""
        while self._answer_next(conn):
            pass

    def _answer_next(self, conn: sp.RepConnection) -> bool:
        """Receive ``conn``'s next request and answer it, watched meanwhile; False when
        another thread reads the connection now, or it is gone."""
        try:
            received = conn.receive(TRANSPORT_SLACK * self.max_message_bytes)
        except (OSError, sp.Lost) as exc:
            if isinstance(exc, sp.TooLarge) or not isinstance(exc, sp.Lost):
                log.warning("closed a connection: %s", exc)
            self._hang_up(conn)
            return False
        if received is None:
            return True  # no request ID in its header: NNG drops such a message too
        backtrace, data = received
        cancel = Cancel(self.request_timeout_s)
        with self._lock:
            busy = len(self._in_flight) >= self.max_requests
            if not busy:
                self._key += 1
                key = self._key
                self._in_flight[key] = (conn, cancel)
                if self.state.shutdown.is_set():
                    cancel.set("the daemon is shutting down")
        self._watch.arm(conn)  # in flight first: a hang-up seen from now on cancels it
        if busy:
            conn.reply(backtrace, self._busy_answer(data))
            return self._watch.disarm(conn)
        CURRENT_CANCEL.set(cancel)
        try:
            if not conn.reply(backtrace, self._answer(data)):
                log.info("a client left before its reply")
        finally:
            with self._lock:
                del self._in_flight[key]
                self._lock.notify_all()
        return self._watch.disarm(conn)

    def _hang_up(self, conn: sp.RepConnection) -> None:
        """``conn``'s client hung up: cancel what it asked for and is still running."""
        with self._lock:
            self._connections.discard(conn)
            for owner, cancel in self._in_flight.values():
                if owner is conn:
                    cancel.set("its client closed the connection")
        conn.close()

    def _answer(self, data: bytes) -> bytes:
        if len(data) <= self.max_message_bytes:
            return dispatch(self.state, data)
        log.warning("refused a request of %d bytes (max_message_bytes %d)", len(data),
                    self.max_message_bytes)
        return encode_message(error_response(InvalidRequest(
            f"the request is {len(data)} bytes, over this daemon's max_message_bytes of"
            f" {self.max_message_bytes}; send smaller tensors, or raise max_message_bytes in the"
            " [daemon] table of gpuemu.toml and restart the daemon (requests over"
            f" {TRANSPORT_SLACK * self.max_message_bytes} bytes are dropped unanswered)")),
            framing(data))  # too big to parse for its form

    def _busy_answer(self, data: bytes) -> bytes:
        """Ping and Shutdown are answered even when MAX_REQUESTS are in flight; others not."""
        with contextlib.suppress(Exception):  # not decodable: not a Ping
            if len(data) <= 4096 and isinstance(decode_request(data)[0], (Ping, Shutdown)):
                return dispatch(self.state, data)
        return encode_message(error_response(InternalError(
            f"the daemon is handling {self.max_requests} requests already, its limit; retry"
            " when some have finished (Ping lists the long ones in `jobs`)")), framing(data))

    def _drain(self) -> None:
        """Cancel the work in flight and wait up to DRAIN_S for its replies (the Shutdown's too)."""
        deadline = time.monotonic() + DRAIN_S
        with self._lock:
            for _, cancel in self._in_flight.values():
                cancel.set("the daemon is shutting down")
            while self._in_flight and time.monotonic() < deadline:
                self._lock.wait(0.05)
            if self._in_flight:
                log.warning("closing with %d requests unanswered after %.0f s",
                            len(self._in_flight), DRAIN_S)

    def _close(self) -> None:
        """Stop accepting and end every connection (their waiting threads see them close)."""
        assert self._listener is not None
        with self._lock:
            self._closing = True
            connections = list(self._connections)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        self._watch.close()
        _linger(connections)
        for conn in connections:
            conn.abort()


def _linger(connections: list[sp.RepConnection]) -> None:
    """Until every client has read what was sent to it and closed its end or had SETTLE_S
    since its last reply, or LINGER_S passed: idle connections do not wait."""
    deadline = time.monotonic() + LINGER_S
    while True:
        now = time.monotonic()
        unread = [conn for conn in connections if conn.unread()]
        if not unread and all(now - conn.replied_at >= SETTLE_S or conn.hung_up()
                              for conn in connections):
            return
        if now >= deadline:
            log.info("closing %d connections whose clients did not read their last reply"
                     " within %.0f s", len(unread), LINGER_S)
            return
        time.sleep(0.005)  # a reader's progress wakes nothing here


def claim_socket(path: Path) -> None:
    """Make ``path`` ours to listen on: refuse a live daemon or a foreign socket, remove a stale one."""
    if not path.parent.exists() or path.parent == paths.home():
        paths.ensure_private_dir(path.parent)  # never chmod a shared dir named by GPUEMU_SOCKET
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if st.st_uid != os.getuid():
        raise DaemonAlreadyRunning(
            f"{path} belongs to uid {st.st_uid}, not you (uid {os.getuid()}); refusing to use"
            " another user's socket. Set GPUEMU_HOME or GPUEMU_SOCKET to a directory of your own"
        )
    if not stat.S_ISSOCK(st.st_mode):
        raise DaemonAlreadyRunning(f"{path} exists and is not a socket; move it away or set"
                                   " GPUEMU_SOCKET to another path")
    if socket_answers(path):
        raise DaemonAlreadyRunning(
            f"a gpuemu daemon is already running on {path}; stop it with `gpuemu daemon stop`"
            " or use another GPUEMU_HOME"
        )
    log.info("removing stale socket %s left by a daemon that died", path)
    path.unlink()


def setup_logging(log_dir: Path, *, to_stderr: bool) -> Path:
    paths.ensure_private_dir(log_dir)
    log_file = log_dir / "daemon.log"
    handlers: list[logging.Handler] = [logging.FileHandler(log_file)]
    os.chmod(log_file, 0o600)
    if to_stderr:
        handlers.append(logging.StreamHandler())
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger = logging.getLogger("gpuemu")
    logger.handlers.clear()
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    logger.setLevel(logging.INFO)
    return log_file


def _publish_shared_memory(socket: Path) -> None:
    """A fresh shared-memory directory for large tensors (gpuemu.shm); the previous run's
    goes, with whatever a crashed client, daemon or worker left in it."""
    where = shm.publish(socket)
    log.info("shared memory for large tensors: %s", where or "off (tensors travel inline)")


def executor_settings(settings: DaemonSettings) -> dict:
    """The Executor's arguments from [daemon] (0 means the default there and here)."""
    return {"max_workers_per_script": settings.workers or None,
            "limits": Limits(max_workers=settings.max_workers or None,
                             max_memory_mb=settings.max_worker_memory_mb or None,
                             idle_timeout_s=settings.worker_idle_timeout_s)}


def run_daemon(config_path: Path | None = None, *, foreground_logs: bool = True) -> None:
    """Start a daemon for the project at ``config_path`` (default: found from cwd) and block."""
    home = paths.ensure_private_dir(paths.home())
    setup_logging(paths.log_dir(home), to_stderr=foreground_logs)
    config_path = config_path or find_config()
    settings = load_config(config_path).daemon if config_path else None
    log.info("gpuemu daemon starting; project config: %s; database: %s",
             config_path or "(none)", paths.db_path(home))
    storage = Storage.open(paths.db_path(home))
    executor = Executor(**executor_settings(settings)) if settings else Executor()
    state = DaemonState(config=ConfigSource(config_path), storage=storage, executor=executor)
    # The settings read above, not config.get(): a config cached now would hide later edits.
    if pruned := state.prune(settings or DaemonSettings()):
        log.info("pruned %d passing results ([daemon] keep_passing_days/keep_passing_results)",
                 pruned)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: state.shutdown.set())
    try:
        settings = settings or DaemonSettings()
        Daemon(state, paths.socket_path(settings.socket), pid_file=paths.pid_file(home),
               watchdog_file=paths.watchdog_file(home), max_message_bytes=settings.max_message_bytes,
               request_timeout_s=settings.request_timeout_s).serve()
    finally:
        executor.close()
        storage.close()
