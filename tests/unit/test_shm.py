"""Large tensors through shared memory: same values and layout, private to the receiver,
no file left behind, only gpuemu's own files ever opened, and only a private directory
of this user ever used (issue 22: nobody else can squat it)."""

from __future__ import annotations

import gc
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gpuemu import shm, shm_pool
from gpuemu.engine.executor import Executor
from gpuemu.errors import InvalidTensorData
from gpuemu.tensor import from_numpy, inline, to_numpy
from gpuemu.validate import validate_output


@pytest.fixture
def segments(tmp_path, monkeypatch) -> Path:
    """A private directory named to this process as a worker's daemon names it."""
    where = Path(tempfile.mkdtemp(prefix="gpuemu-test-", dir=tmp_path))
    monkeypatch.setenv(shm.ENV, str(where))
    return where


@pytest.fixture
def daemon_side(short_tmp):
    """This process as a daemon: its own published directory, found from its socket."""
    socket = short_tmp / "d.sock"
    where = shm.publish(socket)
    assert where is not None
    yield socket, where
    shm.withdraw(socket)


def files(where: Path) -> set[str]:
    return {p.name for p in where.iterdir()}


def big(value: int = 0) -> np.ndarray:
    return np.full(shm.MIN_BYTES, value, np.uint8)


def test_large_view_round_trips_privately_and_leaves_no_file(segments):
    base = np.random.default_rng(0).standard_normal(1 << 19).astype(np.float32)
    x = base[8:8 + 511 * 1024].reshape(511, 1024)[:, ::2].T  # offset, strided, transposed
    td = shm.spill(from_numpy(x, keep_offset=True), shm.directory())
    assert td.shm.endswith(".pool") and td.data == b"" and files(segments) == {td.shm}
    y = to_numpy(td, "x")
    assert np.array_equal(x, y) and y.strides == x.strides
    (held,) = files(segments) - {td.shm}  # the receiver's link while its mapping lives
    y[...] = 0  # copy-on-write: the receiver's own
    assert np.array_equal(inline(td, x).to_numpy(), x) and inline(td, x).shm is None
    del y
    gc.collect()
    assert files(segments) == {td.shm}  # the sender's, to be rewritten
    shm.discard([td.shm])
    shm_pool.POOL.trim()
    assert files(segments) == set()


def test_small_tensors_disabled_path_and_no_directory_stay_inline(segments, monkeypatch):
    small = from_numpy(np.zeros(16, np.float32))
    assert shm.spill(small, segments) is small
    assert shm.spill(from_numpy(big()), None).shm is None
    assert from_numpy(big(), shared=True).shm is not None
    monkeypatch.setenv("GPUEMU_SHM", "0")
    assert shm.spill(from_numpy(big()), segments).shm is None
    assert from_numpy(big(), shared=True).shm is None and shm.directory() is None


@pytest.mark.parametrize("name, match", [
    ("../../etc/passwd", "is not a gpuemu shared-memory name"),
    ("0" * 32 + ".tensor", "no shared-memory file"),
])
def test_only_gpuemu_files_are_opened(segments, name, match):
    with pytest.raises(InvalidTensorData, match=match):
        to_numpy(from_numpy(np.zeros(4, np.float32)).__class__(
            shape=[4], dtype="float32", data=b"", shm=name), "inputs.x")


def test_a_file_of_the_wrong_size_is_refused_and_removed(segments):
    td = shm.spill(from_numpy(big()), segments)
    lying = type(td)(shape=[shm.MIN_BYTES + 1], dtype="uint8", data=b"", shm=td.shm)
    with pytest.raises(InvalidTensorData, match=r"holds 1048576 bytes but .* cover 1048577"):
        to_numpy(lying, "output")
    assert files(segments) == {td.shm}  # the sender's: refused, not taken
    shm.discard([td.shm], answered=False)  # a request that failed: its files go
    assert files(segments) == set()


def test_a_daemon_start_removes_what_its_previous_run_left(short_tmp):
    socket = short_tmp / "d.sock"
    first = shm.publish(socket)
    leftover = shm.write(big(), where=first)  # as a crashed client or worker leaves it
    shm._own = None  # the daemon "crashed": nothing withdrew its directory
    second = shm.publish(socket)
    try:
        assert second != first and not first.exists() and leftover
        assert shm.trusted(second) and (second.stat().st_mode & 0o777) == 0o700
        assert shm.locate(socket) == second and files(second) == set()
        assert Path(os.environ[shm.ENV]) == second  # what its workers inherit
    finally:
        shm.withdraw(socket)
    assert not second.exists() and not shm.pointer(socket).exists()


def squat(kind: str, socket: Path, tmp: Path) -> Path:
    """A directory someone else could reach into, named where the daemon's would be."""
    target = tmp / "squatted"
    target.mkdir(mode=0o700)
    if kind == "group-writable":
        target.chmod(0o770)
    elif kind == "another user":
        if os.getuid() != 0:
            pytest.skip("chown to another user needs root")
        os.chown(target, 65534, 65534)
    elif kind == "symlink":
        target = tmp / "link"
        target.symlink_to(tmp / "squatted")
    shm.pointer(socket).write_text(str(target))
    shm.pointer(socket).chmod(0o600)
    return target


@pytest.mark.parametrize("kind", ["group-writable", "another user", "symlink"])
def test_a_directory_others_could_reach_is_never_used(short_tmp, monkeypatch, kind):
    socket = short_tmp / "d.sock"
    target = squat(kind, socket, short_tmp)
    assert shm.locate(socket) is None  # the client sends inline
    monkeypatch.setenv(shm.ENV, str(target))
    assert shm.directory() is None  # a worker too
    assert from_numpy(big(), shared=True).shm is None


def test_a_pointer_file_others_could_write_is_ignored(short_tmp, segments):
    socket = short_tmp / "d.sock"
    shm.pointer(socket).write_text(str(segments))
    shm.pointer(socket).chmod(0o622)
    assert shm.locate(socket) is None
    shm.pointer(socket).chmod(0o600)
    assert shm.locate(socket) == segments


def test_the_daemon_holds_a_received_file_hands_it_on_and_drops_it(daemon_side):
    socket, where = daemon_side
    x = np.arange(1 << 18, dtype=np.float32)
    sent = from_numpy(x, shared=shm.locate(socket))  # as the client sends it
    got = to_numpy(sent, "inputs.x")
    assert np.array_equal(got, x) and not got.flags.writeable  # read-only in the daemon
    (held,) = files(where)
    assert held.endswith(".held") and sent.shm not in files(where)
    onward = from_numpy(got, shared=True)
    assert onward.shm == held  # handed to the worker by name, not written again
    del got
    gc.collect()
    assert files(where) == set()


def test_the_fused_compare_hands_back_the_pages_it_read(daemon_side):
    socket, where = daemon_side
    x = np.random.default_rng(3).standard_normal(1 << 22).astype(np.float32)  # 16 MiB
    got = to_numpy(from_numpy(x, shared=shm.locate(socket)), "output")
    assert validate_output(got, x).passed  # read every page of got
    assert resident(got) < x.nbytes // 8


def resident(arr: np.ndarray) -> int:
    """Bytes of ``arr``'s mapping resident in this process (from /proc/self/smaps)."""
    start = arr.__array_interface__["data"][0]
    for line in Path("/proc/self/smaps").read_text().split("\n"):
        if "-" in line.split(" ")[0] and not line.startswith(("Name", "Size")):
            lo, hi = (int(v, 16) for v in line.split(" ")[0].split("-"))
            inside = lo <= start < hi
        elif line.startswith("Rss:") and inside:
            return int(line.split()[1]) * 1024
    raise AssertionError("mapping not found")


def test_warm_worker_gets_and_returns_large_tensors_through_shared_memory(tmp_path,
                                                                            segments):
    script = tmp_path / "double.py"
    script.write_text("def reference(inputs, **kw):\n    x = inputs['x']\n    x *= 1\n"
                      "    return {'y': x * 2, 'small': x[:2, :2]}\n")
    x = np.arange(1 << 20, dtype=np.float32).reshape(1024, 1024).T
    with Executor() as executor:
        run = executor.run_checked(script, {"x": x}, check_inputs=True)
    assert np.array_equal(run.outputs["y"], x * 2) and run.outputs["small"].shape == (2, 2)
    assert run.mutated_inputs == ()  # x *= 1 wrote the same values into its private copy
    del run
    gc.collect()
    shm_pool.POOL.trim()  # ours (x); the stopped worker's files are left for the daemon to reap
    assert all(name.endswith(".pool") for name in files(segments))
    shm_pool.reap(segments)
    assert files(segments) == set()


def test_a_requests_large_tensors_are_written_at_once_each_to_its_own_file(daemon_side):
    from gpuemu.client_cases import wire_all

    socket, where = daemon_side
    values = [big(1), np.arange(10, dtype=np.int64), big(2).view(np.float32) * 3, big(4)]
    wired = wire_all(values, socket)
    names = [td.shm for td in wired]
    assert names[1] is None and len({names[0], names[2], names[3]}) == 3  # one file each
    for value, td in zip(values, wired):
        assert np.array_equal(to_numpy(td, "x"), value, equal_nan=True)
    shm.discard(shm.names(wired), where)
