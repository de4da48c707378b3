"""The [daemon] keys of gpuemu.toml do what they say, against a real daemon and the real CLI:
``socket`` (where the CLI, the Client and the daemon meet), ``auto_start`` (false: nothing
starts a daemon, and the CLI says how to), ``workers`` (warm workers per script) and
``request_timeout_s`` (the daemon's limit on one request)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpuemu.client import Client
from gpuemu.errors import GpuemuError

from ..conftest import SLOW_REF, SOFTMAX_REF, run_cli, write

pytestmark = pytest.mark.e2e

SOFTMAX_OP = """
[[ops]]
name = "softmax"
reference = "refs/softmax.py"
op_script = "ops/softmax.py"
input_names = ["x"]
[ops.fuzz]
batch_sizes = [2]
seq_lengths = [4]
hidden_dims = [8]
edge_case_prob = 0.0
"""
SLOW_OP = """
[[ops]]
name = "slow"
reference = "refs/slow.py"
op_script = "refs/slow.py"
input_names = ["x"]
kwargs = {{ sleep = {sleep} }}
[ops.fuzz]
batch_sizes = [2]
seq_lengths = [4]
hidden_dims = [8]
edge_case_prob = 0.0
"""


def project(root: Path, toml: str) -> Path:
    write(root / "refs" / "softmax.py", SOFTMAX_REF)
    write(root / "ops" / "softmax.py", SOFTMAX_REF)  # a correct op: the fuzz run passes
    write(root / "refs" / "slow.py", SLOW_REF)
    return write(root / "gpuemu.toml", toml)


@pytest.fixture
def own_env(short_tmp, monkeypatch):
    """A private GPUEMU_HOME and nothing else decided by the environment: what the
    project's [daemon] table says is what counts."""
    home = short_tmp / "home"
    monkeypatch.setenv("GPUEMU_HOME", str(home))
    monkeypatch.delenv("GPUEMU_SOCKET", raising=False)
    monkeypatch.delenv("GPUEMU_AUTO_START", raising=False)
    return home


def test_socket_and_auto_start_false_through_the_cli(short_tmp, own_env):
    root = short_tmp / "proj"
    project(root, SOFTMAX_OP + '\n[daemon]\nsocket = "run/d.sock"\nauto_start = false\n')
    sock = root / "run" / "d.sock"

    refused = run_cli("fuzz", "softmax", "-n", "4", cwd=root)
    assert refused.returncode == 3, refused.stderr
    assert f"no gpuemu daemon answers on {sock}" in refused.stderr
    assert "auto_start = false" in refused.stderr and "gpuemu daemon start" in refused.stderr
    assert not sock.exists() and not (own_env / "gpuemu.sock").exists()  # nothing was started

    started = run_cli("daemon", "start", "--background", cwd=root)
    assert started.returncode == 0 and str(sock) in started.stdout, started.stderr
    try:
        assert sock.exists() and not (own_env / "gpuemu.sock").exists()
        ran = run_cli("fuzz", "softmax", "-n", "4", cwd=root)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        status = run_cli("daemon", "status", cwd=root)
        assert f"socket:   {sock}" in status.stdout, status.stdout + status.stderr
        with Client(config_path=root / "gpuemu.toml") as client:  # the library finds it too
            assert client.socket_path == sock and client.auto_start is False
            assert client.ping()
    finally:
        stopped = run_cli("daemon", "stop", cwd=root)
    assert stopped.returncode == 0, stopped.stderr
    assert not sock.exists()


def test_an_explicit_socket_or_gpuemu_socket_wins_over_the_config(short_tmp, own_env, monkeypatch):
    config = project(short_tmp / "proj", SOFTMAX_OP + '\n[daemon]\nsocket = "run/d.sock"\n')
    assert Client(config_path=config, auto_start=False).socket_path == config.parent / "run/d.sock"
    assert Client(short_tmp / "x.sock", config_path=config).socket_path == short_tmp / "x.sock"
    monkeypatch.setenv("GPUEMU_SOCKET", str(short_tmp / "env.sock"))
    assert Client(config_path=config, auto_start=False).socket_path == short_tmp / "env.sock"


def test_request_timeout_s_stops_a_long_request_and_says_which_key(short_tmp, make_daemon):
    config = project(short_tmp / "proj", SLOW_OP.format(sleep=0.05)
                     + "\n[daemon]\nrequest_timeout_s = 0.5\n")
    with make_daemon(config).client(timeout_ms=120_000) as client:
        with pytest.raises(GpuemuError, match=r"request_timeout_s = 0\.5 s \(\[daemon\] in gpuemu"):
            client.fuzz_op("slow", iterations=100_000, seed=1)
        assert client.ping()  # the daemon lives on, and short requests pass
        assert client.fuzz_op("slow", iterations=2, seed=1).total == 2


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the default is one worker per script too")
def test_workers_caps_the_warm_workers_per_script(short_tmp, make_daemon):
    config = project(short_tmp / "proj", SLOW_OP.format(sleep=0.05) + "\n[daemon]\nworkers = 1\n")
    with make_daemon(config).client(timeout_ms=120_000) as client:
        assert client.fuzz_op("slow", iterations=16, seed=3).total == 16
        # The fuzz runs one thread per core; with one worker per script the reference and
        # the op script (one file here, called as both) share a single warm worker.
        assert client.ping().workers.live == 1


def test_daemon_status_and_stop_work_while_the_projects_toml_does_not_parse(short_tmp, own_env):
    """An editor saves gpuemu.toml mid-edit: the daemon is still there, and `gpuemu daemon
    status` / `stop` still find it (at the default socket, which stderr names)."""
    root = short_tmp / "proj"
    config = project(root, SOFTMAX_OP)
    started = run_cli("daemon", "start", "--background", cwd=root)
    assert started.returncode == 0, started.stderr
    config.write_text(config.read_text() + "\noops =\n")
    status = run_cli("daemon", "status", cwd=root)
    assert status.returncode == 0, status.stderr
    assert f"socket:   {own_env / 'gpuemu.sock'}" in status.stdout
    assert "invalid TOML" in status.stderr and f"asking the daemon at {own_env / 'gpuemu.sock'}" in status.stderr
    stopped = run_cli("daemon", "stop", cwd=root)
    assert stopped.returncode == 0, stopped.stderr
    assert not (own_env / "gpuemu.sock").exists()
