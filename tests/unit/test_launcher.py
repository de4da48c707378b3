"""start_daemon_and_wait: the one way the client, the plugin, the tests and the benchmarks
start a daemon. Starting one that answers is what every e2e test does; here, the failures."""

from __future__ import annotations

import os

import pytest

from gpuemu.daemon.launcher import DaemonStartError, start_daemon_and_wait

from ..conftest import write


@pytest.fixture
def env(short_tmp):
    return {**os.environ, "GPUEMU_HOME": str(short_tmp / "home"), "GPUEMU_AUTO_START": "0"}


def test_a_daemon_that_exits_is_reported_with_its_output(short_tmp, env):
    config = write(short_tmp / "gpuemu.toml", "[project\nname = 'broken'\n")
    with pytest.raises(DaemonStartError, match=r"(?s)exited with status 2.*gpuemu\.toml"):
        start_daemon_and_wait(config, short_tmp / "home" / "gpuemu.sock", env=env)


def test_its_output_file_is_quoted_when_it_has_one(short_tmp, env):
    config = write(short_tmp / "gpuemu.toml", "[project\nname = 'broken'\n")
    out = short_tmp / "daemon.out"
    with pytest.raises(DaemonStartError, match=rf"(?s)see {out} and .*gpuemu\.toml"):
        start_daemon_and_wait(config, short_tmp / "home" / "gpuemu.sock", env=env, output=out)
    assert "gpuemu daemon:" in out.read_text()
