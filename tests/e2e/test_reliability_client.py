"""The Client when the daemon is slow, gone, killed mid-call or restarted between calls:
clear errors, no lost results, and a reconnect without the caller doing anything."""

from __future__ import annotations

import signal
import threading
import time

import numpy as np
import pytest

from gpuemu.client import ConnectionError

from .reliability_support import daemon_for, project_dir, wait_until_gone

pytestmark = pytest.mark.e2e

SLOW = """
import time
from gpuemu.script import main

def reference(inputs, sleep=0.0, **kwargs):
    time.sleep(sleep)
    return 2 * inputs["x"]

if __name__ == "__main__":
    main(reference)
"""
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
    with project_dir("client", {"gpuemu.toml": CONFIG, "refs/slow.py": SLOW}) as root:
        yield root


@pytest.fixture
def daemon(project):
    d = daemon_for(project).start()
    yield d
    d.stop()


def test_a_timeout_names_the_request_and_loses_no_result(daemon):
    with daemon.client(timeout_ms=300) as c:
        c.ping()
        with pytest.raises(ConnectionError, match=r"did not answer a ValidateOp within 300 ms;"
                                                  r" .*gpuemu daemon status.*timeout_ms"):
            c.validate_op("slow", {"x": X}, 2 * X, kwargs={"sleep": 1.5}, seed=77)
        assert c.ping().protocol_version == 1  # the late reply does not confuse the next call
    with daemon.client() as c:  # the daemon finished the request and stored its result
        for _ in range(100):
            if (stored := c.get_result(77)) is not None:
                break
            time.sleep(0.05)
        assert stored is not None and stored.passed


def test_the_client_reconnects_to_a_restarted_daemon_by_itself(daemon, project):
    with daemon.client(timeout_ms=10_000) as c:
        assert c.validate_op("slow", {"x": X}, 2 * X, seed=1).passed
        for how in (signal.SIGKILL, signal.SIGTERM):
            daemon.kill(how)
            daemon.start()  # same GPUEMU_HOME, same socket path
            assert c.validate_op("slow", {"x": X}, 2 * X, seed=2).passed
            assert c.get_result(1).passed


def test_a_daemon_killed_mid_call_is_reported_at_once_not_at_the_timeout(daemon, project):
    errors: list[str] = []

    def call() -> None:
        with daemon.client(timeout_ms=120_000) as c:
            try:
                c.validate_op("slow", {"x": X}, 2 * X, kwargs={"sleep": 30})
            except ConnectionError as exc:
                errors.append(str(exc))

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.5)
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
