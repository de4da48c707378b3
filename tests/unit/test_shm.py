"""Large tensors through shared memory: same values and layout, private to the receiver,
no file left behind, and only gpuemu's own files ever opened."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from gpuemu import shm
from gpuemu.daemon.executor import Executor
from gpuemu.errors import InvalidTensorData
from gpuemu.tensor import from_numpy, inline, to_numpy


def files() -> set[str]:
    return {p.name for p in shm.directory().iterdir()}


def test_large_view_round_trips_privately_and_leaves_no_file():
    before = files()
    base = np.random.default_rng(0).standard_normal(1 << 19).astype(np.float32)
    x = base[8:8 + 511 * 1024].reshape(511, 1024)[:, ::2].T  # offset, strided, transposed
    td = shm.spill(from_numpy(x, keep_offset=True))
    assert td.shm and td.data == b"" and td.shm in files()
    y = to_numpy(td, "x")
    assert np.array_equal(x, y) and y.strides == x.strides
    assert files() == before  # the receiver unlinked it on taking it
    y[...] = 0  # copy-on-write: the receiver's own
    assert np.array_equal(inline(td, x).to_numpy(), x) and inline(td, x).shm is None


def test_small_tensors_and_disabled_path_stay_inline(monkeypatch):
    small = from_numpy(np.zeros(16, np.float32))
    assert shm.spill(small) is small
    monkeypatch.setenv("GPUEMU_SHM", "0")
    big = from_numpy(np.zeros(shm.MIN_BYTES, np.uint8))
    assert shm.spill(big) is big


@pytest.mark.parametrize("name, match", [
    ("../../etc/passwd", "is not a gpuemu shared-memory name"),
    ("0" * 32 + ".tensor", "no shared-memory file"),
])
def test_only_gpuemu_files_are_opened(name, match):
    td = from_numpy(np.zeros(4, np.float32))
    with pytest.raises(InvalidTensorData, match=match):
        to_numpy(type(td)(shape=[4], dtype="float32", data=b"", shm=name), "inputs.x")


def test_a_file_of_the_wrong_size_is_refused_and_removed():
    td = shm.spill(from_numpy(np.zeros(shm.MIN_BYTES, np.uint8)))
    lying = type(td)(shape=[shm.MIN_BYTES + 1], dtype="uint8", data=b"", shm=td.shm)
    with pytest.raises(InvalidTensorData, match=r"holds 1048576 bytes but .* cover 1048577"):
        to_numpy(lying, "output")
    assert td.shm not in files()


def test_sweep_removes_only_stale_files():
    fresh = shm.spill(from_numpy(np.zeros(shm.MIN_BYTES, np.uint8))).shm
    stale = shm.spill(from_numpy(np.ones(shm.MIN_BYTES, np.uint8))).shm
    old = time.time() - 2 * shm.STALE_S
    os.utime(shm.directory() / stale, (old, old))
    assert shm.sweep() >= 1
    assert fresh in files() and stale not in files()
    shm.discard([fresh])


def test_warm_worker_gets_and_returns_large_tensors_through_shared_memory(tmp_path):
    script = tmp_path / "double.py"
    script.write_text("def reference(inputs, **kw):\n    x = inputs['x']\n    x *= 1\n"
                      "    return {'y': x * 2, 'small': x[:2, :2]}\n")
    x = np.arange(1 << 20, dtype=np.float32).reshape(1024, 1024).T
    before = files()
    with Executor() as executor:
        run = executor.run_checked(script, {"x": x}, check_inputs=True)
    assert np.array_equal(run.outputs["y"], x * 2) and run.outputs["small"].shape == (2, 2)
    assert run.mutated_inputs == ()  # x *= 1 wrote the same values into its private copy
    assert files() == before
