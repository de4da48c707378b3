"""PyTorch tensors <-> numpy / TensorData, bit for bit and layout for layout.

Values cross by their bits: a tensor is viewed as the signed integer type of its width
(which both libraries convert natively) and numpy views those bits as the gpuemu dtype,
so bfloat16 is real bfloat16 (ml_dtypes) and NaN payloads survive. Layout crosses as the
tensor's storage span: a transposed, sliced or offset tensor arrives as one again, which
is what catches kernels that assume contiguity or ignore ``storage_offset``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import torch
from numpy.lib.stride_tricks import as_strided

from ..dtypes import DType
from ..tensor import TensorData, from_numpy, span
from .base import BaseAdapter, UnsupportedTensor

__all__ = ["OFFSET_MODULUS", "PyTorchAdapter"]

_DTYPES: dict[torch.dtype, DType] = {
    torch.float16: DType.Float16, torch.bfloat16: DType.BFloat16,
    torch.float32: DType.Float32, torch.float64: DType.Float64,
    torch.int8: DType.Int8, torch.int16: DType.Int16,
    torch.int32: DType.Int32, torch.int64: DType.Int64,
    torch.uint8: DType.UInt8, torch.uint16: DType.UInt16,
    torch.uint32: DType.UInt32, torch.uint64: DType.UInt64,
    torch.bool: DType.Bool,
}
_TORCH = {d: t for t, d in _DTYPES.items()}
# same-width integer types that torch.numpy()/torch.from_numpy handle in every version
_BITS = {1: (torch.uint8, np.uint8), 2: (torch.int16, np.int16),
         4: (torch.int32, np.int32), 8: (torch.int64, np.int64)}

OFFSET_MODULUS = 64
"""A storage offset larger than the view itself (row 7 of a big batch) travels as
``OFFSET_MODULUS + offset % OFFSET_MODULUS`` elements: the view still starts inside its
storage at the same alignment, without shipping every row before it."""


def _kept_offset(offset: int, n: int) -> int:
    return offset if offset <= max(n, OFFSET_MODULUS) else OFFSET_MODULUS + offset % OFFSET_MODULUS


def _root(arr: np.ndarray) -> np.ndarray:
    """The outermost ndarray whose memory ``arr`` views (``arr`` itself if it owns it)."""
    root, base = arr, arr.base
    while base is not None:
        if isinstance(base, np.ndarray):
            root = base
        base = getattr(base, "base", None)
    return root


def _memory(arr: np.ndarray) -> tuple[np.ndarray, int]:
    """A 1-D buffer holding ``arr``'s elements and the element offset where ``arr`` starts.

    The buffer shares ``arr``'s memory from the start of the array it views, so the
    offset survives; ``arr``'s strides must be non-negative multiples of its itemsize.
    """
    item = arr.itemsize
    n = span(arr.shape, [s // item for s in arr.strides])
    root = _root(arr)
    if n and root.flags.c_contiguous:
        mem = root.reshape(-1).view(np.uint8)
        start = arr.ctypes.data - mem.ctypes.data
        end = start + n * item
        if 0 <= start and start % item == 0 and end <= mem.size:
            return mem[:end].view(arr.dtype), start // item
    return as_strided(arr, (n,), (item,)), 0


class PyTorchAdapter(BaseAdapter):
    """torch.Tensor (any device, strided layout) <-> numpy / TensorData."""

    name = "torch"

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, torch.Tensor)

    def _checked(self, value: Any) -> tuple[torch.Tensor, DType]:
        if not isinstance(value, torch.Tensor):
            raise UnsupportedTensor(f"expected a torch.Tensor, got {type(value).__name__}")
        if value.layout != torch.strided:
            raise UnsupportedTensor(f"a torch tensor with layout {value.layout} has no strided"
                                    " memory to send; call .to_dense() on it first")
        if value.is_meta:
            raise UnsupportedTensor("a tensor on the 'meta' device has no data; run the op on a"
                                    " real device (cpu, cuda, ...) to validate its output")
        dtype = _DTYPES.get(value.dtype)
        if dtype is None:
            raise self.unsupported_dtype(value.dtype)
        return value.detach(), dtype

    def _export(self, value: Any) -> tuple[np.ndarray, int, np.ndarray]:
        """(host buffer, lead, view): the storage elements from ``lead`` before the view's
        first up to its last, copied to the host (shared if already there), and the view."""
        t, dtype = self._checked(value)
        shape, strides, start = tuple(t.shape), t.stride(), t.storage_offset()
        n = span(shape, strides)
        lead = _kept_offset(start, n) if n else 0
        flat = t.as_strided((lead + n,), (1,), start - lead).cpu()
        bits = flat.view(_BITS[t.element_size()][0]).numpy().view(dtype.numpy)
        view = as_strided(bits[lead:], shape, tuple(s * bits.itemsize for s in strides))
        return bits, lead, view

    def to_numpy(self, value: Any) -> np.ndarray:
        """The tensor's values on the host as numpy with the same element strides (sharing
        memory with a CPU tensor, as ``Tensor.numpy`` does)."""
        return self._export(value)[2]

    def to_tensor_data(self, value: Any) -> TensorData:
        """Values, strides and storage offset (see OFFSET_MODULUS) on the wire."""
        bits, lead, view = self._export(value)
        td = from_numpy(view)
        # from_numpy keeps any layout it can express and copies the rest (broadcast) to C order
        if lead and (td.strides is not None or view.flags.c_contiguous):
            td = msgspec.structs.replace(td, data=bits.tobytes(), offset=lead)
        return td

    def from_numpy(self, array: np.ndarray) -> torch.Tensor:
        """A CPU tensor with ``array``'s values, strides and offset into its buffer (sharing
        its memory, as ``torch.from_numpy`` does; read-only memory is copied)."""
        arr = np.asarray(array)
        dtype = self.dtype_of(arr.dtype)
        if arr.dtype != dtype.numpy:  # big-endian: same values in the host's byte order
            arr = arr.astype(dtype.numpy)
        if any(s < 0 or s % arr.itemsize for s in arr.strides):  # torch cannot express it
            arr = np.ascontiguousarray(arr)
        buf, start = _memory(arr)
        if not buf.flags.writeable:
            buf = buf.copy()
        flat = torch.from_numpy(buf.view(_BITS[arr.itemsize][1])).view(_TORCH[dtype])
        return flat.as_strided(arr.shape, [s // arr.itemsize for s in arr.strides], start)
