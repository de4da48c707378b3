"""PyTorch, JAX and TensorFlow tensors wherever gpuemu takes numpy arrays.

The client converts any framework tensor it is given (``adapter_for``), and
``Client.fuzz_op_client_side(..., framework="torch")`` hands the op its inputs as torch
tensors. Importing this package imports no framework; each adapter imports its own on
first use, and only this package ever does::

    from gpuemu.frameworks import validate_pytorch

    with validate_pytorch(client, "softmax", {"x": x}) as ctx:
        ctx["output"] = my_softmax(ctx["inputs"]["x"])
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from .base import (BaseAdapter, FrameworkNotInstalled, NumpyAdapter, UnsupportedTensor,
                   adapter_for, framework_names, get_adapter)

if TYPE_CHECKING:
    from ..client import Client
    from ..validation import ValidationContext

__all__ = ["BaseAdapter", "FrameworkNotInstalled", "NumpyAdapter", "UnsupportedTensor",
           "adapter_for", "framework_names", "get_adapter", "validate_jax", "validate_pytorch",
           "validate_tensorflow"]


@contextmanager
def _validate(framework: str, client: Client, op_name: str, inputs: Mapping[str, Any],
              kwargs: Mapping[str, Any] | None) -> Iterator[ValidationContext]:
    from ..validation import validate_op  # the client imports this package: import it late

    adapter = get_adapter(framework)
    tensors = {k: v if adapter.is_tensor(v) else adapter.from_numpy(adapter_for(v).to_numpy(v))
               for k, v in inputs.items()}
    with validate_op(client, op_name, tensors, kwargs=kwargs) as ctx:
        yield ctx


def validate_pytorch(client: Client, op_name: str, inputs: Mapping[str, Any],
                     kwargs: Mapping[str, Any] | None = None
                     ) -> AbstractContextManager[ValidationContext]:
    """``validate_op`` for PyTorch: ``ctx["inputs"]`` holds the inputs as torch tensors
    (numpy arrays and other frameworks' tensors are converted, strides and offset kept);
    put the op's output (a torch tensor on any device) in ``ctx["output"]``. On exit the
    daemon validates it; a failure raises ValidationError (an AssertionError) with the
    seed and the replay command."""
    return _validate("torch", client, op_name, inputs, kwargs)


def validate_jax(client: Client, op_name: str, inputs: Mapping[str, Any],
                 kwargs: Mapping[str, Any] | None = None
                 ) -> AbstractContextManager[ValidationContext]:
    """``validate_pytorch`` for JAX: ``ctx["inputs"]`` holds jax.Arrays; set
    ``ctx["output"]`` to the (concrete, not traced) jax.Array the op returned."""
    return _validate("jax", client, op_name, inputs, kwargs)


def validate_tensorflow(client: Client, op_name: str, inputs: Mapping[str, Any],
                        kwargs: Mapping[str, Any] | None = None
                        ) -> AbstractContextManager[ValidationContext]:
    """``validate_pytorch`` for TensorFlow: ``ctx["inputs"]`` holds eager tf.Tensors; set
    ``ctx["output"]`` to the eager tensor the op returned (a tf.function's result is one)."""
    return _validate("tensorflow", client, op_name, inputs, kwargs)
