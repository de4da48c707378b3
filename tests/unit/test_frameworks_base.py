"""The adapter registry: picks by type, imports no framework it does not need."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gpuemu.errors import InvalidRequest
from gpuemu.frameworks import framework_names, get_adapter
from gpuemu.tensor import from_numpy


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)


def test_numpy_values_and_the_client_never_import_a_framework():
    proc = run_python("""
        import sys
        import numpy as np
        from gpuemu.client import as_tensor_data
        from gpuemu.frameworks import adapter_for, validate_pytorch
        assert as_tensor_data(np.arange(6).reshape(2, 3).T).strides == [1, 3]
        assert as_tensor_data([[1.5, 2.5]]).dtype == "Float64"
        assert adapter_for(np.zeros(2)).name == adapter_for(3.0).name == "numpy"
        print(sorted(m for m in ("torch", "jax", "jaxlib", "tensorflow") if m in sys.modules))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_framework_that_cannot_be_imported_says_which_extra_installs_it():
    proc = run_python("""
        import sys
        sys.modules["jax"] = None  # as if jax were not installed
        from gpuemu.frameworks import FrameworkNotInstalled, get_adapter
        try:
            get_adapter("jax")
        except ImportError as exc:  # FrameworkNotInstalled is also an ImportError
            assert isinstance(exc, FrameworkNotInstalled)
            print(exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "framework 'jax' cannot be imported here" in proc.stdout
    assert "pip install 'gpuemu[jax]'" in proc.stdout


def test_unknown_framework_names_the_choices():
    with pytest.raises(InvalidRequest, match="unknown framework 'mxnet'; expected one of numpy,"
                                             " torch, jax, tensorflow"):
        get_adapter("mxnet")
    assert framework_names() == ["numpy", "torch", "jax", "tensorflow"]


def test_numpy_adapter_is_the_tensor_codec():
    x = np.arange(12, dtype=np.int16).reshape(3, 4)[:, 1::2]
    numpy = get_adapter("NumPy")
    assert numpy.to_tensor_data(x) == from_numpy(x)
    back = numpy.from_tensor_data(from_numpy(x))
    assert back.strides == x.strides and back.tolist() == x.tolist()
