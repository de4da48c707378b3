"""Start a daemon in the background and wait until it answers.

The daemon is detached through an intermediate process (``--detach``) that exits at
once, so it is re-parented to init and a long-lived client never collects zombies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .. import paths
from ..errors import GpuemuError
from .server import socket_answers


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


def start_background(config_path: Path | None = None, *, socket_path: Path | None = None,
                     wait_s: float = 30.0) -> None:
    """Start a daemon for ``config_path`` unless one answers already; wait until it does."""
    sock = socket_path or paths.socket_path()
    if socket_answers(sock):
        return
    subprocess.run(daemon_command(config_path) + ["--detach"], check=True,
                   stdin=subprocess.DEVNULL, env={**os.environ, "GPUEMU_SOCKET": str(sock)})
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if sock.exists() and socket_answers(sock, timeout_ms=500):
            return
        time.sleep(0.05)
    raise DaemonStartError(
        f"the gpuemu daemon did not answer on {sock} within {wait_s:.0f} s; see"
        f" {paths.log_dir() / 'daemon.out'} and {paths.log_dir() / 'daemon.log'}:\n"
        + tail(paths.log_dir() / "daemon.out")
    )


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
