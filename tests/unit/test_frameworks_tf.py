"""The TensorFlow adapter's tests (tf_cases.py), run in a child pytest.

TensorFlow and triton each carry their own LLVM: a process that imports triton after
tensorflow aborts ("LLVM ERROR: inconsistency in registered CommandLine options"), and
other tests import triton. Collecting a module that imports tensorflow would do that
to the whole run, so the TensorFlow tests get a process of their own.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

needs_tensorflow = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="tensorflow is not installed (pip install 'gpuemu[tensorflow]')")


def run_in_child(cases: Path) -> None:
    """Run the test file ``cases`` in a child pytest; fail with its output unless every
    test in it passed."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(cases)], capture_output=True, text=True, timeout=800)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " skipped" not in proc.stdout, proc.stdout[-2000:]


@needs_tensorflow
def test_tensorflow_adapter_cases_pass_in_their_own_process():
    run_in_child(Path(__file__).with_name("tf_cases.py"))
