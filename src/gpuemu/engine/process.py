"""A script's process: started in a session of its own under an address-space cap
(``spawn``), its stderr drained into the last lines an error quotes, killed with its
process group and whatever escaped it. Warm workers, fork servers and one-shot runs
all start and end this way."""

from __future__ import annotations

import logging
import os
import secrets
import select
import signal
import subprocess
import threading
from collections import deque

from ..errors import ReferenceScriptFailed
from .limits import limit_memory
from .orphans import TOKEN_VAR, kill_marked
from .tracebacks import TAIL_LINES  # lines of stderr or traceback quoted in an error

log = logging.getLogger("gpuemu.daemon")


class StderrTail:
    """Drains a child's stderr on a thread into its last lines, so that a chatty
    script never blocks on a full pipe and an error can quote what it printed."""

    def __init__(self, max_lines: int = 4 * TAIL_LINES, max_line: int = 4096):
        self._lines: deque[bytes] = deque(maxlen=max_lines)
        self._partial, self._max_line = b"", max_line
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def drain(self, pipe) -> None:
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True,
                                        name="gpuemu-worker-stderr")
        self._thread.start()

    def _run(self, pipe) -> None:
        with pipe:
            while chunk := os.read(pipe.fileno(), 65536):
                with self._lock:
                    *lines, partial = (self._partial + chunk).split(b"\n")
                    self._lines.extend(line[-self._max_line:] for line in lines)
                    self._partial = partial[-self._max_line:]

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=1.0)  # a grandchild that left the group may hold the pipe

    def tail(self) -> str:
        with self._lock:
            lines = [*self._lines, self._partial]
        return last_lines(b"\n".join(lines))


class ScriptProcess(subprocess.Popen):
    """A script's process in a new session, so that killing its group kills what it forked.

    Its environment also carries a ``token`` (``orphans.TOKEN_VAR``) that descendants
    inherit, so that ``kill_group`` finds those that left the group too (setsid, a
    daemonized grandchild) -- unless one cleared its environment.
    """

    def __init__(self, argv: list[str], cwd: str, stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, env: dict[str, str] | None = None):
        self.token = secrets.token_hex(12)
        super().__init__(argv, cwd=cwd, env={**os.environ, **(env or {}), TOKEN_VAR: self.token},
                         stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                         bufsize=0, start_new_session=True)


def spawn(argv: list[str], cwd: str, max_memory_mb: int | None = None, **streams) -> ScriptProcess:
    """Start ``argv`` as a ScriptProcess whose address space is capped at ``max_memory_mb``."""
    try:
        proc = ScriptProcess(argv, cwd, **streams)
    except OSError as exc:
        raise ReferenceScriptFailed(
            f"script {argv[-1]} could not be started in {cwd}: {exc}"
        ) from None
    limit_memory(max_memory_mb, proc.pid)  # Python is still starting: long before the script
    return proc


def kill_group(proc: ScriptProcess, recent: bool = False) -> None:
    """SIGKILL the script's process group, then whatever it started outside the group
    (``recent``: it is a case or one-shot run, see ``orphans.kill_marked``)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone, or only zombies remain
    if escaped := kill_marked(proc.token, group=proc.pid, recent=recent):
        log.warning("script %s left %d process(es) running outside its process group"
                    " (pids %s); killed them", proc.args[-1], len(escaped), escaped)


def exit_status(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def last_lines(text: bytes | str, n: int = TAIL_LINES) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.rstrip().splitlines()[-n:])


def open_pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux >= 5.3)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def readable(fd: int, timeout_s: float) -> bool:
    poller = select.poll()  # not select.select: fds above 1023 are fine
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout_s * 1000))
