"""The CLI as seeds 001, 003 and 004 use it, run as a user runs it (real processes, a real
daemon): gpuemu-daemon, daemon start --background/status/stop, fuzz --op and positional,
test --seed reproducing a stored case, minimize --op --seed, test --format text|json|junit,
ci run; client-side ops listed as skipped."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.conformance.scripts import IDENTITY_OP, RELU_REF
from tests.conftest import run_cli, write

pytestmark = pytest.mark.e2e

# The FAQ's [[ops]] form (no input_names) plus seed 004's modes. "matmul" is the FAQ's op
# name; here it is a relu with a bug, so that fuzzing finds failures to reproduce.
CONFIG = """
[[ops]]
name = "matmul"
reference = "refs/relu.py"
op_script = "ops/identity.py"
execution_mode = "script_based"
[ops.fuzz]
batch_sizes = [2, 3]
seq_lengths = [4]
hidden_dims = [5, 6]

[[ops]]
name = "my_relu"
reference = "refs/relu.py"
op_script = "ops/identity.py"
execution_mode = "client_side"
"""


@pytest.fixture
def project(tmp_path, gpuemu_home):
    write(tmp_path / "refs/relu.py", RELU_REF)
    write(tmp_path / "ops/identity.py", IDENTITY_OP)
    write(tmp_path / "gpuemu.toml", CONFIG)
    return tmp_path


def cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=project)


def test_gpuemu_daemon_program_is_declared_and_has_help():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["gpuemu-daemon"] == "gpuemu.daemon.entry:main"
    proc = subprocess.run([sys.executable, "-c", "from gpuemu.daemon.entry import main; main()",
                           "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: gpuemu-daemon")
    assert "--background" in proc.stdout and "--config" in proc.stdout


def test_the_faq_workflow(project):
    started = cli(project, "daemon", "start", "--background")
    try:
        assert started.returncode == 0, started.stderr
        status = cli(project, "daemon", "status")
        assert status.returncode == 0 and "running" in status.stdout.lower(), status.stdout

        fuzzed = cli(project, "fuzz", "--op", "matmul", "--iterations", "6", "--seed", "3",
                     "--format", "json")
        assert fuzzed.returncode == 1, fuzzed.stderr  # the identity "relu" fails
        failure = json.loads(fuzzed.stdout)["ops"][0]["failures"][0]
        seed = str(failure["seed"])
        positional = cli(project, "fuzz", "matmul", "--iterations", "6", "--seed", "3",
                         "--format", "json")  # seed 004 names the op positionally
        assert [f["seed"] for f in json.loads(positional.stdout)["ops"][0]["failures"]] == [
            f["seed"] for f in json.loads(fuzzed.stdout)["ops"][0]["failures"]]

        again = cli(project, "test", "--seed", seed, "--format", "json")
        assert again.stdout, again.stderr
        report = json.loads(again.stdout)
        assert again.returncode == 1 and report["command"] == "test"
        assert [r["seed"] for r in report["results"]] == [int(seed)]
        assert report["results"][0]["op_name"] == "matmul"

        small = cli(project, "minimize", "--op", "matmul", "--seed", seed)
        assert small.returncode == 1 and re.search(r"minimi[sz]ed", small.stdout, re.I), small.stdout

        text = cli(project, "test", "--format", "text", "--iterations", "3", "--seed", "1")
        assert text.returncode == 1 and "FAIL matmul" in text.stdout
        assert "SKIP my_relu: execution_mode 'client_side'" in text.stdout  # never run by the daemon
        junit = cli(project, "test", "--format", "junit", "--iterations", "3", "--seed", "1")
        suites = ET.fromstring(junit.stdout)
        assert {s.get("name") for s in suites} == {"matmul", "my_relu"}
        data = json.loads(cli(project, "test", "--format", "json", "--iterations", "3").stdout)
        assert data["skipped"][0]["op_name"] == "my_relu"

        ci = cli(project, "ci", "run", "--format", "json")
        assert ci.returncode == 1 and json.loads(ci.stdout)["ops"][0]["op_name"] == "matmul"
    finally:
        stopped = cli(project, "daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr
