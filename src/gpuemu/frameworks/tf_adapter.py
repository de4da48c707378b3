"""TensorFlow eager tensors and variables <-> numpy / TensorData.

TensorFlow exposes no strides, so a tensor crosses as its logical values; its bfloat16 is
ml_dtypes' (TF >= 2.13), so it crosses exactly. A symbolic tensor (inside ``tf.function``
or a TF1 graph) has no value to validate and is refused with the way out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .base import BaseAdapter, UnsupportedTensor

__all__ = ["TensorFlowAdapter"]


class TensorFlowAdapter(BaseAdapter):
    """Eager tf.Tensor / tf.Variable (on any device) <-> numpy / TensorData."""

    name = "tensorflow"

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, tf.Tensor | tf.Variable) and not tf.is_symbolic_tensor(value)

    def to_numpy(self, value: Any) -> np.ndarray:
        """The tensor's values on the host (``.numpy()``, which copies from a device)."""
        if isinstance(value, tf.Tensor) and tf.is_symbolic_tensor(value):
            raise UnsupportedTensor(
                f"{value.name!r} is a symbolic (graph-mode) TensorFlow tensor, which has no"
                " value yet; validate the result of calling the tf.function, outside it"
                " (or run eagerly: tf.config.run_functions_eagerly(True))")
        if not isinstance(value, tf.Tensor | tf.Variable):
            raise UnsupportedTensor(
                f"expected an eager tf.Tensor or tf.Variable, got {type(value).__name__}"
                " (convert ragged or sparse tensors with .to_tensor() / tf.sparse.to_dense)")
        self.dtype_of(np.dtype(value.dtype.as_numpy_dtype), value.dtype.name)
        return value.numpy()

    def from_numpy(self, array: np.ndarray) -> tf.Tensor:
        """An eager tf.Tensor with ``array``'s values and dtype."""
        arr = np.asarray(array)
        return tf.convert_to_tensor(arr.astype(self.dtype_of(arr.dtype).numpy, copy=False))
