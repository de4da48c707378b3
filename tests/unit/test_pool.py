"""Release of warm workers and fork servers (gpuemu.engine.pool) through a real executor:
idle ones stop after the idle timeout, the least recently used one makes room under the
daemon-wide cap on their number, and idle ones stop while their memory is over its cap."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from gpuemu.engine.executor import Executor
from gpuemu.engine.pool import Limits

from ..conftest import wait_for
from .test_executor import X, children, needs_proc_children, warm_script
from .test_forkserver import seed_script

pytestmark = needs_proc_children

PID = "return np.array([os.getpid()], dtype=np.int64)"


def pid_of(ex: Executor, script) -> int:
    return int(ex.run_script(script, {"x": X})["output"][0])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except FileNotFoundError:
        return False


def test_idle_workers_and_servers_stop_after_the_idle_timeout(tmp_path):
    before = children()
    worker_script = warm_script(tmp_path, PID)
    with Executor(limits=Limits(idle_timeout_s=0.5)) as ex:
        worker = pid_of(ex, worker_script)
        ex.run_script(seed_script(tmp_path), {"x": X})  # in a fork server
        wait_for(lambda: ex.stats().reaped_idle == 2, "the worker and the server to be stopped")
        assert (ex.figures().live, ex.figures().rss_bytes) == (0, 0)
        assert not alive(worker) and children() - before == set()
        assert pid_of(ex, worker_script) != worker  # a call after that starts a fresh one


def test_the_least_recently_used_idle_worker_makes_room_under_max_workers(tmp_path):
    a, b, c = (warm_script(tmp_path, PID, name=f"{n}.py") for n in "abc")
    with Executor(limits=Limits(max_workers=2)) as ex:
        pa, pb = pid_of(ex, a), pid_of(ex, b)
        assert pid_of(ex, a) == pa  # a is now the more recently used
        pc = pid_of(ex, c)
        figures = ex.figures()
        assert (figures.live, figures.max_workers, ex.stats().reaped_cap) == (2, 2, 1)
        assert alive(pa) and alive(pc)
        wait_for(lambda: not alive(pb), "b's worker (least recently used) to die")


def test_a_caller_waits_for_room_when_every_worker_is_busy(tmp_path):
    """With room for one process, a call of another script waits until the busy one is done."""
    release, started = tmp_path / "release", tmp_path / "started"
    slow = warm_script(tmp_path, f"""
        Path({str(started)!r}).touch()
        while not Path({str(release)!r}).exists():
            time.sleep(0.01)
        return x
    """, name="slow.py")
    quick = warm_script(tmp_path, PID, name="quick.py")
    with Executor(limits=Limits(max_workers=1)) as ex:
        first = threading.Thread(target=ex.run_script, args=(slow, {"x": X}))
        first.start()
        wait_for(started.exists, "the slow call to start")
        done = []
        second = threading.Thread(target=lambda: done.append(pid_of(ex, quick)))
        second.start()
        assert not done and ex.figures().live == 1  # no room yet: it waits
        release.touch()
        first.join(timeout=120)
        second.join(timeout=120)
        assert done and ex.figures().live == 1 and ex.stats().reaped_cap == 1


def test_idle_workers_stop_while_their_memory_is_over_its_cap(tmp_path):
    scripts = [warm_script(tmp_path, PID, name=f"s{i}.py") for i in range(2)]
    with Executor(limits=Limits(max_memory_mb=1)) as ex:  # less than any one Python
        pids = [pid_of(ex, s) for s in scripts]
        wait_for(lambda: ex.stats().reaped_memory == 2, "both to be stopped over the cap")
        assert ex.figures().live == 0 and not any(alive(p) for p in pids)


def test_a_worker_in_a_call_is_never_stopped(tmp_path):
    release, started = tmp_path / "release", tmp_path / "started"
    slow = warm_script(tmp_path, f"""
        Path({str(started)!r}).touch()
        while not Path({str(release)!r}).exists():
            time.sleep(0.01)
        return np.array([os.getpid()], dtype=np.int64)
    """)
    with Executor(limits=Limits(idle_timeout_s=0.2, max_memory_mb=1)) as ex:
        got = []
        thread = threading.Thread(target=lambda: got.append(pid_of(ex, slow)))
        thread.start()
        wait_for(started.exists, "the call to start")
        ex._processes.reap()  # a sweep while the call runs: the busy worker is kept
        release.touch()
        thread.join(timeout=120)
        assert got and ex.stats().crashed == 0


def test_the_default_caps_follow_the_machine():
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert Limits().workers == 8 * (os.cpu_count() or 1)
    assert Limits().memory_bytes == pytest.approx(ram / 4, rel=0.01)
    assert (Limits(max_workers=3, max_memory_mb=5).workers,
            Limits(max_workers=3, max_memory_mb=5).memory_bytes) == (3, 5 << 20)
