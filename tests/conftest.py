"""Fixtures shared by unit and end-to-end tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SOFTMAX_REF = """
import numpy as np
from gpuemu.script import main

def reference(inputs, **kwargs):
    if inputs["x"].size == 0:  # size-0 edge cases: nothing to normalize
        return inputs["x"].copy()
    x = inputs["x"].astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(inputs["x"].dtype)

if __name__ == "__main__":
    main(reference)
"""


BUSY_LOOP = """
import os
parent = os.getppid()
while os.getppid() == parent:  # ends by itself if pytest dies without stopping it
    for _ in range(1_000_000):
        pass
"""


def pytest_addoption(parser):
    parser.addoption("--busy", metavar="N|auto", default=None,
                     help="occupy N cores ('auto': every core) with busy loops while the tests"
                          " run, to show that no test depends on the machine's speed")


def pytest_configure(config):
    if hasattr(config, "workerinput"):  # the rest happens once, in the controller under xdist
        return
    # Tables that tests print (tests/quality) go to this file, which the controller shows at
    # the end: an xdist worker's own output never reaches the terminal.
    config._summary_file = Path(tempfile.mkstemp(prefix="gpuemu-summary-", suffix=".txt")[1])
    os.environ["GPUEMU_TEST_SUMMARY"] = str(config._summary_file)
    busy = config.getoption("--busy")
    if not busy:
        return
    count = len(os.sched_getaffinity(0)) if busy == "auto" else int(busy)
    config._busy_loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
                          for _ in range(count)]


def pytest_terminal_summary(terminalreporter, config):
    summary = getattr(config, "_summary_file", None)
    if summary is not None and summary.exists() and (text := summary.read_text()):
        terminalreporter.write_sep("=", "gpuemu summaries")
        terminalreporter.write(text)


def pytest_unconfigure(config):
    if (summary := getattr(config, "_summary_file", None)) is not None:
        summary.unlink(missing_ok=True)
    for proc in getattr(config, "_busy_loops", []):
        proc.kill()
        proc.wait()


def pytest_report_header(config):
    if loops := getattr(config, "_busy_loops", None):
        return f"busy loops: {len(loops)} (--busy), one per core they occupy"
    return None


SLOW_REF = """
import time
from pathlib import Path
from gpuemu.script import main

def reference(inputs, sleep=0.0, started=None, release=None, **kwargs):
    # Given ``started`` and ``release`` paths it says that it runs, then blocks until the
    # test releases it: tests synchronise on such events, never on a sleep's length.
    if started:
        Path(started).touch()
        while not Path(release).exists():
            time.sleep(0.01)
    time.sleep(float(sleep))
    return 2 * inputs["x"]  # not the input itself: an identity check is vacuous

if __name__ == "__main__":
    main(reference)
"""


SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"


def assert_valid_sarif(doc: dict) -> None:
    """``doc`` is valid against the official SARIF 2.1.0 JSON schema (tests/data/README.md)."""
    import json

    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text())
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def run_cli(*args: str, cwd: Path, env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``gpuemu ARGS`` as a user runs it: a real process in ``cwd`` (``env`` adds to ours)."""
    return subprocess.run([sys.executable, "-m", "gpuemu", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def wait_for(condition, what: str, timeout_s: float = 120.0):
    """Poll ``condition`` until it returns something truthy, which is returned. The limit
    is far beyond what the event takes on a busy machine: it only ends a hung test."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout_s:g} s waiting for {what}")
        time.sleep(0.02)
    return value


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def short_tmp():
    """A short directory: Unix socket paths must stay under ~100 bytes."""
    path = Path(tempfile.mkdtemp(prefix="ge-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class DaemonProcess:
    home: Path
    config: Path | None
    env: dict
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.home / "gpuemu.sock"

    def start(self, wait_s: float = 120.0) -> DaemonProcess:
        from gpuemu.daemon.launcher import start_daemon_and_wait

        self.proc = start_daemon_and_wait(self.config, self.socket, env=self.env, wait_s=wait_s)
        return self

    def client(self, **kw):
        from gpuemu.client import Client

        return Client(socket_path=self.socket, auto_start=False, **kw)

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        from gpuemu.daemon.launcher import stop_daemon

        if self.proc:
            stop_daemon(self.proc)


@pytest.fixture
def gpuemu_home(short_tmp, monkeypatch):
    home = short_tmp / "home"
    monkeypatch.setenv("GPUEMU_HOME", str(home))
    monkeypatch.delenv("GPUEMU_SOCKET", raising=False)
    monkeypatch.setenv("GPUEMU_AUTO_START", "0")
    return home


@pytest.fixture
def make_daemon(gpuemu_home):
    """Start real daemons (subprocesses) on the temporary GPUEMU_HOME; stopped at teardown."""
    started: list[DaemonProcess] = []

    def make(config: Path | None) -> DaemonProcess:
        d = DaemonProcess(home=gpuemu_home, config=config, env=dict(os.environ))
        started.append(d)
        return d.start()

    yield make
    for d in started:
        d.stop()
