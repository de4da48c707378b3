"""The DType enum of the IPC specification and its numpy mapping.

BFloat16 is ``ml_dtypes.bfloat16`` -- a real bfloat16, never float16 in disguise.
ml_dtypes is imported on the first use of BFloat16 only: its import costs 0.1-2 s
(docs/performance.md, "Start-up"), which every CLI call and script start would pay.
The wire spelling is the enum's (``"Float32"``); input also accepts numpy's
lower-case names (``"float32"``, ``"bfloat16"``, ``"bool"``).
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache

import numpy as np

from .errors import InvalidRequest


class DType(StrEnum):
    Float16 = "Float16"
    BFloat16 = "BFloat16"
    Float32 = "Float32"
    Float64 = "Float64"
    Int8 = "Int8"
    Int16 = "Int16"
    Int32 = "Int32"
    Int64 = "Int64"
    UInt8 = "UInt8"
    UInt16 = "UInt16"
    UInt32 = "UInt32"
    UInt64 = "UInt64"
    Bool = "Bool"

    @property
    def numpy(self) -> np.dtype:
        """The little-endian numpy dtype that holds this type's values exactly."""
        return _bfloat16() if self is DType.BFloat16 else _NUMPY[self]

    @property
    def itemsize(self) -> int:
        return 2 if self is DType.BFloat16 else _NUMPY[self].itemsize

    @property
    def short_name(self) -> str:
        """numpy's lower-case name (``float32``, ``bfloat16``): the config spelling."""
        return _SHORT[self]

    @property
    def is_float(self) -> bool:
        return self in FLOAT_DTYPES

    @property
    def is_integer(self) -> bool:
        return not self.is_float and self is not DType.Bool

    @classmethod
    def parse(cls, name: str, field: str = "dtype") -> DType:
        """Accept ``Float32``, ``float32`` or any case of either; name the field on error."""
        if isinstance(name, DType):
            return name
        if isinstance(name, str):
            found = _BY_LOWER.get(name.lower())
            if found is not None:
                return found
        raise InvalidRequest(
            f"{field}: unknown dtype {name!r}; expected one of "
            + ", ".join(d.value for d in cls)
            + " (or their lower-case numpy names)",
            field=field,
        )

    @classmethod
    def from_numpy(cls, dtype: np.dtype | type, field: str = "dtype") -> DType:
        """The DType of a numpy dtype, regardless of its byte order."""
        dt = np.dtype(dtype)
        key = dt.newbyteorder("<") if dt.byteorder == ">" else dt
        found = _BY_NUMPY.get(key)
        if found is not None:
            return found
        for d, nd in _NUMPY.items():  # an equal dtype that hashes apart (metadata, ...)
            if nd == key:
                return d
        if dt.name == "bfloat16":  # only ml_dtypes makes one, so it is imported already
            return DType.BFloat16
        raise InvalidRequest(
            f"{field}: numpy dtype {dt} has no gpuemu DType; cast to one of "
            + ", ".join(d.short_name for d in cls),
            field=field,
        )


_NUMPY: dict[DType, np.dtype] = {
    DType.Float16: np.dtype("<f2"),
    DType.Float32: np.dtype("<f4"),
    DType.Float64: np.dtype("<f8"),
    DType.Int8: np.dtype("i1"),
    DType.Int16: np.dtype("<i2"),
    DType.Int32: np.dtype("<i4"),
    DType.Int64: np.dtype("<i8"),
    DType.UInt8: np.dtype("u1"),
    DType.UInt16: np.dtype("<u2"),
    DType.UInt32: np.dtype("<u4"),
    DType.UInt64: np.dtype("<u8"),
    DType.Bool: np.dtype("?"),
}
_SHORT = {d: _NUMPY[d].name for d in _NUMPY} | {DType.BFloat16: "bfloat16"}
_BY_LOWER = {d.value.lower(): d for d in DType} | {s: d for d, s in _SHORT.items()}
_BY_NUMPY = {nd: d for d, nd in _NUMPY.items()}
WIRE_NAMES: dict[np.dtype, str] = {nd: d.value for d, nd in _NUMPY.items()}
"""The wire name of each numpy dtype that needs no import (native byte order): the tensor
encoder's fast path; others go through ``DType.from_numpy``."""
NUMPY_BY_NAME: dict[str, np.dtype] = {
    name: _NUMPY[d] for name, d in (_BY_LOWER | {d.value: d for d in DType}).items() if d in _NUMPY}
"""The numpy dtype of each usual spelling (``Float32``, ``float32``) that needs no import:
the tensor decoder's fast path; other spellings and bfloat16 go through ``DType.parse``."""


@cache
def _bfloat16() -> np.dtype:
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def finfo(dtype: np.dtype):
    """``np.finfo``, also for the ml_dtypes formats (imported only for those)."""
    try:
        return np.finfo(dtype)
    except ValueError:
        import ml_dtypes

        return ml_dtypes.finfo(dtype)


FLOAT_DTYPES = frozenset({DType.Float16, DType.BFloat16, DType.Float32, DType.Float64})
