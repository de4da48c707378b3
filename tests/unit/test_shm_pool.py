"""A sender's pool files (gpuemu.shm_pool): rewritten in place only when no request and no
receiver uses them, removed when the sender exits, reaped when it dies."""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gpuemu import shm, shm_pool
from gpuemu.tensor import from_numpy, to_numpy


@pytest.fixture
def segments(tmp_path, monkeypatch) -> Path:
    """A private directory named to this process as a worker's daemon names it."""
    where = Path(tempfile.mkdtemp(prefix="gpuemu-test-", dir=tmp_path))
    monkeypatch.setenv(shm.ENV, str(where))
    yield where
    shm_pool.POOL.clear()


def send(value: float, n: int = shm.MIN_BYTES // 4):
    return from_numpy(np.full(n, value, np.float32), shared=True)


def test_a_released_file_is_rewritten_in_place(segments):
    first = send(1.0)
    assert np.all(to_numpy(first, "x") == 1.0)
    gc.collect()
    shm.discard([first.shm])  # the request was answered
    second = send(2.0)
    assert second.shm == first.shm and np.all(to_numpy(second, "x") == 2.0)


def test_a_file_in_flight_or_still_mapped_is_never_rewritten(segments):
    first = send(1.0)
    assert send(2.0).shm != first.shm  # not released yet: busy
    taken = to_numpy(first, "x")  # a receiver maps it (a held link)
    shm.discard([first.shm])
    third = send(3.0)
    assert third.shm != first.shm and np.all(taken == 1.0)


def test_a_free_file_of_another_size_is_resized(segments):
    first = send(1.0)
    shm.discard([first.shm])
    bigger = send(5.0, n=shm.MIN_BYTES)
    assert bigger.shm == first.shm and np.all(to_numpy(bigger, "x") == 5.0)


def test_trim_removes_the_free_files_and_keeps_the_busy_ones(segments):
    free, busy = send(1.0), send(2.0)
    shm.discard([free.shm])
    shm_pool.POOL.trim()
    assert {p.name for p in segments.iterdir()} == {busy.shm}


SENDER = """
import sys
import numpy as np
from gpuemu.tensor import from_numpy
print(from_numpy(np.ones(1 << 18, np.float32), shared=True).shm, flush=True)
sys.stdin.read()  # until told to go
"""


def start_sender(where: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SENDER)], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**__import__("os").environ, shm.ENV: str(where)})
    return proc, proc.stdout.readline().strip()


def test_the_files_of_a_live_sender_stay_and_a_dead_ones_are_reaped(segments):
    proc, name = start_sender(segments)
    assert name.endswith(".pool")
    shm_pool.reap(segments)
    assert (segments / name).exists()  # its sender lives
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    shm_pool.reap(segments)
    assert not (segments / name).exists()


def test_a_sender_that_exits_removes_its_files(segments):
    proc, name = start_sender(segments)
    proc.communicate("")
    assert proc.returncode == 0 and not (segments / name).exists()


def test_files_of_a_directory_that_went_are_let_go(segments, tmp_path):
    old = send(1.0)
    shm.discard([old.shm])
    for path in segments.iterdir():  # the daemon restarted: its directory is removed
        path.unlink()
    elsewhere = Path(tempfile.mkdtemp(prefix="gpuemu-test-", dir=tmp_path))
    fresh = shm_pool.POOL.write([np.ones(8, np.float32)], 32, elsewhere)
    assert not shm_pool.POOL.owns(old.shm, segments) and (elsewhere / fresh).exists()
