"""Start a daemon and wait until it answers: the one way every starter does it.

``start_daemon_and_wait`` serves the Client's auto-start (``start_background``), the
pytest plugin, the test suite's fixtures and the benchmarks. A background daemon is
detached through an intermediate process (``--detach``) that exits at once, so it is
re-parented to init and a long-lived client never collects zombies.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from .. import paths
from ..errors import GpuemuError
from ..transport import socket_answers


class DaemonStartError(GpuemuError, RuntimeError):
    """The background daemon exited or did not answer in time."""


def daemon_command(config_path: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "gpuemu.daemon"]
    return cmd + (["--config", str(Path(config_path).resolve())] if config_path else [])


def spawn_detached(config_path: Path | None) -> None:
    """Run in the intermediate process: start the daemon in a new session and return."""
    log_dir = paths.ensure_private_dir(paths.log_dir(paths.ensure_private_dir(paths.home())))
    with open(log_dir / "daemon.out", "ab") as out:
        subprocess.Popen(daemon_command(config_path) + ["--quiet"], stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def start_daemon_and_wait(config_path: Path | None, socket: Path, *,
                          env: Mapping[str, str] | None = None, output: Path | None = None,
                          cwd: Path | None = None, wait_s: float = 30.0,
                          detach: bool = False) -> subprocess.Popen:
    """Start ``python -m gpuemu.daemon --quiet`` for ``config_path`` (``env``: its whole
    environment, default ours) and return its process once it answers a Ping on ``socket``.

    Its output goes to the file ``output`` (appended), else to a pipe. ``detach`` starts it
    through ``--detach`` instead, which writes it to ``output`` itself (the process returned
    is then the intermediate one, and has exited). DaemonStartError, with the daemon's last
    output, when the daemon exits first or does not answer within ``wait_s`` (then it is
    stopped)."""
    if detach:
        proc = subprocess.Popen(daemon_command(config_path) + ["--detach"], cwd=cwd,
                                env=None if env is None else dict(env), stdin=subprocess.DEVNULL)
    else:
        with open(output, "ab") if output else contextlib.nullcontext(subprocess.PIPE) as out:
            proc = subprocess.Popen(daemon_command(config_path) + ["--quiet"], cwd=cwd,
                                    env=None if env is None else dict(env),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait_s
    while not (socket.exists() and socket_answers(socket, timeout_ms=500)):
        exited = proc.poll() is not None and not (detach and proc.returncode == 0)
        if exited or time.monotonic() > deadline:
            if not detach:
                stop_daemon(proc)  # one that did not answer in time is not left behind
            home = Path(env["GPUEMU_HOME"]) if env and env.get("GPUEMU_HOME") else paths.home()
            raise DaemonStartError(_start_failure(proc, socket, wait_s, output, exited, home))
        time.sleep(0.05)
    return proc


def _start_failure(proc: subprocess.Popen, socket: Path, wait_s: float, output: Path | None,
                   exited: bool, home: Path) -> str:
    what = (f"exited with status {proc.returncode}" if exited
            else f"did not answer on {socket} within {wait_s:g} s")
    if output is not None:
        said = tail(output)
    elif exited and proc.stdout is not None:
        said = proc.stdout.read().decode(errors="replace")
    else:
        said = ""  # its workers may hold its pipe open: its log has the story
    logs = f"{output} and " if output else ""
    return (f"the gpuemu daemon {what}; see {logs}{paths.log_dir(home) / 'daemon.log'}"
            + (f":\n{said}" if said else ""))


def start_background(config_path: Path | None = None, *, socket_path: Path | None = None,
                     wait_s: float = 30.0) -> None:
    """Start a daemon for ``config_path`` unless one answers already; wait until it does."""
    sock = socket_path or paths.socket_path()
    if socket_answers(sock):
        return
    start_daemon_and_wait(config_path, sock, env={**os.environ, "GPUEMU_SOCKET": str(sock)},
                          wait_s=wait_s, detach=True,
                          output=paths.log_dir(paths.home()) / "daemon.out")


def stop_daemon(proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Stop a daemon subprocess this process started: SIGTERM (it drains in-flight
    requests and exits), then SIGKILL if it has not exited after ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
