"""TensorData <-> numpy, preserving the memory layout of the view.

A TensorData carries the little-endian bytes of the smallest span of memory that
covers the view, plus element strides and an optional element offset into those
bytes. Decoding rebuilds the same view over a private copy, so a transposed or
strided input reaches the op under test as a genuinely non-contiguous array.
In JSON the bytes are base64 (msgspec does that in C); in msgpack they are raw. Large
tensors between processes of one host travel as a shared-memory file instead (``shm``,
see gpuemu.shm), mapped copy-on-write: private to the receiver all the same.
"""

from __future__ import annotations

import math
import re
import sys
from typing import Any

import msgspec
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .dtypes import NUMPY_BY_NAME, WIRE_NAMES, DType
from .errors import InvalidRequest, InvalidTensorData

if sys.byteorder != "little":  # pragma: no cover - every supported host is little-endian
    raise ImportError("gpuemu.tensor assumes a little-endian host")


class TensorData(msgspec.Struct, omit_defaults=True):
    """A tensor on the wire. ``strides`` are in elements; None (or absent) means
    C-contiguous. ``shm`` (ours): the bytes are in this shared-memory file, not in ``data``.
    ``view_strides``/``view_offset`` (ours): ``data`` holds the values in C order (as
    ``np.frombuffer(data).reshape(shape)`` reads them) and the receiver rebuilds them as a
    view with these element strides and offset (see ``plain``)."""

    shape: list[int]
    dtype: str
    data: bytes
    strides: list[int] | None = None
    offset: int = 0
    shm: str | None = None
    view_strides: list[int] | None = None
    view_offset: int = 0

    @classmethod
    def from_numpy(cls, array: Any) -> TensorData:
        """Encode an array (any view) keeping its strides; see module docstring."""
        return from_numpy(array)

    def to_numpy(self, field: str = "tensor") -> np.ndarray:
        """Decode into a writable array with the same shape, strides and values."""
        return to_numpy(self, field)


def c_strides(shape: list[int] | tuple[int, ...]) -> list[int]:
    """Element strides of a C-contiguous array of ``shape``."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return strides[::-1]


def span(shape, strides) -> int:
    """Elements from the first to the last one the view touches (0 for an empty view)."""
    if any(n == 0 for n in shape):
        return 0
    return 1 + sum((n - 1) * s for n, s in zip(shape, strides))


def from_numpy(array: Any, *, keep_offset: bool = False, shared: bool | Any = False
               ) -> TensorData:
    """``keep_offset``: also send the elements between the start of the view's base buffer
    and the view (as ``offset``), so a misaligned view stays misaligned on the other side.
    Off by default: most senders want only the bytes the view covers. ``shared``: a large
    tensor's bytes go to a shared-memory file (gpuemu.shm), for a receiver on this host:
    True for this process's directory, or the directory (a Path) to use."""
    arr = np.asarray(array)
    wire = WIRE_NAMES.get(arr.dtype)  # most arrays: a dtype of the table, native order
    if wire is None:
        dtype = DType.from_numpy(arr.dtype)
        if arr.dtype != dtype.numpy:  # big-endian input: same values, wire byte order
            arr = arr.astype(dtype.numpy)
        wire = dtype.value
    item = arr.itemsize
    if arr.flags.c_contiguous and 1 not in arr.shape:  # most tensors: no stride arithmetic
        # (numpy calls a view contiguous whatever the stride of a length-1 dim: it is kept)
        covering, strides = arr.reshape(-1), None
    else:
        elem_strides = [s // item for s in arr.strides]
        if arr.size == 0 or not (all(s >= 0 and s % item == 0 for s in arr.strides)
                                 and _non_overlapping(arr.shape, elem_strides)):
            arr = np.ascontiguousarray(arr)  # negative/broadcast/unaligned: a C-contiguous copy
            elem_strides = c_strides(arr.shape)
        n = span(arr.shape, elem_strides)
        covering = as_strided(arr, shape=(n,), strides=(item,)) if n else arr.reshape(-1)[:0]
        strides = None if elem_strides == c_strides(arr.shape) else elem_strides
    lead = _lead(arr) if keep_offset and covering.size else b""
    if shared:
        from . import shm

        nbytes = len(lead) + covering.nbytes  # a small tensor is inline wherever it goes
        where = None if nbytes < shm.MIN_BYTES else shm.directory() if shared is True else shared
        if shm.wanted(nbytes, where):
            name = None if lead else shm.held(arr, where)  # already in a file: hand it on
            return TensorData(shape=list(arr.shape), dtype=wire, data=b"",
                              strides=strides, offset=len(lead) // item,
                              shm=name or shm.write(lead, covering, where=where))
    return TensorData(shape=list(arr.shape), dtype=wire, data=lead + covering.tobytes(),
                      strides=strides, offset=len(lead) // item)


def plain(array: Any) -> TensorData:
    """``array`` as the seeds' scripts and the original client read a tensor: C-order bytes
    (``np.frombuffer(data, np.dtype(dtype)).reshape(shape)``), a lower-case numpy dtype
    name, element strides of a C-contiguous array. A non-contiguous view (or one that starts
    past its buffer's start) also names its layout in ``view_strides``/``view_offset``, so
    ``to_numpy`` rebuilds it as a genuinely non-contiguous array."""
    arr = np.asarray(array)
    dtype = DType.from_numpy(arr.dtype)
    item = arr.itemsize
    elem = [s // item for s in arr.strides]
    kept = (arr.size > 0 and all(s >= 0 and s % item == 0 for s in arr.strides)
            and _non_overlapping(arr.shape, elem))
    lead = len(_lead(arr)) // item if kept else 0
    contiguous = c_strides(arr.shape)
    view = elem if kept and (elem != contiguous or lead) else None
    return TensorData(shape=list(arr.shape), dtype=dtype.short_name,
                      data=np.ascontiguousarray(arr, dtype=dtype.numpy).tobytes(),
                      strides=contiguous, view_strides=view, view_offset=lead if view else 0)


def plain_again(td: TensorData, field: str = "tensor") -> TensorData:
    """``td`` re-encoded with ``plain`` (a no-op for one that already is)."""
    return plain(to_numpy(td, field))


def inline(td: TensorData, array: np.ndarray) -> TensorData:
    """``td`` with its bytes in ``data``, to be stored: re-encoded from ``array`` (what it
    decoded to) when they came through shared memory, whose file is gone by now."""
    return td if td.shm is None else from_numpy(array, keep_offset=True)


def _lead(arr: np.ndarray) -> bytes:
    """The bytes of ``arr.base`` before the view, when the base is one plain buffer."""
    base = arr.base
    if (not isinstance(base, np.ndarray) or base.nbytes == arr.nbytes  # the whole base
            or base.dtype != arr.dtype or not base.flags.c_contiguous):
        return b""
    delta = arr.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if delta <= 0 or delta % arr.itemsize or delta > base.nbytes:
        return b""
    return base.reshape(-1)[: delta // arr.itemsize].tobytes()


def to_numpy(td: TensorData, field: str = "tensor") -> np.ndarray:
    if (td.strides is None and td.shm is None and td.view_strides is None
            and type(td.offset) is int and td.offset == 0
            and (arr := _c_order(td)) is not None):
        return arr
    try:
        dtype = DType.parse(td.dtype, f"{field}.dtype")
    except InvalidRequest as exc:
        raise InvalidTensorData(str(exc), field=exc.field) from None
    shape = _check_ints(td.shape, f"{field}.shape")
    strides = (
        c_strides(shape) if td.strides is None else _check_ints(td.strides, f"{field}.strides")
    )
    if len(strides) != len(shape):
        raise InvalidTensorData(
            f"{field}.strides: has {len(strides)} entries but shape {shape} has {len(shape)} dims;"
            " give one element stride per dim (or omit strides for a C-contiguous tensor)",
            field=f"{field}.strides",
        )
    if not _non_overlapping(shape, strides):
        raise InvalidTensorData(
            f"{field}.strides: {strides} make elements of shape {shape} overlap; gpuemu accepts"
            " only views in which every element has its own memory (no broadcast/zero strides)",
            field=f"{field}.strides",
        )
    offset = td.offset
    if not _is_count(offset):
        raise InvalidTensorData(f"{field}.offset: must be a non-negative integer, got {offset!r}",
                                field=f"{field}.offset")
    if not isinstance(td.data, bytes | bytearray):
        raise InvalidTensorData(
            f"{field}.data: expected bytes, got {type(td.data).__name__}; base64 text belongs"
            " in JSON only (decode_tensor turns a parsed dict into bytes)",
            field=f"{field}.data",
        )
    item = dtype.itemsize
    needed = offset + span(shape, strides)
    if (td.shm is None and td.strides is not None and not offset
            and len(td.data) != needed * item and numpy_bytes(shape, strides, item, len(td.data))):
        strides, needed = c_strides(shape), math.prod(shape)
    if td.shm is None and td.view_strides is not None:
        if strides != c_strides(shape) or offset:
            raise InvalidTensorData(
                f"{field}.view_strides: a view is rebuilt from C-order data, but strides"
                f" {strides} (offset {offset}) are not C-contiguous for shape {shape}; send"
                " either view_strides or non-contiguous strides, not both",
                field=f"{field}.view_strides")
        values = to_numpy(msgspec.structs.replace(td, view_strides=None, view_offset=0), field)
        return _rebuild_view(values, td.view_strides, td.view_offset, field)
    if td.shm is not None:
        from . import shm

        buf = shm.take(td.shm, needed * item, field).view(dtype.numpy)
    elif len(td.data) != needed * item:
        raise InvalidTensorData(
            f"{field}.data: holds {len(td.data)} bytes but shape {shape}, strides {strides} and"
            f" offset {offset} of {dtype.value} ({item} B) cover exactly {needed * item} bytes",
            field=f"{field}.data",
        )
    else:
        buf = np.frombuffer(td.data, dtype=dtype.numpy).copy()
    try:  # np.ndarray checks that the view stays within ``buf``; as_strided costs 5x more
        return np.ndarray(tuple(shape), buf.dtype, buffer=buf, offset=offset * item,
                          strides=tuple(s * item for s in strides))
    except (ValueError, OverflowError, TypeError) as exc:  # > 64 dims, or extents too big
        raise InvalidTensorData(
            f"{field}.shape: numpy cannot build a view of shape {shape} with strides {strides}"
            f" ({exc}); use at most 64 dims and extents that fit in 63-bit byte offsets",
            field=f"{field}.shape",
        ) from None


def _c_order(td: TensorData) -> np.ndarray | None:
    """The usual tensor -- C order, bytes inline, a plain dtype name, a well-formed shape
    that its bytes fill exactly -- decoded with a few checks instead of the general path's
    (a third of a small ValidateOp's calls went there); None: take the general path, which
    also names what is wrong."""
    dtype = NUMPY_BY_NAME.get(td.dtype) if type(td.dtype) is str else None
    shape, data = td.shape, td.data
    if dtype is None or type(shape) is not list or len(shape) > 32 or type(data) is not bytes:
        return None
    n = 1
    for extent in shape:
        if type(extent) is not int or not 0 < extent < 1 << 40:
            return None
        n *= extent
    if len(data) != n * dtype.itemsize:
        return None
    return np.frombuffer(data, dtype).copy().reshape(shape)


def numpy_bytes(shape: list[int], strides: list[int], item: int, nbytes: int) -> bool:
    """True when ``strides`` can only be numpy's BYTE strides of an array sent as
    ``arr.tobytes()`` (C order): the original Python client sends ``list(arr.strides)``.

    Called once the element reading failed (the bytes do not span the view) for a tensor
    without ``offset`` (the original never sends one), this accepts the unambiguous case: exactly ``prod(shape) * item`` bytes, and strides that,
    divided by the item size, describe a non-overlapping view of ``shape`` (a C-contiguous
    array's, or a transposed or sliced one's: ``tobytes()`` is C order whatever they are).
    """
    if nbytes != math.prod(shape) * item or any(s % item for s in strides):
        return False
    return _non_overlapping(shape, [s // item for s in strides])


def _rebuild_view(values: np.ndarray, view_strides: Any, view_offset: Any,
                  field: str) -> np.ndarray:
    """``values`` copied into a fresh buffer, laid out with ``view_strides``/``view_offset``."""
    shape = list(values.shape)
    strides = _check_ints(view_strides, f"{field}.view_strides")
    if len(strides) != len(shape) or not _non_overlapping(shape, strides):
        raise InvalidTensorData(
            f"{field}.view_strides: {strides} is not a non-overlapping layout of shape {shape};"
            " give one element stride per dim, or leave view_strides out", field=f"{field}.view_strides")
    if not _is_count(view_offset):
        raise InvalidTensorData(f"{field}.view_offset: must be a non-negative integer, got"
                                f" {view_offset!r}", field=f"{field}.view_offset")
    buf = np.zeros(view_offset + span(shape, strides), dtype=values.dtype)
    item = values.itemsize
    view = as_strided(buf[view_offset:], shape=tuple(shape), strides=tuple(s * item for s in strides))
    view[...] = values
    return view


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**62


def _check_ints(values: Any, field: str) -> list[int]:
    if not isinstance(values, list | tuple) or not all(_is_count(v) for v in values):
        raise InvalidTensorData(
            f"{field}: expected a list of non-negative integers, got {values!r}", field=field
        )
    return list(values)


def _non_overlapping(shape, strides) -> bool:
    """True when distinct indices address distinct elements.

    Sufficient test (exact for every layout a framework produces): with the dims
    sorted by stride, each stride must step over everything the smaller ones reach.
    """
    if any(n == 0 for n in shape):
        return True
    reach = 0
    for s, n in sorted((s, n) for n, s in zip(shape, strides) if n > 1):
        if s <= reach:
            return False
        reach += (n - 1) * s
    return True


_MSGSPEC_PATH = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MSGSPEC_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")


def decode_tensor(value: Any, field: str) -> np.ndarray:
    """Decode a TensorData given as a struct or as a plain dict (e.g. parsed JSON)."""
    if not isinstance(value, TensorData):
        try:
            value = msgspec.convert(value, TensorData)
        except msgspec.ValidationError as exc:
            # msgspec says where ("- at `$.data`", "missing required field `shape`");
            # move that into our dotted field name
            m = _MSGSPEC_PATH.match(str(exc))
            missing = _MSGSPEC_MISSING.search(m["what"])
            where = field + (m["path"] or "") + (f".{missing['name']}" if missing else "")
            raise InvalidTensorData(
                f"{where}: {m['what']}; send a TensorData object {{shape, dtype, data"
                " (base64), strides?, offset?}",
                field=where,
            ) from None
    return to_numpy(value, field)
