"""Shared-memory files outlive no one: a client, worker or daemon killed (SIGKILL) in the
middle of a large ValidateOp leaves nothing in the daemon's directory once the request
is over (but the files a live warm worker keeps for its next output, gpuemu.shm_pool),
and a daemon's next start removes whatever its killed predecessor left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gpuemu import shm

from ..conftest import SLOW_REF, wait_for, write

pytestmark = pytest.mark.e2e

CONFIG = '[[ops]]\nname = "slow"\nreference = "refs/slow.py"\ninput_names = ["x"]\n'

CLIENT = """
import sys
import numpy as np
from gpuemu.client import Client

socket, started, release = sys.argv[1:]
x = np.ones((1024, 1024), np.float32)  # 4 MiB: through shared memory
with Client(socket_path=socket, auto_start=False, timeout_ms=600_000) as client:
    result = client.validate_op("slow", {"x": x}, 2 * x,
                                kwargs={"started": started, "release": release})
print("answered", result.passed)
"""


@pytest.fixture
def project(tmp_path):
    write(tmp_path / "refs" / "slow.py", SLOW_REF)
    write(tmp_path / "gpuemu.toml", CONFIG)
    return tmp_path / "gpuemu.toml"


def start_client(daemon, tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    """A client process whose ValidateOp is inside the reference once ``started`` exists."""
    started, release = tmp_path / "started", tmp_path / "release"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CLIENT), str(daemon.socket),
                             str(started), str(release)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: started.exists() or proc.poll() is not None, "the reference to start")
    assert proc.poll() is None, proc.stdout.read()
    return proc, started, release


def empty(where: Path) -> bool:
    return not any(where.iterdir())


def open_in(pids: list[int], where: Path) -> set[str]:
    """The files in ``where`` that these processes hold open (a warm worker's pool files)."""
    found = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = Path(os.readlink(fd))
            except OSError:
                continue
            if target.parent == where:
                found.add(target.name)
    return found


def only_kept_by_workers(daemon, where: Path) -> bool:
    left = {p.name for p in where.iterdir()}
    return left <= open_in(workers_of(daemon.proc.pid), where)


def workers_of(pid: int) -> list[int]:
    """The daemon's warm workers (python -m gpuemu.engine.worker), by /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmd = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if b"gpuemu.engine.worker" in cmd:
                found.append(int(child))
    return found


def test_a_killed_client_leaves_nothing(make_daemon, project, tmp_path):
    daemon = make_daemon(project)
    where = shm.locate(daemon.socket)
    client, _, release = start_client(daemon, tmp_path)
    assert not empty(where)  # the input, held by the daemon for its worker
    client.kill()
    client.wait()
    release.touch()
    wait_for(lambda: only_kept_by_workers(daemon, where),
             "the daemon to let go of the killed client's files")
    with daemon.client() as other:
        other.ping()


def test_a_killed_worker_leaves_nothing(make_daemon, project, tmp_path):
    daemon = make_daemon(project)
    where = shm.locate(daemon.socket)
    client, _, release = start_client(daemon, tmp_path)
    (worker,) = workers_of(daemon.proc.pid)
    os.kill(worker, signal.SIGKILL)
    out, _ = client.communicate(timeout=300)
    assert "ReferenceScriptFailed" in out, out
    wait_for(lambda: empty(where), "the daemon to let go of the request's files")
    release.touch()


def test_a_killed_daemon_leaves_nothing_after_the_next_start(make_daemon, project, tmp_path):
    daemon = make_daemon(project)
    where = shm.locate(daemon.socket)
    client, _, release = start_client(daemon, tmp_path)
    worker = workers_of(daemon.proc.pid)
    daemon.kill(signal.SIGKILL)
    assert not empty(where)  # what the killed daemon held
    for pid in worker:  # an orphaned worker of the killed daemon ends with its reference
        os.kill(pid, signal.SIGKILL)
    client.kill()
    client.wait()
    again = make_daemon(project)
    assert not where.exists()
    fresh = shm.locate(again.socket)
    assert fresh is not None and fresh != where and empty(fresh)
    release.touch()
