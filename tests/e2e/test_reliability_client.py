"""The Client when the daemon is slow, gone, killed mid-call or restarted between calls:
clear errors, no lost results, and a reconnect without the caller doing anything."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from gpuemu.client import ConnectionError

from ..conftest import SLOW_REF, wait_for
from .reliability_support import daemon_for, project_dir, wait_until_gone

pytestmark = pytest.mark.e2e

CONFIG = """
[project]
name = "client"

[[ops]]
name = "slow"
reference = "refs/slow.py"
input_names = ["x"]
"""
X = np.arange(8, dtype=np.float32)


@pytest.fixture
def project():
    with project_dir("client", {"gpuemu.toml": CONFIG, "refs/slow.py": SLOW_REF}) as root:
        yield root


@pytest.fixture
def daemon(project):
    d = daemon_for(project).start()
    yield d
    d.stop()


def test_a_timeout_names_the_request_and_loses_no_result(daemon, tmp_path):
    started, release = tmp_path / "started", tmp_path / "release"
    blocked = {"started": str(started), "release": str(release)}
    # 3 s is far longer than a Ping takes on a busy machine; the ValidateOp cannot answer
    # in time because its reference blocks until the release file appears.
    with daemon.client(timeout_ms=3000) as c:
        c.ping()
        with pytest.raises(ConnectionError, match=r"did not answer a ValidateOp within 3000 ms;"
                                                  r" .*gpuemu daemon status.*timeout_ms"):
            c.validate_op("slow", {"x": X}, 2 * X, kwargs=blocked, seed=77)
        assert started.exists()
        assert c.ping().protocol_version == 1  # the late reply does not confuse the next call
    release.touch()
    with daemon.client() as c:  # the daemon finished the request and stored its result
        stored = wait_for(lambda: c.get_result(77), "the abandoned request's result")
        assert stored.passed


def test_the_client_reconnects_to_a_restarted_daemon_by_itself(daemon, project):
    with daemon.client(timeout_ms=10_000) as c:
        assert c.validate_op("slow", {"x": X}, 2 * X, seed=1).passed
        for how in (signal.SIGKILL, signal.SIGTERM):
            daemon.kill(how)
            daemon.start()  # same GPUEMU_HOME, same socket path
            assert c.validate_op("slow", {"x": X}, 2 * X, seed=2).passed
            assert c.get_result(1).passed


def test_a_daemon_killed_mid_call_is_reported_at_once_not_at_the_timeout(daemon, project,
                                                                         tmp_path):
    errors: list[str] = []

    started = tmp_path / "started"
    blocked = {"started": str(started), "release": str(tmp_path / "never")}

    def call() -> None:
        with daemon.client(timeout_ms=120_000) as c:
            try:
                c.validate_op("slow", {"x": X}, 2 * X, kwargs=blocked)
            except ConnectionError as exc:
                errors.append(str(exc))

    caller = threading.Thread(target=call)
    caller.start()
    wait_for(started.exists, "the reference to start")
    daemon.kill(signal.SIGKILL)
    caller.join(timeout=60)  # far below the client's 120 s timeout
    assert not caller.is_alive()
    assert len(errors) == 1 and "lost the connection to the gpuemu daemon" in errors[0]
    assert wait_until_gone(project.name) == []  # the busy warm worker died with its daemon


def test_a_daemon_that_stopped_for_good_is_a_timeout_naming_the_socket(daemon):
    with daemon.client(timeout_ms=500) as c:
        c.ping()
        daemon.stop()
        with pytest.raises(ConnectionError, match=rf"daemon on {daemon.socket} did not answer a"
                                                  r" Ping within 500 ms"):
            c.ping()


def test_a_forked_child_opens_its_own_connection(daemon):
    # A Client made before fork() (a global one, under multiprocessing's fork start): the
    # child must not speak on the parent's connection, or the two would read each other's
    # replies.
    with daemon.client(timeout_ms=30_000) as c:  # far beyond a Ping on a busy machine
        c.ping()
        pid = os.fork()
        if pid == 0:  # the child: exit 0 only when its own requests are answered
            ok = False
            try:
                ok = all(c.ping().protocol_version == 1 for _ in range(20))
            finally:
                os._exit(0 if ok else 1)
        answers = [c.ping().protocol_version for _ in range(20)]
        assert os.waitpid(pid, 0)[1] == 0
        assert answers == [1] * 20
