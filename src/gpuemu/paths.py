"""Where gpuemu keeps its socket, database, logs and pid file, and which paths a
request may name.

``GPUEMU_HOME`` (default ``~/.gpuemu``) relocates all of them together, which is
how tests and CI jobs get a private daemon; ``GPUEMU_SOCKET`` moves only the socket.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError, InvalidRequest


def home() -> Path:
    return Path(os.environ.get("GPUEMU_HOME") or Path.home() / ".gpuemu").expanduser()


def socket_path(configured: Path | None = None) -> Path:
    """``GPUEMU_SOCKET``, else ``configured`` (a project's [daemon] socket), else
    $GPUEMU_HOME/gpuemu.sock."""
    env = os.environ.get("GPUEMU_SOCKET")
    if env:
        return Path(env).expanduser()
    return configured if configured is not None else home() / "gpuemu.sock"


def socket_url(path: Path | str | None = None) -> str:
    return f"ipc://{Path(path) if path is not None else socket_path()}"


def db_path(base: Path | None = None) -> Path:
    return (base or home()) / "db" / "gpuemu.sqlite3"


def log_dir(base: Path | None = None) -> Path:
    return (base or home()) / "logs"


def pid_file(base: Path | None = None) -> Path:
    return (base or home()) / "daemon.pid"


def watchdog_file(base: Path | None = None) -> Path:
    """What the daemon's watchdog last saw of its own Ping path (daemon.watchdog)."""
    return (base or home()) / "daemon.watchdog"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it owner-only (0700).

    A directory that another user owns is refused (even for root): whoever owns it
    could swap the socket or the database under us.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    owner = path.stat().st_uid
    if owner != os.getuid():
        raise ConfigError(
            f"{path} belongs to uid {owner}, not you (uid {os.getuid()}); gpuemu keeps its socket,"
            " database and logs only in a directory of your own. Set GPUEMU_HOME to one"
        )
    os.chmod(path, 0o700)
    return path


def confined_path(root: Path | str, path: Path | str, field: str) -> Path:
    """``path`` (relative to ``root``, or absolute) resolved, symlinks included; raises
    InvalidRequest naming ``field`` unless the result lies inside ``root``.

    What a request names is read by the daemon with the user's rights, so a path
    must not reach out of the project (``../../.ssh/id_rsa``, an absolute path
    elsewhere, or a symlink in the project that points out of it).
    """
    text = os.fspath(path)
    if not text.strip() or "\0" in text:
        raise InvalidRequest(f"{field}: {text!r} is not a file path; name a file inside the"
                             " project, relative to the directory of gpuemu.toml", field=field)
    base = Path(root).resolve()
    resolved = (base / text).resolve()
    if resolved != base and base not in resolved.parents:
        raise InvalidRequest(
            f"{field}: {text!r} resolves to {resolved}, outside the project root {base}; the"
            " daemon only reads files inside the project: copy the file there, or send its"
            " content instead of a path", field=field)
    return resolved
