"""Fork servers through the executor: scripts in the specification's form (JSON on stdin,
JSON on stdout, no function to call) forked per case from a preloaded process, with the
isolation of a one-shot run (crash, hang, huge output)."""

from __future__ import annotations

import math
import os
import threading
import time

import numpy as np
import pytest

from gpuemu.engine.executor import Executor
from gpuemu.errors import ReferenceScriptFailed

from ..conftest import wait_for
from .test_executor import X, children, group_is_dead, needs_proc_children, write

# Verbatim in form from seed 004: base64 JSON by hand, the work under the main guard.
SEED_STYLE = """
    import base64, json, os, signal, sys, time
    import numpy as np

    def decode_tensor(t):
        data = base64.b64decode(t["data"])
        return np.frombuffer(data, dtype=np.dtype(t["dtype"])).reshape(t["shape"])

    def encode_tensor(arr):
        return {{"shape": list(arr.shape), "dtype": str(arr.dtype),
                 "data": base64.b64encode(arr.tobytes()).decode()}}

    if __name__ == "__main__":
        payload = json.load(sys.stdin)
        kwargs = payload.get("kwargs", {{}})
        x = decode_tensor(payload["inputs"]["x"])
{body}
        json.dump(encode_tensor(2 * x), sys.stdout)
"""


def seed_script(tmp_path, body: str = "", name: str = "seed.py"):
    indented = "\n".join(" " * 8 + line for line in body.strip().splitlines())
    return write(tmp_path, name, SEED_STYLE.format(body=indented))


@pytest.fixture
def executor():
    with Executor(max_workers_per_script=2) as ex:
        yield ex


def test_a_seed_style_script_is_forked_from_one_server(tmp_path, executor):
    script = seed_script(tmp_path)
    for _ in range(5):
        np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], 2 * X)
    stats = executor.stats()
    assert (stats.servers, stats.forked, stats.one_shot) == (1, 5, 0)


def test_leading_imports_are_preloaded_once_and_a_setting_before_an_import_holds(tmp_path,
                                                                                 executor):
    """The server runs the imports before the first other statement, once; an import after
    an ``os.environ[...] = ...`` runs in each child, after the setting, as in a fresh run."""
    log = tmp_path / "imports.log"
    for name in ("early", "late"):
        write(tmp_path, f"{name}.py", f"""
            import os
            with open({str(log)!r}, "a") as f:
                f.write("{name} " + os.environ.get("MODE", "-") + "\\n")
        """)
    script = write(tmp_path, "ref.py", """
        '''A docstring first.'''
        from __future__ import annotations
        import early
        import os
        os.environ["MODE"] = "set"
        import late
        from gpuemu.script import read_request, write_output

        if __name__ == "__main__":
            inputs, _ = read_request()
            write_output(inputs["x"] + 1)
    """)
    for _ in range(3):
        np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], X + 1)
    warm_probe = ["early -", "late set"]  # the first call's worker imports it, finds no function
    assert log.read_text().splitlines() == warm_probe + ["early -"] + ["late set"] * 3


@pytest.mark.parametrize(("how", "status"), [("sys.exit(3)", "exited with code 3"),
                                             ("os.kill(os.getpid(), signal.SIGSEGV)",
                                              "was killed by signal SIGSEGV")])
def test_a_crash_fails_its_case_and_the_server_serves_the_next(tmp_path, executor, how, status):
    script = seed_script(tmp_path, f"""
        if kwargs.get("crash"):
            print("about to crash", file=sys.stderr, flush=True)
            {how}
    """)
    with pytest.raises(ReferenceScriptFailed,
                       match=rf"(?s)seed.py {status}\nlast lines of its stderr:\nabout to crash"):
        executor.run_script(script, {"x": X}, {"crash": True})
    np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], 2 * X)
    assert (executor.stats().servers, executor.stats().forked) == (1, 2)


def test_an_uncaught_exception_shows_its_traceback(tmp_path, executor):
    script = seed_script(tmp_path, "raise ValueError(f'cannot handle shape {x.shape}')")
    with pytest.raises(ReferenceScriptFailed,
                       match=r"(?s)exited with code 1.*Traceback.*seed.py.*ValueError: cannot handle"
                             r" shape \(3, 4\)"):
        executor.run_script(script, {"x": X})


def test_a_hang_times_out_and_its_whole_process_group_dies(tmp_path, executor):
    script = seed_script(tmp_path, """
        if "pidfile" in kwargs:
            child = os.fork()
            if child == 0:
                time.sleep(60)
                os._exit(0)
            open(kwargs["pidfile"], "w").write(f"{os.getpgid(0)} {child}")
            time.sleep(60)
    """)
    started = time.monotonic()
    executor.run_script(script, {"x": X}, timeout_s=600)  # the server's start-up, measured
    limit = max(1, math.ceil(3 * (time.monotonic() - started)))
    pidfile = tmp_path / "pids"
    with pytest.raises(ReferenceScriptFailed, match=rf"timed out after {limit} s and its process"):
        executor.run_script(script, {"x": X}, {"pidfile": str(pidfile)}, timeout_s=limit)
    pgid, child = map(int, pidfile.read_text().split())
    wait_for(lambda: group_is_dead(pgid), f"process group {pgid} (child {child}) to die")
    np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], 2 * X)
    assert executor.stats().timed_out == 1


def test_huge_output_arrives_whole_and_huge_stderr_is_cut_to_its_tail(tmp_path, executor):
    big = np.arange(4 << 20, dtype=np.float32)  # 16 MiB: ~21 MiB of base64 on stdout
    script = seed_script(tmp_path, """
        if kwargs.get("noisy"):
            for i in range(200_000):
                print(f"line {i} " + "x" * 100, file=sys.stderr)
            sys.exit(1)
    """)
    np.testing.assert_array_equal(executor.run_script(script, {"x": big})["output"], 2 * big)
    with pytest.raises(ReferenceScriptFailed, match=r"(?s)exited with code 1.*line 199999 x+$") as e:
        executor.run_script(script, {"x": X}, {"noisy": True})
    assert len(str(e.value)) < 10_000


@needs_proc_children
def test_close_stops_a_forked_case_in_flight_and_leaves_nothing(tmp_path):
    before = children()
    started = tmp_path / "started"
    script = seed_script(tmp_path, f"open({str(started)!r}, 'w').close(); time.sleep(60)")
    ex, errors = Executor(), []

    def call() -> None:
        try:
            ex.run_script(script, {"x": X})
        except ReferenceScriptFailed as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=call)
    thread.start()
    wait_for(started.exists, "the script to start")
    ex.close()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(errors) == 1 and "the executor is closed" in errors[0]
    wait_for(lambda: children() - before == set(), "the server and its child to be reaped")


def test_an_edited_script_gets_a_fresh_server(tmp_path, executor):
    script = seed_script(tmp_path)
    executor.run_script(script, {"x": X})
    text = script.read_text().replace("2 * x", "3 * x")
    script.write_text(text)
    os.utime(script, ns=(time.time_ns(), time.time_ns() + 10**9))
    np.testing.assert_array_equal(executor.run_script(script, {"x": X})["output"], 3 * X)
    assert executor.stats().servers == 2


def test_a_syntax_error_is_reported_as_python_would(tmp_path, executor):
    script = write(tmp_path, "broken.py", "import numpy\nif __name__ == '__main__'\n    pass\n")
    with pytest.raises(ReferenceScriptFailed, match=r"(?s)exited with code 1.*SyntaxError"):
        executor.run_script(script, {"x": X})


def test_each_case_gets_fresh_numpy_randomness_as_a_new_process_would(tmp_path, executor):
    script = write(tmp_path, "noise.py", """
        import numpy as np
        from gpuemu.script import read_request, write_output

        if __name__ == "__main__":
            read_request()
            write_output(np.random.random(4))
    """)
    draws = {executor.run_script(script, {"x": X})["output"].tobytes() for _ in range(3)}
    assert len(draws) == 3
