"""What the reliability suite (tests/e2e/test_reliability_*.py) shares: a daemon of its
own per module, raw requests, a look at /proc, latency figures and the soak switch.

``GPUEMU_SOAK=1`` turns every bounded loop of the suite into its long variant.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pynng

from gpuemu import paths

from ..conftest import DaemonProcess, write

SOAK = os.environ.get("GPUEMU_SOAK") == "1"

DOUBLE = """
from gpuemu.script import main

def reference(inputs, **kwargs):
    return 2 * inputs["x"]

if __name__ == "__main__":
    main(reference)
"""
"""The reference most of the suite runs (as refs/double.py): cheap, so what is measured
is the daemon, not the op."""

DOUBLE_OP = """
[[ops]]
name = "double"
reference = "refs/double.py"
input_names = ["x"]
"""

def scaled(quick: int, soak: int) -> int:
    """``quick`` in the default run, ``soak`` under GPUEMU_SOAK=1."""
    return soak if SOAK else quick


@contextmanager
def project_dir(marker: str, files: dict[str, str]) -> Iterator[Path]:
    """A short temporary directory (Unix socket paths stay under ~100 bytes) holding
    ``files``; its name carries ``marker``, so every script process it runs can be found
    in /proc by its command line."""
    root = Path(tempfile.mkdtemp(prefix=f"ge-{marker}-", dir="/tmp"))
    try:
        for name, text in files.items():
            write(root / name, text)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def daemon_for(root: Path, home: Path | None = None) -> DaemonProcess:
    """A DaemonProcess (not started) for ``root/gpuemu.toml`` with its own GPUEMU_HOME."""
    home = home or root / "home"
    env = {k: v for k, v in os.environ.items() if k != "GPUEMU_SOCKET"}
    env.update(GPUEMU_HOME=str(home), GPUEMU_AUTO_START="0")
    return DaemonProcess(home=home, config=root / "gpuemu.toml", env=env)


@contextmanager
def running(daemon: DaemonProcess) -> Iterator[DaemonProcess]:
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def request(socket: Path, data: bytes, timeout_ms: int = 10_000) -> bytes:
    """One raw request on a fresh REQ socket; pynng.Timeout when no reply comes."""
    with pynng.Req0(dial=paths.socket_url(socket), block_on_dial=True,
                    recv_timeout=timeout_ms, send_timeout=timeout_ms) as sock:
        sock.send(data)
        return sock.recv()


def decode(reply: bytes) -> dict:
    """A reply as a dict, whatever its form (JSON flat or envelope, msgpack)."""
    msg = msgspec.msgpack.decode(reply) if reply[:1] and reply[0] >= 0x80 else json.loads(reply)
    if "payload" in msg:
        msg = {"type": msg["type"], **msg["payload"]}
    return msg


def ping(socket: Path) -> bool:
    return decode(request(socket, b'{"type":"Ping"}', 5_000))["type"] == "Pong"


def live_processes(*markers: str, servers_of: int | None = None) -> list[str]:
    """``pid state cmdline`` of every live (not zombie) process whose command line holds
    all ``markers``; this test process excluded, and the fork servers (warm by design)
    that are children of the daemon ``servers_of``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        if int(ppid) == servers_of and "gpuemu.engine.forkserver" in cmdline:
            continue
        if all(m in cmdline for m in markers) and state not in "ZX":
            found.append(f"{entry.name} {state} {cmdline}")
    return found


def zombie_children(pid: int) -> list[int]:
    """Children of ``pid`` that exited and were never reaped (its leak, not init's)."""
    zombies = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            try:
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state == "Z":
                zombies.append(int(child))
    return zombies


def wait_until_gone(*markers: str, timeout_s: float = 60.0, servers_of: int | None = None) -> list[str]:
    """Poll until no live process carries ``markers`` (SIGKILL lands asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while (left := live_processes(*markers, servers_of=servers_of)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` of the database file, opened read-only by a new connection."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))


def percentiles(samples_s: list[float]) -> str:
    """p50/p99/max of latencies in milliseconds, for the printed figures."""
    ordered = sorted(samples_s)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3

    return f"p50 {at(0.50):.2f} ms, p99 {at(0.99):.2f} ms, max {ordered[-1] * 1e3:.2f} ms"
