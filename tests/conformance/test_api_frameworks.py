"""The framework modules seeds 001 and 003 name: gpuemu.frameworks.pytorch / .jax /
.tensorflow, each with its adapter (a BaseAdapter) and validate_* context manager.
TensorFlow cannot share a process with Triton, so its module is imported in a child."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest


def needs(module: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} is not installed (pip install 'gpuemu[{module}]')")


@needs("torch")
def test_pytorch_module():
    import torch

    from gpuemu.frameworks.base import BaseAdapter
    from gpuemu.frameworks.pytorch import PyTorchAdapter, validate_pytorch
    from gpuemu.frameworks.torch_adapter import PyTorchAdapter as Old

    assert PyTorchAdapter is Old and issubclass(PyTorchAdapter, BaseAdapter)
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    td = PyTorchAdapter().to_tensor_data(x)
    assert (td.shape, td.strides, td.dtype) == ([3, 2], [1, 3], "Float32")
    assert callable(validate_pytorch)


@needs("jax")
def test_jax_module():
    import jax.numpy as jnp

    from gpuemu.frameworks.base import BaseAdapter
    from gpuemu.frameworks.jax import JaxAdapter, validate_jax

    assert issubclass(JaxAdapter, BaseAdapter) and callable(validate_jax)
    assert np.array_equal(JaxAdapter().to_numpy(jnp.ones((2, 2))), np.ones((2, 2)))


@needs("tensorflow")
def test_tensorflow_module_in_its_own_process():
    code = ("import tensorflow as tf, numpy as np\n"
            "from gpuemu.frameworks.base import BaseAdapter\n"
            "from gpuemu.frameworks.tensorflow import TensorFlowAdapter, validate_tensorflow\n"
            "assert issubclass(TensorFlowAdapter, BaseAdapter) and callable(validate_tensorflow)\n"
            "a = TensorFlowAdapter().to_numpy(tf.constant([[1.0, 2.0]]))\n"
            "assert np.array_equal(a, [[1.0, 2.0]]) and a.dtype == np.float32\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
