"""JAX arrays <-> numpy / TensorData.

JAX exposes no strides (XLA owns the layout), so an array crosses as its logical values;
its dtypes are numpy's and ml_dtypes', so bfloat16 crosses exactly. Two things would
silently change values, and are refused instead: a traced value (inside ``jit``/``grad``
/``vmap``) has no data yet, and with 64-bit types disabled (JAX's default) a float64 or
int64 array would become 32-bit.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from .base import BaseAdapter, UnsupportedTensor

__all__ = ["JaxAdapter"]


class JaxAdapter(BaseAdapter):
    """jax.Array (committed to any device) <-> numpy / TensorData."""

    name = "jax"

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer)

    def to_numpy(self, value: Any) -> np.ndarray:
        """The array's values on the host (a read-only numpy array, as ``np.asarray``)."""
        if isinstance(value, jax.core.Tracer):
            raise UnsupportedTensor(
                f"a traced JAX value ({type(value).__name__}, inside jax.jit/grad/vmap) has no"
                " data yet; validate the result of the transformed function, outside it")
        if not isinstance(value, jax.Array):
            raise UnsupportedTensor(f"expected a jax.Array, got {type(value).__name__}")
        self.dtype_of(np.dtype(value.dtype), value.dtype)
        return np.asarray(value)

    def from_numpy(self, array: np.ndarray) -> jax.Array:
        """A jax.Array on the default device with ``array``'s values and dtype."""
        arr = np.asarray(array)
        arr = arr.astype(self.dtype_of(arr.dtype).numpy, copy=False)  # big-endian: host order
        if jax.dtypes.canonicalize_dtype(arr.dtype) != arr.dtype:
            raise UnsupportedTensor(
                f"JAX would turn this {arr.dtype} array into"
                f" {jax.dtypes.canonicalize_dtype(arr.dtype)} because 64-bit types are disabled;"
                " enable them (jax.config.update('jax_enable_x64', True) or JAX_ENABLE_X64=1)"
                " or fuzz this op with 32-bit dtypes only")
        return jax.device_put(arr)
