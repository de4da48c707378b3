"""A warm worker keeps its mapping of an input file between calls (gpuemu.shm_maps): the
same pages while the file is unchanged and unwritten, the file's new contents when its
sender rewrites it, a fresh mapping once the op wrote into it, and none once the file
has no name left."""

from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gpuemu import shm
from gpuemu import shm_maps
from gpuemu.shm_maps import Maps

N = 1 << 20


@pytest.fixture
def maps():
    kept = Maps()
    kept.enable()
    if not kept.active:
        pytest.skip("no readable /proc/self/pagemap")
    yield kept
    kept.clear()


@pytest.fixture
def sender(tmp_path):
    """A file like a client's pool file, rewritten in place through a shared mapping."""
    where = Path(tempfile.mkdtemp(dir=tmp_path))
    path = where / "a.pool"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, N)
    mapped = mmap.mmap(fd, N)
    os.close(fd)
    yield path, np.frombuffer(mapped, np.uint8)


def address(arr: np.ndarray) -> int:
    return arr.__array_interface__["data"][0]


def held(path: Path) -> Path:
    """A new .held link to ``path``, as the daemon hands a file to its worker per call."""
    link = path.with_name(f"{os.urandom(16).hex()}.held")
    os.link(path, link)
    return link


def test_the_mapping_is_kept_and_shows_what_the_sender_rewrote(maps, sender):
    path, written = sender
    written[:] = 1
    link = held(path)
    first = maps.take(link, N)
    assert (first == 1).all()
    os.unlink(link)
    del first
    maps.settle()
    assert len(maps) == 1
    written[:] = 2  # the client's next request, into the same file
    second = maps.take(held(path), N)
    assert (second == 2).all()
    assert len(maps) == 1  # the same mapping, not a new one
    del second
    maps.settle()


def test_a_mapping_the_op_wrote_into_is_dropped(maps, sender):
    path, written = sender
    written[:] = 1
    x = maps.take(held(path), N)
    x[12345] = 7  # the op writes into its input: a private page
    assert written[12345] == 1  # the sender's file is untouched
    del x
    maps.settle()
    assert len(maps) == 0
    again = maps.take(held(path), N)  # mapped afresh: the file's bytes, not the op's
    assert (again == 1).all() and len(maps) == 1
    del again
    maps.settle()


def test_an_array_kept_past_its_call_is_looked_at_before_its_mapping_is_reused(maps, sender):
    """A script that keeps its input and writes into it between calls does not make the
    next call see its writes instead of the file."""
    path, written = sender
    written[:] = 1
    kept_by_script = maps.take(held(path), N)
    maps.settle()  # the call is over, but the script still holds the array
    assert len(maps) == 1
    kept_by_script[999] = 5  # written after the call's look
    again = maps.take(held(path), N)
    assert (again == 1).all() and address(again) != address(kept_by_script)
    del again, kept_by_script
    maps.settle()


def test_one_file_is_never_handed_out_twice_in_a_call(maps, sender):
    path, written = sender
    written[:] = 3
    a, b = maps.take(held(path), N), maps.take(held(path), N)
    a[0] = 9
    assert b[0] == 3 and address(a) != address(b)
    del a, b
    maps.settle()


def test_a_mapping_goes_with_its_files_last_name(maps, sender):
    path, written = sender
    link = held(path)
    x = maps.take(link, N)
    del x
    maps.settle()
    assert len(maps) == 1
    os.unlink(link)
    os.unlink(path)  # the sender and the daemon removed it
    maps.sweep()
    assert len(maps) == 0


def test_kept_mappings_stay_within_a_share_of_the_address_space_cap(maps, sender, monkeypatch):
    path, written = sender
    second = path.with_name("b.pool")
    with open(second, "wb") as f:
        f.truncate(N)
    monkeypatch.setattr(shm_maps.resource, "getrlimit", lambda _: (2 * N * shm_maps.SHARE, -1))
    for name in (path, second, path):
        x = maps.take(held(name), N)
        del x
        maps.settle()
    assert len(maps) == 2  # both fit in the budget
    monkeypatch.setattr(shm_maps.resource, "getrlimit", lambda _: (N * shm_maps.SHARE, -1))
    x = maps.take(held(second), N)  # kept already: no room needed
    del x
    maps.settle()
    third = path.with_name("c.pool")
    with open(third, "wb") as f:
        f.truncate(N)
    x = maps.take(held(third), N)
    assert len(maps) == 1  # the others made room
    del x
    maps.settle()


def test_the_worker_takes_held_files_through_the_cache(tmp_path, monkeypatch, sender):
    path, written = sender
    monkeypatch.setenv(shm.ENV, str(path.parent))
    os.chmod(path.parent, 0o700)
    kept = Maps()
    kept.enable()
    monkeypatch.setattr(shm.shm_maps, "MAPS", kept)
    written[:] = 5
    name = held(path).name
    x = shm.take(name, N, "inputs.x")
    assert (x == 5).all() and len(kept) == int(kept.active)
    assert (path.parent / name).exists()  # a held file is the daemon's to unlink
    del x
    kept.clear()

