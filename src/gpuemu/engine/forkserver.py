"""Fork servers: scripts in the specification's form (JSON on stdin, JSON on stdout, no
``reference``/``run`` to call) at the cost of a fork instead of a Python start-up.

The server is ``python -P -m gpuemu.engine.forkserver SCRIPT`` in its own session. It
imports numpy, compiles the script once and runs the script's leading imports (the
statements before its first non-import, so that an ``os.environ[...] = ...`` that must
precede an import still does); then, per case, it forks a child that becomes a new
session, takes the three pipe ends the executor passed over the control socket as its
stdin, stdout and stderr, and runs the script as ``__main__`` exactly as ``python
SCRIPT`` would. The control channel is a SOCK_SEQPACKET socket on the server's stdin:
one msgpack message per packet, requests Fork (with the descriptors) and Reap (the exit
status of a child the executor saw exit), each answered at once. The executor moves the
case's data over the pipes itself and kills the case's process group at its timeout, so
the isolation is that of a one-shot run.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import io
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np  # the point: every child finds it imported
import numpy.random  # noqa: F401 - else np.random.seed() in each child imports it (~10 ms)

from ..frameworks.cuda_emulation import emulate_if_asked, emulation_env
from .limits import limit_memory
from .orphans import TOKEN_VAR, die_with_parent
from .process import ScriptProcess, StderrTail, kill_group, open_pidfd, readable, spawn

MAX_PACKET = 4096


class Ready(msgspec.Struct, tag=True):
    """The server's first packet: it has preloaded and compiled the script."""


class Fork(msgspec.Struct, tag=True):
    """Run one case; the packet carries its stdin, stdout and stderr descriptors."""

    token: str  # orphans.TOKEN_VAR of this case, for its descendants
    max_memory_mb: int | None = None


class Forked(msgspec.Struct, tag=True):
    pid: int


class Reap(msgspec.Struct, tag=True):
    pid: int


class Reaped(msgspec.Struct, tag=True):
    returncode: int  # as Popen has it: negative for a signal


_Request = Fork | Reap


# --- the server ------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    script = Path((argv or sys.argv)[1]).resolve()
    control = socket.socket(fileno=os.dup(0))
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # what the preloaded imports print goes to the server's stderr
    emulate_if_asked()
    code = _prepare(script)
    control.send(msgspec.msgpack.encode(Ready()))
    decoder = msgspec.msgpack.Decoder(_Request)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, MAX_PACKET, 3)
        except ConnectionError:
            data, fds = b"", []
        if not data:  # the executor closed the channel (or died): the children die with us
            os.killpg(0, signal.SIGKILL)
        request = decoder.decode(data)
        if isinstance(request, Fork):
            server = os.getpid()
            pid = os.fork()
            if pid == 0:
                _child(script, code, fds, request, server)
            for fd in fds:
                os.close(fd)
            reply = Forked(pid=pid)
        else:
            _, status = os.waitpid(request.pid, 0)
            reply = Reaped(returncode=os.waitstatus_to_exitcode(status))
        control.send(msgspec.msgpack.encode(reply))


def _prepare(script: Path) -> types.CodeType | None:
    """Import numpy and the script's leading imports; the script compiled (None when it
    does not compile: each child then compiles it again and reports the SyntaxError)."""
    sys.argv = [str(script)]
    sys.path.insert(0, str(script.parent))  # as `python script.py` would
    source = script.read_bytes()
    try:
        tree = ast.parse(source, str(script))
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            break
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        try:
            exec(compile(ast.Module([node], []), str(script), "exec"), {"__name__": "_preload"})
        except BaseException:  # noqa: BLE001 - the child's own run reports a failing import
            pass
    return compile(tree, str(script), "exec", dont_inherit=True)


def _child(script: Path, code: types.CodeType | None, fds: list[int], request: Fork,
           server: int) -> None:
    """Become ``python SCRIPT`` on the given pipes; never returns."""
    status = 1
    try:
        os.setsid()
        die_with_parent(server)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        os.environ[TOKEN_VAR] = request.token
        limit_memory(request.max_memory_mb)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.stdin = sys.__stdin__ = _stdio(0, "r", sys.stdin.errors)
        sys.stdout = sys.__stdout__ = _stdio(1, "w", sys.stdout.errors)
        sys.stderr = sys.__stderr__ = _stdio(2, "w", "backslashreplace")
        main_module = types.ModuleType("__main__")
        main_module.__file__, main_module.__builtins__ = str(script), builtins
        sys.modules["__main__"] = main_module
        np.random.seed()  # numpy's global generator, fresh per case as in a new process
        status = _run(script, code, main_module.__dict__)
    except BaseException:  # noqa: BLE001 - our own failure, shown as the script's
        traceback.print_exc()
    finally:
        os._exit(status)


def _stdio(fd: int, mode: str, errors: str | None) -> io.TextIOWrapper:
    """A standard stream over ``fd`` as the interpreter makes one (``-u`` included)."""
    unbuffered = getattr(sys.__stdout__, "write_through", False) and mode == "w"  # -u
    binary = open(fd, mode + "b", buffering=0 if unbuffered else -1, closefd=False)
    return io.TextIOWrapper(binary, encoding=sys.getfilesystemencoding(), errors=errors,
                            line_buffering=fd == 2, write_through=unbuffered)


def _run(script: Path, code: types.CodeType | None, namespace: dict) -> int:
    """Run the script and return its exit code, as the interpreter would."""
    try:
        try:
            exec(code or compile(script.read_bytes(), str(script), "exec"), namespace)
            status = 0
        except SystemExit as exc:
            status = _exit_code(exc.code)
        except BaseException:  # noqa: BLE001 - reported as python reports it
            traceback.print_exc()
            status = 1
        threading._shutdown()  # non-daemon threads the script started, as at exit
        atexit._run_exitfuncs()
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - e.g. a broken stdout pipe at the flush
        traceback.print_exc()
        status = status or 1
    try:
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass
    return status


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    main()


# --- the executor's side ---------------------------------------------------------------

OUTPUT_CHUNK = 1 << 20
STDERR_KEPT = 64 << 10  # bytes of a case's stderr kept for its error message


class ServerDied(Exception):
    """The server exited or broke the protocol; a one-shot run takes over."""


@dataclass(frozen=True, slots=True)
class CaseRun:
    """How one case ended: ``returncode`` None when it ran past its deadline."""

    returncode: int | None
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True, slots=True)
class _Case:
    """What ``worker.kill_group`` needs of a process: its group, token and command."""

    pid: int
    token: str
    args: tuple[str, ...]


class ForkServer:
    """The executor's handle on one server. ``run`` may be called from many threads at
    once: only the short Fork and Reap exchanges take turns."""

    def __init__(self, script: str, cwd: str, emulate_cuda: bool = False):
        self.script, self.cwd, self.env = script, cwd, emulation_env(emulate_cuda)
        self.stderr = StderrTail()
        self._proc: ScriptProcess | None = None
        self._control: socket.socket | None = None
        self._pidfd: int | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return None if proc is None else proc.pid

    def start(self, deadline: float) -> bool:
        """Spawn and wait until it has preloaded; False when it could not."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = spawn([sys.executable, "-P", "-m", __spec__.name, self.script], self.cwd,
                               stdin=theirs, stdout=subprocess.DEVNULL, env=self.env)
        finally:
            theirs.close()
        self._control, self._pidfd = ours, open_pidfd(self._proc.pid)
        self.stderr.drain(self._proc.stderr)
        try:
            self._receive(Ready, deadline)
        except (ServerDied, TimeoutError):
            return False
        return True

    def run(self, payload: bytes, deadline: float, max_memory_mb: int | None) -> CaseRun:
        """Run one case on ``payload``; its process group is dead when this returns."""
        ends = [os.pipe() for _ in range(3)]  # stdin, stdout, stderr
        theirs = [ends[0][0], ends[1][1], ends[2][1]]
        token = secrets.token_hex(12)
        try:
            pid = self._exchange(Fork(token=token, max_memory_mb=max_memory_mb), Forked,
                                 deadline, theirs).pid
        except BaseException:
            for fd in (ends[0][1], ends[1][0], ends[2][0]):
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        case = _Case(pid, token, (self.script,))
        try:
            out, err, finished = _talk(payload, ends[0][1], ends[1][0], ends[2][0], case, deadline)
        finally:
            returncode = self._exchange(Reap(pid=pid), Reaped, time.monotonic() + 30).returncode
        return CaseRun(returncode if finished else None, out, err)

    def alive(self) -> bool:
        if self._pidfd is not None:
            return not readable(self._pidfd, 0.0)
        return self._proc is not None and self._proc.poll() is None

    def signal_kill(self) -> None:
        """Kill the server from any thread; its callers' requests then fail (ServerDied)."""
        proc = self._proc
        if proc is not None:
            kill_group(proc)

    def kill(self) -> None:
        """Kill the server (its children die with it) and reap it; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        kill_group(proc)
        proc.wait()
        if self._control is not None:
            self._control.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
        self.stderr.join()

    def _exchange(self, request, kind: type, deadline: float, fds: list[int] = ()):
        with self._lock:
            if self._proc is None:
                raise ServerDied("was stopped")
            try:
                socket.send_fds(self._control, [msgspec.msgpack.encode(request)], list(fds))
                return self._receive(kind, deadline)
            except OSError as exc:
                raise ServerDied(f"closed its control channel ({exc})") from None

    def _receive(self, kind: type, deadline: float):
        poller = select.poll()
        poller.register(self._control, select.POLLIN)
        if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            raise TimeoutError
        data = self._control.recv(MAX_PACKET)
        if not data:
            raise ServerDied("exited")
        try:
            return msgspec.msgpack.decode(data, type=kind)
        except msgspec.DecodeError as exc:
            raise ServerDied(f"sent a malformed {kind.__name__} ({exc})") from None


def _talk(payload: bytes, stdin: int, stdout: int, stderr: int, case: _Case,
          deadline: float) -> tuple[bytes, bytes, bool]:
    """Feed stdin, drain stdout and stderr until the case exits and its pipes close;
    False as the last item when the deadline came first. The case's process group (and
    what it started outside it) is dead on return, on every path."""
    pidfd, killed = open_pidfd(case.pid), False
    poller = select.poll()
    for fd, event in ((stdin, select.POLLOUT), (stdout, select.POLLIN), (stderr, select.POLLIN)):
        os.set_blocking(fd, False)
        poller.register(fd, event)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    out, err, view = bytearray(), bytearray(), memoryview(payload)
    open_fds = {stdin, stdout, stderr}
    try:
        while open_fds - {stdin} or pidfd is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(out), bytes(err), False
            for fd, event in poller.poll(left * 1000):
                if fd == pidfd:  # it exited: whatever it left running must not hold the pipes
                    poller.unregister(pidfd)
                    os.close(pidfd)
                    pidfd, killed = None, True
                    kill_group(case, recent=True)
                elif fd == stdin:
                    try:
                        view = view[os.write(stdin, view[:OUTPUT_CHUNK]):] if view else view
                    except (BrokenPipeError, BlockingIOError):
                        view = view[:0]  # it does not read its input: not our problem
                    if not view:
                        poller.unregister(stdin)
                        os.close(stdin)
                        open_fds.discard(stdin)
                elif chunk := os.read(fd, OUTPUT_CHUNK):
                    if fd == stdout:
                        out += chunk
                    else:
                        err += chunk
                        del err[:-STDERR_KEPT]
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    open_fds.discard(fd)
        return bytes(out), bytes(err), True
    finally:
        if not killed:
            try:
                os.kill(case.pid, signal.SIGKILL)  # in case it has not made its group yet
            except ProcessLookupError:
                pass
            kill_group(case, recent=True)
        for fd in open_fds:
            os.close(fd)
        if pidfd is not None:
            os.close(pidfd)
