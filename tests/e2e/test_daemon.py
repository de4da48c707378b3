"""The core path end to end: a real daemon subprocess, driven through the Client and raw pynng."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading

import numpy as np
import pynng
import pytest

from gpuemu import paths
from gpuemu.client import ClientError, ConnectionError, ValidationError, validate_op
from gpuemu.errors import BaselineNotFound, ConfigError, OpNotFound, ReferenceScriptFailed
from gpuemu.tensor import from_numpy

from ..conftest import SLOW_REF, SOFTMAX_REF, wait_for, write

pytestmark = pytest.mark.e2e


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture
def project(short_tmp):
    root = short_tmp / "proj"
    write(root / "refs" / "softmax.py", SOFTMAX_REF)
    write(root / "refs" / "crash.py", "import sys\nprint('boom: reference exploded', file=sys.stderr)\nsys.exit(3)\n")
    write(root / "refs" / "garbage.py", "print('this is not json')\n")
    write(root / "refs" / "hang.py", "import time\ntime.sleep(60)\n")
    write(root / "refs" / "slow.py", SLOW_REF)
    write(root / "refs" / "vanishing.py", SOFTMAX_REF)
    write(root / "gpuemu.toml", """
        [project]
        name = "e2e"

        [[ops]]
        name = "softmax"
        reference = "refs/softmax.py"
        input_names = ["x"]
        invariants = ["non_negative", "normalized"]

        [[ops]]
        name = "crash"
        reference = "refs/crash.py"
        input_names = ["x"]

        [[ops]]
        name = "garbage"
        reference = "refs/garbage.py"
        input_names = ["x"]

        [[ops]]
        name = "hang"
        reference = "refs/hang.py"
        input_names = ["x"]
        timeout_s = 1.0

        [[ops]]
        name = "slow"
        reference = "refs/slow.py"
        input_names = ["x"]

        [[ops]]
        name = "vanishing"
        reference = "refs/vanishing.py"
        input_names = ["x"]
    """)
    return root


@pytest.fixture
def daemon(make_daemon, project):
    return make_daemon(project / "gpuemu.toml")


def raw(daemon, payload: bytes | dict, timeout_ms: int = 10000) -> dict:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pynng.Req0(dial=f"ipc://{daemon.socket}", recv_timeout=timeout_ms) as sock:
        sock.send(data)
        return json.loads(sock.recv())


X = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)


def test_ping_reports_version_protocol_and_uptime(daemon):
    with daemon.client() as c:
        pong = c.ping()
    assert pong.protocol_version == 1 and pong.version and pong.uptime_secs >= 0


def test_validate_op_passes_and_is_stored(daemon):
    with daemon.client() as c:
        result = c.validate_op("softmax", {"x": X}, softmax(X), seed=7)
        assert result.passed, result.failures
        assert result.atol == 1e-5 and result.dtype == "Float32"
        assert c.get_result(7).passed
        assert c.get_result(7, "softmax").op_name == "softmax"
        assert c.get_result(12345) is None


def test_validate_op_failure_carries_the_mismatch_report(daemon):
    bad = softmax(X)
    bad[3, 17] += 0.01
    with daemon.client() as c:
        result = c.validate_op("softmax", {"x": X}, bad)
    assert not result.passed
    assert "ToleranceExceeded" in result.failure_kinds
    assert result.mismatch.max_abs_index == [3, 17] and result.mismatch.mismatched == 1
    assert result.repro_info.command.startswith("gpuemu reproduce --seed")
    with daemon.client() as c:
        assert c.list_results(limit=1)[0].seed == result.seed


def test_non_contiguous_inputs_reach_the_reference(daemon):
    xt = np.ascontiguousarray(X.T).T  # same values as X, transposed memory
    assert not xt.flags.c_contiguous
    with daemon.client() as c:
        assert c.validate_op("softmax", {"x": xt}, softmax(X)).passed


def test_list_results_newest_first_with_limit(daemon):
    with daemon.client() as c:
        for seed in (1, 2, 3):
            c.validate_op("softmax", {"x": X}, softmax(X), seed=seed)
        assert [r.seed for r in c.list_results(limit=2)] == [3, 2]
        assert [r.seed for r in c.list_results(op_name="softmax")][:3] == [3, 2, 1]


@pytest.mark.parametrize("op, needle", [
    ("crash", "boom: reference exploded"),
    ("garbage", "not JSON"),
    ("hang", "timed out"),
])
def test_broken_reference_scripts_are_reported_and_the_daemon_lives(daemon, op, needle):
    with daemon.client() as c:
        with pytest.raises(ReferenceScriptFailed, match=needle) as info:
            c.validate_op(op, {"x": X}, X)
        assert isinstance(info.value, ClientError)
        assert c.ping().protocol_version == 1


def test_reference_script_deleted_while_the_daemon_runs(daemon, project):
    with daemon.client() as c:
        assert c.validate_op("softmax", {"x": X}, softmax(X)).passed  # config loaded
        (project / "refs" / "vanishing.py").unlink()
        with pytest.raises(ReferenceScriptFailed, match="vanishing.py"):
            c.validate_op("vanishing", {"x": X}, X)


def test_config_error_names_the_file_and_key(daemon, project):
    (project / "refs" / "vanishing.py").unlink()
    with daemon.client() as c, pytest.raises(ConfigError, match=r"ops\[5\] \(vanishing\).reference"):
        c.validate_op("softmax", {"x": X}, X)


def test_unknown_op_and_wrong_input_names(daemon):
    with daemon.client() as c:
        with pytest.raises(OpNotFound, match="softmax"):
            c.validate_op("nope", {"x": X}, X)
        with pytest.raises(ClientError, match=r"takes inputs \['x'\]") as info:
            c.validate_op("softmax", {"y": X}, X)
        assert info.value.field == "inputs"


@pytest.mark.parametrize("payload, field", [
    (b"{not json", None),
    ({"type": "Frobnicate"}, "type"),
    ({"type": "GetResult"}, "seed"),
    ({"type": "GetResult", "seed": "seven"}, "seed"),
    ({"type": "ListResults", "limt": 3}, "limt"),
    ({"type": "ValidateOp", "op_name": "softmax",
      "inputs": {"x": {"shape": [4], "dtype": "float32", "data": "AAAA"}},
      "output": {"shape": [4], "dtype": "float32", "data": "AAAA"}}, "inputs.x.data"),
    ({"type": "ValidateOp", "op_name": "softmax",
      "inputs": {"x": {"shape": [1], "dtype": "float12", "data": "AAAAAA=="}},
      "output": {"shape": [1], "dtype": "float32", "data": "AAAAAA=="}}, "inputs.x.dtype"),
])
def test_malformed_requests_get_invalid_request_naming_the_field(daemon, payload, field):
    reply = raw(daemon, payload)
    assert reply["type"] == "Error" and reply["code"] == "InvalidRequest"
    assert reply.get("field") == field
    assert raw(daemon, {"type": "Ping"})["type"] == "Pong"


def test_protocol_version_mismatch(daemon):
    reply = raw(daemon, {"type": "Ping", "protocol_version": 99})
    assert reply["code"] == "VersionMismatch" and "99" in reply["message"]


def test_envelope_form_is_answered_in_envelope_form(daemon):
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    td = json.loads(__import__("msgspec").json.encode(from_numpy(x)))
    out = json.loads(__import__("msgspec").json.encode(from_numpy(softmax(x))))
    reply = raw(daemon, {"type": "ValidateOp", "payload": {
        "op_name": "softmax", "inputs": {"x": td}, "output": out, "seed": 2**64 - 1}})
    assert reply["type"] == "ValidationResult" and set(reply) == {"type", "payload"}
    assert reply["payload"]["result"]["passed"] is True
    assert reply["payload"]["result"]["seed"] == 2**64 - 1
    flat = raw(daemon, {"type": "GetResult", "seed": 2**64 - 1})
    assert flat["type"] == "ValidationResult" and flat["result"]["seed"] == 2**64 - 1


def test_baselines_store_compare_and_missing_tag(daemon):
    with daemon.client() as c:
        c.validate_op("softmax", {"x": X}, softmax(X))
        assert c.store_baseline("v1") == 1
        same = c.compare_baseline("v1", fail_on_regression=True)
        assert same.passed and [e.op_name for e in same.unchanged] == ["softmax"]
        c.validate_op("softmax", {"x": X}, softmax(X) + 1.0)
        cmp = c.compare_baseline("v1")
        assert [e.op_name for e in cmp.regressions] == ["softmax"] and cmp.passed
        assert not c.compare_baseline("v1", fail_on_regression=True).passed
        with pytest.raises(BaselineNotFound, match="v1"):
            c.compare_baseline("v2")


def test_validate_op_context_manager(daemon):
    with daemon.client() as c:
        with validate_op(c, "softmax", inputs={"x": X}) as ctx:
            ctx["output"] = softmax(X)
        assert ctx.result.passed
        with pytest.raises(ValidationError, match="ToleranceExceeded") as info:
            with validate_op(c, "softmax", inputs={"x": X}) as ctx:
                ctx["output"] = np.zeros_like(X)
        assert not info.value.result.passed


def blocked_reference(daemon, tmp_path, answers: list):
    """A ``slow`` ValidateOp in a thread, once its reference runs (it blocks until the
    returned release file is written)."""
    started, release = tmp_path / "started", tmp_path / "release"

    def slow():
        with daemon.client() as c:
            kwargs = {"started": str(started), "release": str(release)}
            answers.append(c.validate_op("slow", {"x": X}, 2 * X, kwargs=kwargs).passed)

    t = threading.Thread(target=slow)
    t.start()
    wait_for(started.exists, "the slow reference to start")
    return t, release


def test_slow_reference_does_not_block_ping(daemon, tmp_path):
    answers: list[bool] = []
    t, release = blocked_reference(daemon, tmp_path, answers)
    with daemon.client() as c:
        c.ping()  # answered while the reference is certainly still running
    assert answers == []
    release.touch()
    t.join()
    assert answers == [True]


def test_a_long_request_is_sent_once(daemon):
    # NNG's REQ socket re-sends an unanswered request after resend_time (60 s by default),
    # which made the daemon run a long fuzz twice; the Client's REQ (gpuemu.sp)
    # never re-sends.
    with daemon.client() as c:
        before = len(c.list_results(limit=1000, op_name="slow"))
        c.validate_op("slow", {"x": X}, 2 * X, kwargs={"sleep": 0.5})
        assert len(c.list_results(limit=1000, op_name="slow")) == before + 1


def test_shutdown_finishes_in_flight_work(daemon, tmp_path):
    answers: list[bool] = []
    t, release = blocked_reference(daemon, tmp_path, answers)
    with daemon.client() as c:
        c.shutdown()
    release.touch()
    t.join()
    assert answers == [True]
    assert daemon.proc.wait(timeout=120) == 0
    assert not daemon.socket.exists()


def test_sigkill_loses_no_answered_result_and_stale_socket_is_recovered(make_daemon, project):
    d = make_daemon(project / "gpuemu.toml")
    seeds = list(range(100, 120))
    with d.client() as c:
        for s in seeds:
            c.validate_op("softmax", {"x": X[:4]}, softmax(X[:4]), seed=s)
    d.kill(signal.SIGKILL)
    assert d.socket.exists()  # stale socket left behind
    d2 = make_daemon(project / "gpuemu.toml")
    with d2.client() as c:
        assert all(c.get_result(s) is not None for s in seeds)


def test_second_daemon_refuses_a_live_socket(daemon, project):
    proc = subprocess.run([sys.executable, "-m", "gpuemu.daemon", "--config",
                           str(project / "gpuemu.toml")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "already running" in proc.stderr


def test_files_are_owner_only_and_logs_are_written(daemon):
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(daemon.home) == 0o700
    assert mode(daemon.socket) == 0o600
    assert mode(paths.db_path(daemon.home)) == 0o600
    assert mode(paths.db_path(daemon.home).parent) == 0o700
    log = (paths.log_dir(daemon.home) / "daemon.log").read_text()
    assert "listening on" in log


def test_client_without_daemon_says_how_to_start_it(gpuemu_home):
    from gpuemu.client import Client

    with pytest.raises(ConnectionError, match="gpuemu daemon start"):
        Client(auto_start=False).ping()


def test_cli_daemon_lifecycle_with_auto_start(gpuemu_home, project, monkeypatch):
    from gpuemu.client import Client

    monkeypatch.chdir(project)
    gpuemu = [sys.executable, "-m", "gpuemu"]
    status = subprocess.run(gpuemu + ["daemon", "status"], capture_output=True, text=True)
    assert status.returncode == 3 and "not running" in status.stderr
    with Client(auto_start=True) as c:  # starts a daemon for the project found from cwd
        assert c.validate_op("softmax", {"x": X}, softmax(X)).passed
    status = subprocess.run(gpuemu + ["daemon", "status"], capture_output=True, text=True)
    assert status.returncode == 0 and "running" in status.stdout
    logs = subprocess.run(gpuemu + ["daemon", "logs", "-n", "5"], capture_output=True, text=True)
    assert logs.returncode == 0 and logs.stdout
    stop = subprocess.run(gpuemu + ["daemon", "stop"], capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stderr
    assert not paths.socket_path().exists()


def test_status_shows_the_workers_and_idle_ones_are_released(make_daemon, project):
    """[daemon] worker_idle_timeout_s and max_workers reach the executor; Pong and
    `gpuemu daemon status` show the live workers, their memory and how many were stopped."""
    config = project / "gpuemu.toml"
    config.write_text(config.read_text() + "\n[daemon]\nworker_idle_timeout_s = 5.0\n"
                      "max_workers = 3\nmax_worker_memory_mb = 4096\n")
    daemon = make_daemon(config)
    with daemon.client() as c:
        assert c.validate_op("softmax", {"x": X}, softmax(X)).passed
        busy = c.ping().workers
        assert (busy.live, busy.max_workers, busy.max_memory_bytes) == (1, 3, 4096 << 20)
        assert busy.rss_bytes > 0 and busy.idle_timeout_s == 5.0
        released = wait_for(lambda: (w := c.ping().workers).reaped_idle == 1 and w,
                            "the idle worker to be stopped")
    assert (released.live, released.rss_bytes) == (0, 0)
    shown = subprocess.run([sys.executable, "-m", "gpuemu", "daemon", "status"],
                           capture_output=True, text=True, timeout=60)
    assert "workers:  0 live of at most 3 (0 idle), 0 MiB resident of at most 4096 MiB;" \
           " stopped so far: 1 idle for 5 s" in shown.stdout, shown.stdout
