"""Where gpuemu keeps its socket, database, logs and pid file.

``GPUEMU_HOME`` (default ``~/.gpuemu``) relocates all of them together, which is
how tests and CI jobs get a private daemon; ``GPUEMU_SOCKET`` moves only the socket.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("GPUEMU_HOME") or Path.home() / ".gpuemu").expanduser()


def socket_path() -> Path:
    env = os.environ.get("GPUEMU_SOCKET")
    return Path(env).expanduser() if env else home() / "gpuemu.sock"


def socket_url(path: Path | str | None = None) -> str:
    return f"ipc://{Path(path) if path is not None else socket_path()}"


def db_path(base: Path | None = None) -> Path:
    return (base or home()) / "db" / "gpuemu.sqlite3"


def log_dir(base: Path | None = None) -> Path:
    return (base or home()) / "logs"


def pid_file(base: Path | None = None) -> Path:
    return (base or home()) / "daemon.pid"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it owner-only (0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path
