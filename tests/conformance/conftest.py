"""A project whose ops and kernel every conformance test can drive, served by a real daemon."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ..conftest import DaemonProcess
from .support import write

PTX = Path(__file__).parent.parent / "data" / "ptx" / "saxpy.ptx"

# Our own script style (gpuemu.script): warm workers keep the wire tests fast; the seeds'
# script style has its own tests (test_script_protocol.py).
RELU_REF = """
import numpy as np
from gpuemu.script import main

def reference(inputs, **kwargs):
    return np.maximum(inputs["x"], 0)

if __name__ == "__main__":
    main(reference)
"""
ABS_OP = RELU_REF.replace("np.maximum(inputs[\"x\"], 0)", "np.abs(inputs[\"x\"])")

TOML = """
[ci]
quick_iterations = 2

[[ops]]
name = "relu"
reference = "refs/relu.py"
op_script = "refs/relu.py"
input_names = ["x"]

[[ops]]
name = "relu_abs"
reference = "refs/relu.py"
op_script = "ops/abs.py"
input_names = ["x"]

[[ops]]
name = "matmul"
reference = "refs/matmul.py"
op_script = "refs/matmul.py"
input_names = ["a", "b"]

[[kernels]]
name = "saxpy"
ptx = "kernels/saxpy.ptx"
"""
MATMUL_REF = """
import numpy as np
from gpuemu.script import main

def reference(inputs, **kwargs):
    a, b = inputs["a"], inputs["b"]
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(a.dtype)

if __name__ == "__main__":
    main(reference)
"""


def make_project(root: Path) -> Path:
    write(root / "refs" / "relu.py", RELU_REF)
    write(root / "ops" / "abs.py", ABS_OP)
    write(root / "refs" / "matmul.py", MATMUL_REF)
    (root / "kernels").mkdir(parents=True)
    shutil.copy(PTX, root / "kernels" / "saxpy.ptx")
    write(root / "gpuemu.toml", TOML)
    return root


@pytest.fixture
def project(short_tmp) -> Path:
    return make_project(short_tmp / "proj")


@pytest.fixture
def daemon(make_daemon, project):
    return make_daemon(project / "gpuemu.toml")


@pytest.fixture(scope="module")
def module_daemon():
    """One daemon (on its own GPUEMU_HOME) for a module's tests, which must then not depend
    on what the others stored."""
    tmp = Path(tempfile.mkdtemp(prefix="ge-", dir="/tmp"))
    root = make_project(tmp / "proj")
    env = {**os.environ, "GPUEMU_HOME": str(tmp / "home"), "GPUEMU_AUTO_START": "0"}
    env.pop("GPUEMU_SOCKET", None)
    daemon = DaemonProcess(home=tmp / "home", config=root / "gpuemu.toml", env=env).start()
    yield daemon
    daemon.stop()
    shutil.rmtree(tmp, ignore_errors=True)
