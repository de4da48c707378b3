"""`gpuemu debug` driven through a pseudo-terminal against a real daemon with failures in it."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest

from gpuemu.config import load_config
from gpuemu.fuzz import FuzzConfig, generate_case

from ..conftest import SOFTMAX_REF, write

pytestmark = pytest.mark.e2e

PROMPT = "(gpuemu) "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")

# Processes the last dim in blocks of 16 and leaves the partial tail block at zero;
# only `run` (no __main__ guard), as a warm-only op script may be.
TAIL_OP = """
import numpy as np
def run(inputs, **kw):
    x = inputs["x"].astype(np.float64)
    n = x.shape[-1] // 16 * 16
    out = np.zeros_like(x)
    if n:
        e = np.exp(x[..., :n] - x[..., :n].max(-1, keepdims=True))
        out[..., :n] = e / e.sum(-1, keepdims=True)
    return out.astype(inputs["x"].dtype)
"""
GOOD_OP = """
import numpy as np
def run(inputs, **kw):
    x = inputs["x"]
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
"""
CONFIG = """
[[ops]]
name = "tail"
reference = "refs/softmax.py"
op_script = "ops/tail.py"
input_names = ["x"]
invariants = ["normalized"]
[ops.fuzz]
batch_sizes = [2]
seq_lengths = [3]
hidden_dims = [20, 32]
edge_case_prob = 0.0

[[ops]]
name = "softmax_client"
reference = "refs/softmax.py"
input_names = ["x"]
invariants = ["non_negative", "normalized"]
"""


class Terminal:
    """A process on a pseudo-terminal: send lines, read up to the next prompt."""

    def __init__(self, args: list[str], cwd: Path):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     env=os.environ, start_new_session=True,
                                     preexec_fn=_controlling_terminal)
        os.close(slave)
        self.master, self.seen, self.pos = master, "", 0

    def read_until(self, marker: str, wait_s: float = 120.0) -> str:
        deadline = time.monotonic() + wait_s  # a safety net against a hang, not a timing check
        while marker not in self.seen[self.pos:]:
            ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise AssertionError(f"no {marker!r} on the terminal; it shows:\n{self.seen}")
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the process closed the terminal
                data = b""
            if not data:
                raise AssertionError(f"the terminal closed before {marker!r}:\n{self.seen}")
            self.seen += ANSI.sub("", data.decode(errors="replace"))
        end = self.seen.index(marker, self.pos) + len(marker)
        chunk, self.pos = self.seen[self.pos:end], end
        return chunk

    def interrupt(self, answer: str, attempts: int = 10) -> str:
        """Ctrl-C until ``answer`` shows, as a user would press it again: CPython's readline
        loses a SIGINT that lands after it printed the prompt and before it blocks in
        select() (nothing wakes it then). A slow answer only costs an extra, harmless press."""
        for _ in range(attempts):
            os.write(self.master, b"\x03")
            try:
                return self.read_until(answer, wait_s=5.0)
            except AssertionError:
                continue
        raise AssertionError(f"no {answer!r} after {attempts} presses of Ctrl-C:\n{self.seen}")

    def command(self, line: str) -> str:
        os.write(self.master, line.encode() + b"\n")
        return self.read_until(PROMPT)

    def wait(self) -> int:
        return self.proc.wait(timeout=60)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def _controlling_terminal() -> None:
    """In the child, after setsid: make the pty its terminal, so that Ctrl-C is SIGINT."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.fixture
def project(short_tmp):
    root = short_tmp / "proj"
    write(root / "refs" / "softmax.py", SOFTMAX_REF)
    write(root / "ops" / "tail.py", TAIL_OP)
    write(root / "gpuemu.toml", CONFIG)
    return root


@pytest.fixture
def failures(make_daemon, project):
    """A daemon holding script-based passes and failures and one client-side failure."""
    with make_daemon(project / "gpuemu.toml").client(timeout_ms=120_000) as client:
        fuzz = client.fuzz_op("tail", iterations=8, seed=3)
        assert fuzz.failed and fuzz.passed, "want both verdicts in the store"
        x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
        by_client = client.validate_op("softmax_client", {"x": x}, np.zeros_like(x))
        assert not by_client.passed
        return fuzz.failures[0], by_client


def debug(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gpuemu", "debug", *args], cwd=cwd,
                          capture_output=True, text=True, env=os.environ, timeout=120)


def test_interactive_session_over_a_pty(failures, project):
    failed, by_client = failures
    with Terminal([sys.executable, "-m", "gpuemu", "debug"], cwd=project) as term:
        converse(term, failed.seed, by_client.seed, project)


def converse(term: Terminal, seed: int, client_seed: int, project: Path) -> None:
    assert "gpuemu debug:" in term.read_until(PROMPT)

    listed = term.command("results")
    assert str(seed) in listed and str(client_seed) in listed
    assert re.search(rf"{seed}\s+tail\s+FAIL\s+float32\s+\[2, 3, 20\]", listed), listed
    assert re.search(r"\s+tail\s+PASS\s+float32\s+\[2, 3, 32\]", listed), listed

    only_tail = term.command("failures 5 tail")
    assert str(seed) in only_tail and str(client_seed) not in only_tail

    shown = term.command(f"show {seed}")
    assert "ToleranceExceeded" in shown and "mismatch:" in shown
    assert f"replay: gpuemu reproduce --seed {seed} --op tail" in shown

    assert f"seed {seed}: still fails" in term.command(f"replay {seed}")

    summary = term.command(f"inputs {seed}")
    assert "regenerated by the daemon" in summary
    assert re.search(r"x: float32 \[2, 3, 20\] strides \[60, 20, 1\] \(contiguous\)", summary)

    op = load_config(project / "gpuemu.toml", user_config=None).op("tail")
    x = generate_case(FuzzConfig.from_op(op), seed, "tail").inputs["x"]
    element = term.command(f"inputs {seed} x 1,2,19")
    printed = re.search(r"x\[1,2,19\] = (\S+)", element)
    assert printed and np.float32(printed.group(1)) == x[1, 2, 19], element

    tail_block = term.command(f"inputs {seed} actual 0, 0, 16:")  # the bug: tail left at 0
    assert "actual[0, 0, 16:]: shape [4]" in tail_block and "[0. 0. 0. 0.]" in tail_block

    first = term.command(f"step {seed}")
    assert "recomputed here on the regenerated inputs (tail.py against softmax.py)" in first
    assert "[1/7] execute    PASS" in first and "[2/7]" not in first
    pages = [term.command(line) for line in ("", "next", "", "", "", "", "")]
    assert "[2/7] shape      PASS" in pages[0] and "actual [2, 3, 20], expected [2, 3, 20]" in pages[0]
    assert "[3/7] dtype      PASS" in pages[1]
    assert "[4/7] tolerance  FAIL" in pages[2] and "out of tolerance; worst at [" in pages[2]
    assert "[5/7] nan        PASS" in pages[3] and "NaN in actual: 0, in expected: 0" in pages[3]
    assert "[6/7] inf        PASS" in pages[4]
    assert "[7/7] invariants PASS" in pages[5] and "normalized: PASS" in pages[5]
    assert "verdict: FAIL (ToleranceExceeded)" in pages[6] and "note:" not in pages[6]
    assert "nothing is being stepped through" in term.command("next")

    stored = term.command(f"step {client_seed} all")
    assert "stages of the daemon's stored result" in stored
    assert "[4/7] tolerance  FAIL" in stored and "[7/7] invariants FAIL" in stored
    assert "non_negative: PASS" in stored and "normalized: FAIL" in stored

    unavailable = term.command(f"inputs {client_seed}")
    assert "not available here" in unavailable and "x: float32 [2, 4] strides [4, 1]" in unavailable

    assert "error: no stored result with seed 12345" in term.command("show 12345")
    assert "error: SEED must be a whole number" in term.command("show -1")
    assert "unknown command 'frobnicate'" in term.command("frobnicate")
    helped = term.command("help")
    for usage in ("results [N] [OP]", "inputs SEED [NAME] [SLICE]", "step [SEED [all]]", "quit"):
        assert usage in helped

    term.interrupt("^C (quit to leave)")  # Ctrl-C abandons the line, not the session
    term.read_until(PROMPT)
    os.write(term.master, b"quit\n")
    assert term.wait() == 0


def test_commands_mode_prints_every_stage_and_sets_the_exit_status(failures, project):
    failed, _ = failures
    ok = debug("-c", f"step {failed.seed}", "-c", "failures 1", cwd=project)
    assert ok.returncode == 0, ok.stderr
    assert "[1/7] execute" in ok.stdout and "verdict: FAIL (ToleranceExceeded)" in ok.stdout
    assert "Enter" not in ok.stdout

    bad = debug("-c", "show 99", "-c", "results", cwd=project)
    assert bad.returncode == 1
    assert "error: no stored result with seed 99" in bad.stdout and "SEED" in bad.stdout


def test_step_says_when_the_recomputation_disagrees_with_the_store(failures, project):
    failed, _ = failures
    (project / "ops" / "tail.py").write_text(GOOD_OP)  # the bug is fixed since the failure
    fixed = debug("-c", f"step {failed.seed}", cwd=project)
    assert fixed.returncode == 0, fixed.stderr
    assert "[4/7] tolerance  PASS" in fixed.stdout and "verdict: PASS" in fixed.stdout
    assert "note: the daemon stored FAIL (ToleranceExceeded) for this seed" in fixed.stdout


def test_unreachable_daemon_exits_3(gpuemu_home, short_tmp):
    gone = debug(cwd=short_tmp)
    assert gone.returncode == 3
    assert "no gpuemu daemon answers" in gone.stderr and "gpuemu daemon start" in gone.stderr
