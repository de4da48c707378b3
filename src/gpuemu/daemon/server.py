"""The daemon: a thin NNG REP loop around ``handlers.dispatch``.

Several REP contexts are served by their own threads, so a slow reference script
on one request never blocks a Ping on another. Shutdown stops taking requests,
lets the ones in flight finish and answer, then closes the socket.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import stat
import threading
import time
from pathlib import Path

import pynng

from .. import paths, shm
from ..config import DaemonSettings, find_config, load_config
from ..errors import GpuemuError, InvalidRequest
from ..protocol import Form, encode_message, error_response
from .executor import Executor
from .pool import Limits
from . import artifact_handlers  # noqa: F401  (registers the artifact handlers)
from . import ci  # noqa: F401  (registers RunCi and GetCiSummary)
from . import fuzzing  # noqa: F401  (registers the fuzzing handlers)
from .handlers import dispatch
from .state import ConfigSource, DaemonState
from .storage import Storage

log = logging.getLogger("gpuemu.daemon")
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
TRANSPORT_SLACK = 2
"""Requests up to TRANSPORT_SLACK x max_message_bytes are read and answered with an
InvalidRequest that gives the limit. NNG drops bigger ones after reading their length, so
that no request makes the daemon buffer more: it closes the connection, which the gpuemu
Client reports at once as a lost connection (a plain REQ socket re-sends until it times out)."""


class DaemonAlreadyRunning(GpuemuError, RuntimeError):
    """A live daemon answers on the socket; a second one must not steal it."""


class Daemon:
    def __init__(self, state: DaemonState, socket_path: Path, *, pid_file: Path | None = None,
                 contexts: int = 8, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        self.state = state
        self.socket_path = socket_path
        self.pid_file = pid_file
        self.contexts = contexts
        self.max_message_bytes = max_message_bytes
        self._in_flight = 0
        self._idle = threading.Condition()
        self._sock: pynng.Rep0 | None = None

    def serve(self) -> None:
        """Bind, serve until a Shutdown request or SIGTERM/SIGINT, then drain and close."""
        claim_socket(self.socket_path)
        self._sock = pynng.Rep0(recv_max_size=TRANSPORT_SLACK * self.max_message_bytes)
        try:
            self._sock.listen(paths.socket_url(self.socket_path))
        except pynng.exceptions.AddressInUse:
            self._sock.close()
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
        workers = [threading.Thread(target=self._serve_context, name=f"gpuemu-ctx-{i}",
                                    daemon=True) for i in range(self.contexts)]
        for w in workers:
            w.start()
        try:
            while not self.state.shutdown.wait(0.5):
                pass
        finally:
            self._drain()
            self._sock.close()
            for w in workers:
                w.join(timeout=5)
            shm.withdraw(self.socket_path)
            if self.socket_path.exists():
                self.socket_path.unlink()
            if self.pid_file and self.pid_file.exists():
                self.pid_file.unlink()
            log.info("stopped")

    def _serve_context(self) -> None:
        assert self._sock is not None
        ctx = self._sock.new_context()
        try:
            while True:
                try:
                    data = ctx.recv()
                except pynng.exceptions.Closed:
                    return
                with self._idle:
                    self._in_flight += 1
                try:
                    ctx.send(self._answer(data))
                except pynng.exceptions.Closed:
                    return
                except pynng.exceptions.NNGException:
                    log.exception("could not send a reply (client went away?)")
                finally:
                    with self._idle:
                        self._in_flight -= 1
                        self._idle.notify_all()
        finally:
            with contextlib.suppress(pynng.exceptions.Closed):
                ctx.close()  # now: closed by __del__ after the socket, it prints an error

    def _answer(self, data: bytes) -> bytes:
        if len(data) <= self.max_message_bytes:
            return dispatch(self.state, data)
        log.warning("refused a request of %d bytes (max_message_bytes %d)", len(data),
                    self.max_message_bytes)
        form = Form.MSGPACK if data[0] >= 0x80 else Form.FLAT  # too big to parse for its form
        return encode_message(error_response(InvalidRequest(
            f"the request is {len(data)} bytes, over this daemon's max_message_bytes of"
            f" {self.max_message_bytes}; send smaller tensors, or raise max_message_bytes in the"
            " [daemon] table of gpuemu.toml and restart the daemon (requests over"
            f" {TRANSPORT_SLACK * self.max_message_bytes} bytes are dropped unanswered)")), form)

    def _drain(self, timeout_s: float = 300.0) -> None:
        """Wait for requests in flight (including the Shutdown itself) to be answered."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(0.1)
        time.sleep(0.05)  # let NNG flush the last reply before the socket closes


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


def socket_answers(path: Path, timeout_ms: int = 1000) -> bool:
    """True when a daemon answers a Ping on ``path`` within ``timeout_ms``."""
    try:
        with pynng.Req0(dial=paths.socket_url(path), block_on_dial=True, resend_time=-1,
                        send_timeout=timeout_ms, recv_timeout=timeout_ms) as sock:
            sock.send(b'{"type":"Ping"}')
            return b"Pong" in sock.recv()
    except pynng.exceptions.NNGException:
        return False


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
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: state.shutdown.set())
    try:
        Daemon(state, paths.socket_path(), pid_file=paths.pid_file(home),
               max_message_bytes=(settings.max_message_bytes if settings
                                  else DEFAULT_MAX_MESSAGE_BYTES)).serve()
    finally:
        executor.close()
        storage.close()
