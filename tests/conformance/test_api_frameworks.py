"""The framework modules seeds 001 and 003 name: gpuemu.frameworks.pytorch / .jax /
.tensorflow, each with its adapter (a BaseAdapter) and validate_* context manager.
TensorFlow cannot share a process with Triton: its module is checked in the child process
that runs the TensorFlow adapter's cases (tests/unit/tf_cases.py)."""

from __future__ import annotations

import importlib.util

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
