"""The benchmark project (gpuemu.toml and its scripts) in a temporary directory, and
real daemons started on it in a private GPUEMU_HOME, as tests/conftest.py does.

Each script exists twice: warm-capable (it defines ``reference``/``run``, so the daemon
loads it once per worker) and without a function to call (the same code under another
name, so the executor runs it as ``__main__`` forked from a fork server per call). That
is how "without warm workers" is measured: the daemon has no switch for it, the script
decides. The softmax pair also exists as the specification writes scripts (SEED_SCRIPTS).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gpuemu.client import Client
from gpuemu.daemon.launcher import start_daemon_and_wait, stop_daemon
from gpuemu.dtypes import DType
from gpuemu.protocol import Form
from gpuemu.tolerances import ToleranceConfig
from gpuemu.validate import ValidationResult, validate_output

SCRIPT = """
import numpy as np
from gpuemu.script import main

def {name}(inputs, **kwargs):
    {body}

if __name__ == "__main__":
    main({name})
"""
BODIES = {
    "softmax": """x = inputs["x"].astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(inputs["x"].dtype)""",
    "relu": """return np.maximum(inputs["x"], 0)""",
}
# file -> (body, function name); "compute" is neither `reference` nor `run`: forked per call
SCRIPTS = {
    "softmax_ref.py": ("softmax", "reference"),
    "softmax_op.py": ("softmax", "run"),
    "softmax_ref_cold.py": ("softmax", "compute"),
    "softmax_op_cold.py": ("softmax", "compute"),
    "relu_ref.py": ("relu", "reference"),
}
# Scripts as the specification writes them: base64 JSON by hand, no function to call.
# The reference runs at module level (seed 003's form), the op under a main guard (004's).
SEED_CODEC = """import base64, json, sys
import numpy as np

def decode_tensor(t):
    raw = base64.b64decode(t["data"])
    return np.frombuffer(raw, dtype=np.dtype(t["dtype"])).reshape(t["shape"])

def encode_tensor(arr):
    return {"data": base64.b64encode(arr.tobytes()).decode("ascii"),
            "dtype": str(arr.dtype), "shape": list(arr.shape)}

def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)
"""
SEED_SCRIPTS = {
    "softmax_ref_seed.py": SEED_CODEC + """
request = json.loads(sys.stdin.read())
x = decode_tensor(request["inputs"]["x"]).astype(np.float64)
json.dump({"outputs": {"result": encode_tensor(softmax(x).astype(np.float32))}}, sys.stdout)
""",
    "softmax_op_seed.py": SEED_CODEC + """
if __name__ == "__main__":
    payload = json.load(sys.stdin)
    inputs = {name: decode_tensor(t) for name, t in payload["inputs"].items()}
    json.dump(encode_tensor(softmax(inputs["x"])), sys.stdout)
""",
}
FUZZ = """
[ops.fuzz]
batch_sizes = [2, 4]
seq_lengths = [8, 16]
hidden_dims = [32, 64]
edge_case_prob = 0.0
# the original's workload, not the default mix: figures stay comparable between versions
layouts = ["contiguous"]
distributions = ["uniform"]
"""
CONFIG = f"""
[project]
name = "gpuemu-bench"

[cluster]
cases_per_task = 25

[[ops]]
name = "softmax"
reference = "scripts/softmax_ref.py"
input_names = ["x"]

[[ops]]
name = "relu"
reference = "scripts/relu_ref.py"
input_names = ["x"]
timeout_s = 600.0
# the reference in the inputs' own dtype, as the in-process floors run it (the default
# float64 oracle would move and compute twice the bytes: bench/large.py shows that too)
oracle = "native"

[[ops]]
name = "relu_oracle"
reference = "scripts/relu_ref.py"
input_names = ["x"]
timeout_s = 600.0

[[ops]]
name = "fuzz_warm"
reference = "scripts/softmax_ref.py"
op_script = "scripts/softmax_op.py"
input_names = ["x"]
{FUZZ}
[[ops]]
name = "fuzz_cold"
reference = "scripts/softmax_ref_cold.py"
op_script = "scripts/softmax_op_cold.py"
input_names = ["x"]
{FUZZ}
[[ops]]
name = "fuzz_seed"
reference = "scripts/softmax_ref_seed.py"
op_script = "scripts/softmax_op_seed.py"
input_names = ["x"]
{FUZZ}"""
CLIENT_TIMEOUT_MS = 600_000  # a 256 MiB ValidateOp in JSON takes seconds
TOLERANCE = ToleranceConfig.for_dtype(DType.Float32)  # what the daemon uses for these ops


def write_project(root: Path) -> Path:
    """Write the project under ``root``; returns its gpuemu.toml."""
    (root / "scripts").mkdir(parents=True)
    for file, (body, name) in SCRIPTS.items():
        text = SCRIPT.format(name=name, body=BODIES[body])
        (root / "scripts" / file).write_text(textwrap.dedent(text).lstrip())
    for file, text in SEED_SCRIPTS.items():
        (root / "scripts" / file).write_text(text)
    config = root / "gpuemu.toml"
    config.write_text(CONFIG.lstrip())
    return config


def load_function(script: Path, name: str) -> Callable:
    """A script's function, imported into this process (the in-process floors call it)."""
    spec = importlib.util.spec_from_file_location(f"bench_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def must_pass(result: ValidationResult) -> None:
    """Every benchmarked case is correct: a failure would time the failure path instead."""
    if not result.passed:
        raise RuntimeError(f"the benchmark's own {result.op_name} failed validation:"
                           f" {[f.message for f in result.failures]}")


def compare(op: str, actual, expected) -> None:
    """The in-process floor's check: validate_output as the daemon calls it for ``op``."""
    must_pass(validate_output(actual, expected, op_name=op, tolerance=TOLERANCE))


def validate_call(client: Client, op: str, inputs: dict, output) -> Callable[[], None]:
    """One ValidateOp through the daemon, as a timed call."""
    return lambda: must_pass(client.validate_op(op, inputs, output))


@dataclass
class Daemon:
    """A ``python -m gpuemu.daemon --quiet`` subprocess on its own GPUEMU_HOME."""

    root: Path
    proc: subprocess.Popen

    @property
    def project(self) -> Path:
        return self.root / "proj"

    @property
    def socket(self) -> Path:
        return self.root / "home" / "gpuemu.sock"

    def client(self, form: Form = Form.MSGPACK) -> Client:
        return Client(socket_path=self.socket, timeout_ms=CLIENT_TIMEOUT_MS, auto_start=False,
                      form=form)

    def memory(self, field: str) -> int:
        """Bytes of a /proc/<pid>/status memory field of the daemon (VmRSS, VmHWM)."""
        return proc_memory(self.proc.pid, field)

    def stop(self) -> None:
        stop_daemon(self.proc)


def proc_memory(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    raise KeyError(f"/proc/{pid}/status has no {field} line; this benchmark needs Linux")


@contextmanager
def running_daemon(wait_s: float = 30.0, extra_env: dict[str, str] | None = None,
                   make_project: Callable[[Path], Path] = write_project) -> Iterator[Daemon]:
    """A fresh project (``make_project(root)`` writes it and returns its gpuemu.toml) and
    daemon in a short temporary directory (socket paths must stay under ~100 bytes),
    removed afterwards; ``extra_env`` (a Ray cluster's token) goes into the daemon's
    environment."""
    root = Path(tempfile.mkdtemp(prefix="gpuemu-bench-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k != "GPUEMU_SOCKET"}
    env.update(GPUEMU_HOME=str(root / "home"), GPUEMU_AUTO_START="0", **(extra_env or {}))
    try:
        config = make_project(root / "proj")
        daemon = Daemon(root, start_daemon_and_wait(config, root / "home" / "gpuemu.sock",
                                                    env=env, cwd=config.parent, wait_s=wait_s))
        try:
            yield daemon
        finally:
            daemon.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Session:
    """One run's options and the daemon the benchmarks share (started on first use,
    stopped when the session's ``with`` block ends)."""

    quick: bool = False
    large: bool = False
    _daemon: Daemon | None = field(default=None, repr=False)
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)

    def reps(self, default: int, quick: int) -> int:
        return quick if self.quick else default

    @property
    def daemon(self) -> Daemon:
        if self._daemon is None:
            self._daemon = self._stack.enter_context(running_daemon())
        return self._daemon

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()
