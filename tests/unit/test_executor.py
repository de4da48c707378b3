"""The script executor, with real subprocesses: one-shot runs, warm workers, failures."""

from __future__ import annotations

import glob
import math
import os
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gpuemu.engine.executor import Executor
from gpuemu.errors import ReferenceScriptFailed

from ..conftest import wait_for


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def warm_script(tmp_path: Path, body: str, name: str = "ref.py", function: str = "reference"):
    """A script that both modes can run: ``function`` plus a main guard."""
    return write(tmp_path, name, f"""
        import os, signal, sys, time
        from pathlib import Path
        import numpy as np
        from gpuemu.script import main

        def {function}(inputs, **kwargs):
            x = inputs.get("x")
{textwrap.indent(textwrap.dedent(body), " " * 12)}

        if __name__ == "__main__":
            main({function})
    """)


@pytest.fixture
def executor():
    with Executor(max_workers_per_script=4) as ex:
        yield ex


@pytest.fixture(params=[True, False], ids=["warm", "one-shot"])
def any_executor(request):
    with Executor(max_workers_per_script=4, warm=request.param) as ex:
        yield ex


def assert_mode(ex: Executor, calls: int):
    """Every call ran in the mode the executor was made for."""
    stats = ex.stats()
    if ex.warm:
        assert (stats.spawned, stats.reused, stats.one_shot) == (1, calls - 1, 0)
    else:
        assert (stats.spawned, stats.one_shot) == (0, calls)


X = np.arange(12, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize(
    ("returns", "expected"),
    [
        ("x * kwargs['scale']", {"output": X * 3}),
        ("{'y': x * kwargs['scale'], 'z': -x}", {"y": X * 3, "z": -X}),
        ("{'output': x * kwargs['scale']}", {"output": X * 3}),
    ],
    ids=["array", "named-outputs", "output-key"],
)
def test_each_result_shape_in_each_mode(tmp_path, any_executor, returns, expected):
    script = warm_script(tmp_path, f"return {returns}")
    for _ in range(2):
        got = any_executor.run_script(script, {"x": X}, {"scale": 3}, timeout_s=10)
        assert sorted(got) == sorted(expected)
        for name, value in expected.items():
            np.testing.assert_array_equal(got[name], value)
    assert_mode(any_executor, calls=2)


def test_a_run_function_is_kept_warm_too(tmp_path, executor):
    script = warm_script(tmp_path, "return x + 1", function="run")
    np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], X + 1)
    assert_mode(executor, calls=1)


def test_the_float64_oracle_runs_where_the_script_runs(tmp_path, any_executor):
    """``oracle``: the script gets its float inputs in float64 and its float64 output comes
    back cast once to the native dtype, whether a warm worker or the executor casts."""
    x = np.random.default_rng(5).standard_normal((8, 4096)).astype(np.float32) * 1e3
    in_float64 = x.astype(np.float64).sum(axis=-1).astype(np.float32)
    assert not np.array_equal(in_float64, x.sum(axis=-1))  # the data tells the two apart
    script = warm_script(tmp_path, """
        assert x.dtype == np.float64, x.dtype
        return {"output": x.sum(axis=-1), "count": np.array([x.shape[-1]])}
    """)
    run = any_executor.run_checked(script, {"x": x}, oracle=np.dtype(np.float32))
    assert run.outputs["output"].dtype == np.float32
    np.testing.assert_array_equal(run.outputs["output"], in_float64)
    assert run.outputs["count"].dtype == np.int64  # only float64 outputs are cast
    assert_mode(any_executor, calls=1)


def test_a_warm_worker_keeps_its_heap_but_its_script_sees_the_callers_environment(
        tmp_path, executor, monkeypatch):
    """glibc read the worker's malloc settings at start (engine.heap); the script's
    environment no longer shows them."""
    for name in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    script = warm_script(tmp_path, """
        started = Path("/proc/self/environ").read_bytes().split(b"\\0")
        return np.array([b"MALLOC_MMAP_MAX_=0" in started,
                         any(k.startswith(("MALLOC_", "GPUEMU_WORKER_MALLOC")) for k in os.environ)])
    """)
    applied, visible = executor.run_script(script, {"x": X})["output"]
    assert applied and not visible
    assert_mode(executor, calls=1)


@pytest.mark.parametrize(
    "payload",
    ["from_numpy(y)", "{'output': from_numpy(y)}", "{'outputs': {'y': from_numpy(y)}}"],
)
def test_a_script_without_a_function_runs_in_a_fork_server(tmp_path, executor, payload):
    script = write(tmp_path, "manual.py", f"""
        import sys
        import msgspec
        from gpuemu.tensor import TensorData, from_numpy, to_numpy

        if __name__ == "__main__":
            request = msgspec.json.decode(sys.stdin.buffer.read())
            y = to_numpy(msgspec.convert(request["inputs"]["x"], TensorData)) * 2
            sys.stdout.buffer.write(msgspec.json.encode({payload}))
    """)
    for _ in range(2):
        (got,) = executor.run_script(script, {"x": X}).values()
        np.testing.assert_array_equal(got, X * 2)
    stats = executor.stats()
    # tried warm once, then remembered; both calls forked from one preloaded server
    assert (stats.spawned, stats.servers, stats.forked, stats.one_shot) == (1, 1, 2, 0)


def test_inputs_keep_their_layout_and_the_callers_arrays_are_untouched(tmp_path, any_executor):
    script = warm_script(tmp_path, """
        flags = np.array([x.flags.c_contiguous, x.flags.f_contiguous])
        x += 100  # in place: must not reach the caller, nor the next call
        return {"flags": flags, "x": x}
    """)
    xt = X.T
    for _ in range(2):
        got = any_executor.run_script(script, {"x": xt})
        np.testing.assert_array_equal(got["flags"], [False, True])
        np.testing.assert_array_equal(got["x"], xt + 100)
    np.testing.assert_array_equal(xt, X.T)


def test_twenty_calls_spawn_one_worker(tmp_path, executor):
    script = warm_script(tmp_path, "return x * kwargs['i']")
    for i in range(20):
        np.testing.assert_array_equal(executor.run_script(script, {"x": X}, {"i": i})["output"],
                                      X * i)
    assert_mode(executor, calls=20)


def test_an_exception_is_reported_and_the_worker_survives(tmp_path, executor):
    script = warm_script(tmp_path, """
        if kwargs.get("fail"):
            raise ValueError(f"cannot handle shape {x.shape}")
        return x
    """)
    with pytest.raises(ReferenceScriptFailed, match=r"(?s)ref.py raised in reference\(\):\n"
                       r"Traceback.*ValueError: cannot handle shape \(3, 4\)"):
        executor.run_script(script, {"x": X}, {"fail": True})
    np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], X)
    assert_mode(executor, calls=2)


@pytest.mark.parametrize(
    ("how", "status"),
    [("os._exit(3)", "exited with code 3"),
     ("os.kill(os.getpid(), signal.SIGSEGV)", "was killed by signal SIGSEGV")],
)
def test_a_crash_is_reported_and_the_next_call_gets_a_fresh_worker(tmp_path, executor, how,
                                                                     status):
    script = warm_script(tmp_path, f"""
        if kwargs.get("crash"):
            print("about to crash", flush=True)  # a warm worker's stdout is its stderr
            {how}
        return x * 2
    """)
    with pytest.raises(ReferenceScriptFailed,
                       match=rf"(?s)crashed: its warm worker died during the call and {status}"
                             r".*stderr:\nabout to crash"):
        executor.run_script(script, {"x": X}, {"crash": True})
    np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], X * 2)
    stats = executor.stats()
    assert (stats.spawned, stats.crashed) == (2, 1)


def group_is_dead(pgid: int) -> bool:
    """No live process in the group. Killed grandchildren are re-parented to init, which
    in some containers never reaps them: zombies are dead, so they count as gone."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    for stat_file in glob.glob("/proc/[0-9]*/stat"):
        try:
            state, _ppid, group = Path(stat_file).read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue  # exited while we looked
        if int(group) == pgid and state != "Z":
            return False
    return True


def test_a_hang_times_out_and_its_whole_process_group_dies(tmp_path, any_executor):
    script = warm_script(tmp_path, """
        if "pidfile" not in kwargs:
            return x
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        Path(kwargs["pidfile"]).write_text(f"{os.getpgid(0)} {child}")
        time.sleep(60)
    """)
    # The limit covers a one-shot script's start-up, so it scales with what a start-up
    # costs on this machine now (seconds on a busy one), measured by a call that returns.
    started = time.monotonic()
    any_executor.run_script(script, {"x": X}, timeout_s=600)
    limit = max(1, math.ceil(3 * (time.monotonic() - started)))
    pidfile = tmp_path / "pids"
    with pytest.raises(ReferenceScriptFailed, match=rf"ref.py timed out after {limit} s and its"
                                                    r" process group was killed"):
        any_executor.run_script(script, {"x": X}, {"pidfile": str(pidfile)}, timeout_s=limit)
    pgid, child = map(int, pidfile.read_text().split())
    assert not os.path.exists(f"/proc/{pgid}")  # the leader is reaped
    deadline = time.monotonic() + 60  # SIGKILL reaches the forked child asynchronously
    while not group_is_dead(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_is_dead(pgid), f"process group {pgid} (forked child {child}) is still alive"
    assert any_executor.stats().timed_out == 1


@pytest.mark.parametrize(
    ("main", "message"),
    [
        ("print('hello world')", r"stdout is not JSON: 'hello world'"),
        ("sys.stderr.write('oops: no weights\\n'); sys.exit(2)",
         r"(?s)exited with code 2\nlast lines of its stderr:\noops: no weights"),
        ("pass", r"wrote nothing to stdout"),
        ("print('[1, 2]')", r"wrote JSON of the wrong shape: Expected `object`, got `array`"),
        ("print('{\"shape\": [2], \"dtype\": \"Float32\", \"data\": \"\"}')",
         r"returned a bad tensor: output.output.data: holds 0 bytes"),
        ("print('{\"outputs\": {\"y\": {\"dtype\": \"Float32\"}}}')",
         r"bad TensorData in outputs.y: Object missing required field `shape`"),
        ("write_output(np.zeros(2)); print('trailing')", r"stdout is not JSON: '\{\"shape\""),
    ],
    ids=["garbage", "exit-code", "empty", "not-an-object", "bad-bytes", "bad-field", "trailing"],
)
def test_one_shot_failures_say_what_happened(tmp_path, executor, main, message):
    script = write(tmp_path, "bad.py", f"""
        import sys
        import numpy as np
        from gpuemu.script import write_output

        if __name__ == "__main__":
            {main}
    """)
    with pytest.raises(ReferenceScriptFailed, match=message):
        executor.run_script(script, {"x": X}, timeout_s=10)


def test_noise_before_the_json_line_is_accepted(tmp_path, executor):
    script = write(tmp_path, "noisy.py", """
        from gpuemu.script import read_request, write_output

        if __name__ == "__main__":
            print("loading weights...")
            print("{not json either}")
            inputs, _ = read_request()
            write_output(inputs["x"] - 1)
    """)
    np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], X - 1)


def test_prints_in_a_warm_function_do_not_corrupt_its_replies(tmp_path, executor):
    script = warm_script(tmp_path, """
        print("progress " * 1000)
        sys.stderr.write("e" * 300_000)  # more than a pipe holds: the executor drains it
        return x + 0.5
    """)
    for _ in range(3):
        np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], X + 0.5)


def test_a_missing_script_is_named(tmp_path, any_executor):
    with pytest.raises(ReferenceScriptFailed, match=r"nope.py cannot be run: No such file"):
        any_executor.run_script(Path("nope.py"), {"x": X}, cwd=tmp_path)


def test_a_script_that_fails_on_import_is_reported_from_a_one_shot_run(tmp_path, executor):
    script = write(tmp_path, "broken.py", """
        def reference(inputs, **kwargs):
            return inputs["x"]
        raise RuntimeError("cannot load the weights file")
    """)
    with pytest.raises(ReferenceScriptFailed,
                       match=r"(?s)exited with code 1.*RuntimeError: cannot load the weights file"):
        executor.run_script(script, {"x": X})


def test_an_edited_script_gets_fresh_workers(tmp_path, executor):
    script = warm_script(tmp_path, "return x * 2")
    np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], X * 2)
    warm_script(tmp_path, "return x * 20")
    np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], X * 20)
    assert executor.stats().spawned == 2


def test_relative_scripts_resolve_against_cwd_and_run_there(tmp_path, executor):
    (tmp_path / "data.txt").write_text("7")
    warm_script(tmp_path, "return x * float(Path('data.txt').read_text())")
    for ex in (executor, Executor(warm=False)):
        with ex:
            got = ex.run_script(Path("ref.py"), {"x": X}, cwd=tmp_path)["output"]
            np.testing.assert_array_equal(got, X * 7)


def test_concurrent_callers_each_get_their_own_answer(tmp_path):
    script = warm_script(tmp_path, "time.sleep(0.01); return x * kwargs['k']")
    results: dict[int, list[np.ndarray]] = {}
    with Executor(max_workers_per_script=2) as ex:

        def call(i: int) -> None:
            results[i] = [ex.run_script(script, {"x": X + i}, {"k": i})["output"]
                          for _ in range(5)]

        threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ex.stats().spawned <= 2  # callers waited for a busy worker
    for i in range(4):
        assert len(results[i]) == 5
        for got in results[i]:
            np.testing.assert_array_equal(got, (X + i) * i)


def children() -> set[int]:
    """This process's children, zombies included (without reaping anyone else's): every
    process whose parent is us. (The per-thread /proc/PID/task/TID/children lists are
    not reliable while threads come and go.)"""
    me, pids = os.getpid(), set()
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except (FileNotFoundError, ProcessLookupError):  # it ended since the glob
            continue
        if int(text.rsplit(")", 1)[1].split()[1]) == me:  # field 4, after "(comm)"
            pids.add(int(text.split(" ", 1)[0]))
    return pids


needs_proc_children = pytest.mark.skipif(not os.path.exists("/proc/self/stat"),
                                         reason="needs Linux /proc/PID/stat")


@needs_proc_children
def test_close_leaves_no_process_behind(tmp_path):
    before = children()
    script = warm_script(tmp_path, "time.sleep(0.05); return x")
    ex = Executor(max_workers_per_script=3)
    threads = [threading.Thread(target=ex.run_script, args=(script, {"x": X})) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(children() - before) == ex.stats().spawned >= 1  # idle workers stay alive
    ex.close()
    ex.close()  # idempotent
    assert children() - before == set()
    with pytest.raises(ReferenceScriptFailed, match=r"not run to the end: the executor is closed"):
        ex.run_script(script, {"x": X})


@needs_proc_children
@pytest.mark.parametrize("warm", [True, False], ids=["warm", "one-shot"])
def test_close_stops_a_call_in_flight(tmp_path, warm):
    before = children()
    script = warm_script(tmp_path, "Path(kwargs['started']).touch(); time.sleep(60)")
    started, errors = tmp_path / "started", []
    ex = Executor(warm=warm)

    def call() -> None:
        try:
            ex.run_script(script, {"x": X}, {"started": str(started)})
        except ReferenceScriptFailed as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=call)
    thread.start()
    wait_for(started.exists, "the script to start")
    ex.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(errors) == 1 and "the executor is closed" in errors[0]
    assert children() - before == set()


def test_max_workers_must_be_positive():
    with pytest.raises(ValueError, match="max_workers_per_script must be >= 1, got 0"):
        Executor(max_workers_per_script=0)


@needs_proc_children
def test_a_worker_killed_before_it_starts_never_spawns(tmp_path):
    """Executor.close can kill a worker a pool has just handed out, before its caller
    starts it: the start must then fail instead of spawning a process nobody kills."""
    from gpuemu.engine.worker import WorkerDied, WorkerProcess

    before = children()
    worker = WorkerProcess(str(warm_script(tmp_path, "pass")), str(tmp_path))
    worker.signal_kill()
    with pytest.raises(WorkerDied, match="stopped before it started"):
        worker.start(time.monotonic() + 30)
    assert children() - before == set()
    assert worker.kill() == "was already stopped"
