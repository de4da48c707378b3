"""Reference and op scripts that misbehave, run by a real daemon in both execution modes
(a warm worker that imports the script, and a script without a function to call, forked
per case from a preloaded server; "oneshot" in the names below): each fault is
a clear failure, the daemon keeps answering, and no process the scripts started survives.

Every process a script starts names the script in its command line (a fork copies it; a
spawned grandchild gets the script's path as an argument), and the scripts live in a
temporary directory of a unique name, which is how the leak checks find them in /proc.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest

from gpuemu.errors import ReferenceScriptFailed

from .reliability_support import (
    DOUBLE, daemon_for, ping, project_dir, running, wait_until_gone, zombie_children,
)

pytestmark = pytest.mark.e2e

MARKER = "scriptfaults"
MODES = {"warm": "reference", "oneshot": "_impl"}  # only `reference`/`run` are kept warm

# fault -> function body; `x` is the input, `2 * x` the right answer (the op doubles).
FAULTS = {
    "crash": "os.kill(os.getpid(), signal.SIGSEGV)",
    "raise": "raise ValueError('cannot handle shape %s' % (x.shape,))",
    "hang": "time.sleep(60)",
    "noise": """
        os.write(1, b"loading weights...\\n")  # raw fd 1: under the script's own stdout
        print("progress 50%")
        return 2 * x
    """,
    "nan": "return np.full_like(x, np.nan)",
    "wrong_shape": "return 2 * x[:1]",
    "fork_child": """
        if os.fork() == 0:  # holds the script's stdout and stderr, and sleeps
            time.sleep(120)
            os._exit(0)
        return 2 * x
    """,
    "daemon_grandchild": """
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", __file__],
                         start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return 2 * x
    """,
    # Bounded by its own address-space limit, so the test machine is never at risk.
    "memory": """
        import resource
        vm = int(open("/proc/self/statm").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = vm + (256 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
        assert resource.getrlimit(resource.RLIMIT_AS)[0] == limit
        hog = [np.ones(64 << 20, np.uint8) for _ in range(64)]  # MemoryError long before 4 GiB
        return 2 * x
    """,
}
HANG_TIMEOUT_S = 1.0

# How each fault of a reference script reaches a ValidateOp caller.
REFERENCE_EXPECT = {
    "crash": ("raises", r"killed by signal SIGSEGV"),
    "raise": ("raises", r"(?s)ValueError: cannot handle shape \(4, 8\)"),
    "hang": ("raises", rf"timed out after {HANG_TIMEOUT_S:g} s and its process group was killed"),
    "noise": ("passes", None),
    "nan": ("fails", r"ToleranceExceeded: .*expected nan"),
    "wrong_shape": ("fails", r"ShapeMismatch"),
    "fork_child": ("passes", None),
    "daemon_grandchild": ("passes", None),
    "memory": ("raises", r"(?s)MemoryError"),
}
# How each fault of an op script shows in a FuzzOp run: a failure of the case, not an error.
OP_EXPECT = {
    "crash": r"ExecutionError.*SIGSEGV",
    "nan": r"NaNDetected",
    "wrong_shape": r"ShapeMismatch",
    "memory": r"ExecutionError.*MemoryError",
}




def script(fault: str, function: str) -> str:
    body = textwrap.indent(textwrap.dedent(FAULTS[fault]).strip(), " " * 4)
    return (
        "import os, signal, subprocess, sys, time\nimport numpy as np\n"
        "from gpuemu.script import main\n\n"
        f"def {function}(inputs, **kwargs):\n    x = inputs['x']\n"
        f"{body}\n\nif __name__ == '__main__':\n    main({function})\n"
    )


def reasons(result) -> str:
    return "; ".join(f"{f.kind}: {f.message}" for f in result.failures)


def op_entry(name: str, reference: str, op_script: str | None = None) -> str:
    timeout = HANG_TIMEOUT_S if "hang" in name else 30.0
    lines = [f'[[ops]]\nname = "{name}"\nreference = "{reference}"\ninput_names = ["x"]',
             f"timeout_s = {timeout}"]
    if op_script:
        lines.append(f'op_script = "{op_script}"\n[ops.fuzz]\nbatch_sizes = [2]\n'
                     "seq_lengths = [3]\nhidden_dims = [8]\nedge_case_prob = 0.0")
    return "\n".join(lines)


def project_files() -> dict[str, str]:
    files, ops = {"refs/double.py": DOUBLE}, []
    for mode, function in MODES.items():
        for fault in FAULTS:
            files[f"refs/{fault}_{mode}.py"] = script(fault, function)
            ops.append(op_entry(f"{fault}_{mode}", f"refs/{fault}_{mode}.py"))
        for fault in OP_EXPECT:
            files[f"ops/{fault}_{mode}.py"] = script(fault, "run" if mode == "warm" else function)
            ops.append(op_entry(f"op_{fault}_{mode}", "refs/double.py", f"ops/{fault}_{mode}.py"))
    files["gpuemu.toml"] = '[project]\nname = "script-faults"\n\n' + "\n\n".join(ops) + "\n"
    return files


@pytest.fixture(scope="module")
def daemon():
    with project_dir(MARKER, project_files()) as root, running(daemon_for(root)) as d:
        yield d


X = np.arange(32, dtype=np.float32).reshape(4, 8)


def test_a_right_answer_passes(daemon):
    with daemon.client() as c:
        assert c.validate_op("noise_warm", {"x": X}, 2 * X).passed


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_faulty_reference_is_a_clear_failure(daemon, fault, mode):
    outcome, pattern = REFERENCE_EXPECT[fault]
    with daemon.client(timeout_ms=60_000) as c:
        if outcome == "raises":
            with pytest.raises(ReferenceScriptFailed, match=pattern) as info:
                c.validate_op(f"{fault}_{mode}", {"x": X}, 2 * X)
            assert f"{fault}_{mode}.py" in str(info.value)  # names the script
        else:
            result = c.validate_op(f"{fault}_{mode}", {"x": X}, 2 * X)
            assert result.passed == (outcome == "passes"), reasons(result)
            assert pattern is None or re.search(pattern, reasons(result)), reasons(result)
        assert c.ping().protocol_version == 1
    if mode == "oneshot":  # what a forked script left running dies when it exits
        assert wait_until_gone(daemon.config.parent.name, "_oneshot.py",
                               servers_of=daemon.proc.pid) == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", OP_EXPECT)
def test_a_faulty_op_script_fails_its_cases_and_the_run_goes_on(daemon, fault, mode):
    with daemon.client(timeout_ms=60_000) as c:
        run = c.fuzz_op(f"op_{fault}_{mode}", iterations=1, seed=11)
    assert (run.iterations, run.failed) == (1, 1)
    for failure in run.failures:
        assert re.search(f"(?s){OP_EXPECT[fault]}", reasons(failure)), reasons(failure)
        assert failure.repro_info.command.startswith("gpuemu reproduce --seed")


def test_the_daemon_reaps_what_it_starts_and_leaves_nothing_behind(daemon):
    """Runs last in this module: every fault above has run in both modes by now."""
    assert ping(daemon.socket)
    assert zombie_children(daemon.proc.pid) == []
    with daemon.client() as c:
        c.shutdown()
    assert daemon.proc.wait(timeout=30) == 0
    assert wait_until_gone(daemon.config.parent.name) == []
