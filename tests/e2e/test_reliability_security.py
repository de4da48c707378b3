"""Security of a real daemon: what it creates is owner-only whatever the umask, it will
not run in or take over another user's directory or socket, and no request makes it run a
script or read a file that the project config does not name.

(tests/e2e/test_daemon.py checks the modes under the default umask; tests/unit/test_paths.py
checks path confinement itself.)
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys

import numpy as np
import pytest

from gpuemu import paths
from gpuemu.client import ClientError

from .reliability_support import (
    DOUBLE, DOUBLE_OP, daemon_for, decode, project_dir, request, running,
)

pytestmark = pytest.mark.e2e

CONFIG = f"""
[project]
name = "security"
{DOUBLE_OP}"""
X = np.arange(4, dtype=np.float32)
needs_root = pytest.mark.skipif(os.getuid() != 0, reason="needs root to chown to another user")
NOBODY = 65534


@pytest.fixture
def project():
    with project_dir("security", {"gpuemu.toml": CONFIG, "refs/double.py": DOUBLE}) as root:
        yield root


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_everything_the_daemon_creates_is_owner_only_even_under_umask_0(project):
    daemon = daemon_for(project)
    old = os.umask(0)  # the daemon inherits it
    try:
        daemon.start()
    finally:
        os.umask(old)
    try:
        with daemon.client() as c:
            c.validate_op("double", {"x": X}, 2 * X)  # the database gets its WAL
        created = [p for p in daemon.home.rglob("*")]
        assert {p.name for p in created} >= {"gpuemu.sock", "daemon.pid", "daemon.log",
                                             "gpuemu.sqlite3", "gpuemu.sqlite3-wal"}
        assert mode(daemon.home) == 0o700
        for path in created:
            assert os.lstat(path).st_uid == os.getuid()
            assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    finally:
        daemon.stop()


def start_and_expect_refusal(daemon, needle: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "gpuemu.daemon", "--config", str(daemon.config)],
                          env=daemon.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    return proc.stderr


@needs_root
def test_the_daemon_refuses_a_home_directory_another_user_owns(project):
    daemon = daemon_for(project)
    daemon.home.mkdir(mode=0o755)
    os.chown(daemon.home, NOBODY, NOBODY)
    said = start_and_expect_refusal(daemon, f"belongs to uid {NOBODY}, not you")
    assert "GPUEMU_HOME" in said
    assert mode(daemon.home) == 0o755 and not daemon.socket.exists()  # left untouched


@needs_root
def test_the_daemon_refuses_a_socket_another_user_owns(project):
    daemon = daemon_for(project)
    paths.ensure_private_dir(daemon.home)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(daemon.socket))  # a socket file that nobody listens on any more
    stale.close()
    os.chown(daemon.socket, NOBODY, NOBODY)
    start_and_expect_refusal(daemon, "refusing to use another user's socket")
    assert os.lstat(daemon.socket).st_uid == NOBODY  # not removed as stale


def test_no_request_makes_the_daemon_run_a_script_the_config_does_not_name(project):
    ran = project.parent / f"{project.name}-evil-ran"
    evil = project / "refs" / "evil.py"  # inside the project, but no op names it
    evil.write_text(f"open({str(ran)!r}, 'w').write('ran')\n"
                    "def reference(inputs, **kwargs):\n    return inputs['x']\n")
    x = json.loads(json.dumps({"shape": [4], "dtype": "float32",
                               "data": "AAAAAAAAgD8AAABAAABAQA=="}))
    attempts = [
        {"type": "ValidateOp", "op_name": str(evil), "inputs": {"x": x}, "output": x},
        {"type": "ValidateOp", "op_name": "refs/evil.py", "inputs": {"x": x}, "output": x},
        {"type": "ValidateOp", "op_name": "../evil", "inputs": {"x": x}, "output": x},
        {"type": "ValidateOp", "op_name": "double", "inputs": {"x": x}, "output": x,
         "reference": str(evil)},
        {"type": "ValidateOp", "op_name": "double", "inputs": {"x": x}, "output": x,
         "kwargs": {"reference": str(evil), "op_script": str(evil), "script": str(evil)}},
        {"type": "ValidateOp", "payload": {"op_name": "double", "inputs": {"x": x}, "output": x,
                                           "op_script": str(evil)}},
        {"type": "FuzzOp", "op_name": "double", "iterations": 1, "op_script": str(evil)},
        {"type": "FuzzOp", "op_name": "double", "iterations": 1,
         "fuzz_config": {"op_script": str(evil)}},
        {"type": "FuzzOp", "op_name": str(evil), "iterations": 1},
        {"type": "GetTestCase", "op_name": "double", "fuzz_config": {"reference": str(evil)}},
        {"type": "Reproduce", "seed": 1, "op_name": str(evil)},
        {"type": "Minimize", "seed": 1, "op_name": "refs/evil.py"},
        {"type": "SubmitOutput", "op_name": "double", "seed": 1, "output": x,
         "op_script": str(evil)},
    ]
    with running(daemon_for(project)) as daemon:
        for attempt in attempts:
            reply = decode(request(daemon.socket, json.dumps(attempt).encode()))
            assert reply["type"] in ("Error", "ValidationResult"), (attempt, reply)
        with daemon.client() as c:
            assert c.validate_op("double", {"x": X}, 2 * X).passed  # the config's script runs
    assert not ran.exists(), "a request made the daemon run a script the config does not name"


PTX = ".version 8.0\n.target sm_80\n.address_size 64\n\n.visible .entry k()\n{\n\tret;\n}\n"


def test_ptx_paths_are_confined_to_the_project(project):
    secret = project.parent / f"{project.name}-secret.ptx"
    secret.write_text(PTX)
    (project / "kernels").mkdir()
    (project / "kernels" / "ok.ptx").write_text(PTX)
    (project / "kernels" / "link.ptx").symlink_to(secret)
    try:
        with running(daemon_for(project)) as daemon, daemon.client() as c:
            assert c.lint("k", ptx_path="kernels/ok.ptx").kernel_name == "k"
            for outside in (str(secret), f"../{secret.name}", "kernels/link.ptx", "/etc/passwd"):
                for call in (c.lint, c.store_artifact):
                    with pytest.raises(ClientError, match="outside the project root") as info:
                        call("k", ptx_path=outside)
                    assert info.value.field == "ptx_path"
    finally:
        secret.unlink()
