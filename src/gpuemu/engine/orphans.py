"""Nothing a script starts may outlive it, nor a warm worker its daemon.

Killing a script's process group (``worker.kill_group``) misses what left the group (a
``setsid`` child, a daemonized grandchild). Every script process therefore gets a token
in its environment, which its descendants inherit; ``kill_marked`` finds them by it in
/proc (Linux; a descendant that cleared its environment is not found). A warm worker
runs ``watch_parent``, so that it dies with its daemon even when the daemon was
SIGKILLed while the worker was inside a call (a worker between calls sees its stdin
close anyway).
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time

TOKEN_VAR = "GPUEMU_SCRIPT_TOKEN"
SWEEP_ROUNDS = 10  # looks at /proc per sweep, 2 ms apart while a process is mid-exec
PF_KTHREAD = 0x00200000  # /proc/PID/stat flags bit of kernel threads
PARENT_POLL_S = 1.0
PR_SET_PDEATHSIG = 1  # prctl option: a signal for this process when its parent dies


def kill_marked(token: str, group: int, recent: bool = False) -> list[int]:
    """SIGKILL the processes outside ``group`` whose environment carries ``token``; their
    pids. Linux only (/proc); elsewhere the process group is all that can be killed.

    ``recent``: the group's leader was started a bounded time ago (a case, at most its
    timeout), so its descendants hold the pids allocated since (``_pids``)."""
    needle = f"\0{TOKEN_VAR}={token}\0".encode()
    killed: list[int] = []
    since = group if recent else None
    pending = _pids(since)
    for _ in range(SWEEP_ROUNDS):
        found, unsure = [], []
        for pid in pending:
            env = _environ(pid)
            if needle in env:
                if pid not in killed and _group(pid) != group:
                    found.append(pid)
            elif env == b"\0" and _exec_pending(pid):
                unsure.append(pid)
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
        if found:  # they may have forked while we looked: look at everyone again
            pending = _pids(since)
        elif unsure:
            pending = unsure
            time.sleep(0.002)
        else:
            break
    return killed


def watch_parent() -> None:
    """In a warm worker: kill this process group once the parent (the daemon) is gone.

    Not PR_SET_PDEATHSIG: that fires when the parent *thread* exits, and the daemon
    starts workers from short-lived threads.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="gpuemu-parent-watch").start()


def _exec_pending(pid: int) -> bool:
    """A live user process with no environment: one in the middle of exec() shows none
    for a moment (kernel threads and zombies never have one)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] not in (b"Z", b"X") and not int(fields[6]) & PF_KTHREAD


def _group(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _pids(since: int | None = None) -> list[int]:
    """Live pids; with ``since``, only those allocated after it. Linux hands out pids in
    increasing order, wrapping at pid_max, and ns_last_pid is the latest: a descendant of
    the process ``since`` lies between the two (across the wrap if there was one). Reading
    every process's environment costs ~0.1 ms each, and every case pays the sweep."""
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except FileNotFoundError:  # no /proc: the process group is all we can kill
        return []
    last = _last_pid() if since is not None else None
    if last is None:
        return pids
    if last >= since:
        return [p for p in pids if since < p <= last]
    return [p for p in pids if p > since or p <= last]  # wrapped since


def _last_pid() -> int | None:
    try:
        with open("/proc/sys/kernel/ns_last_pid", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _environ(pid: int) -> bytes:
    """NUL-framed environment of ``pid`` (empty for zombies and others' processes)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return b"\0" + f.read()
    except OSError:
        return b""


def die_with_parent(server: int) -> None:
    """SIGKILL this process (a fork server's child) when its parent, the ``server`` pid, dies:
    the server dies with the executor."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the executor still kills the case at its timeout
    if os.getppid() != server:  # the server died before the line above
        os._exit(1)
