"""ULP distance: how many representable values of a float format lie between two numbers.

Counting ULPs is the comparison that means the same at every magnitude: 1 ULP is one
rounding step whether the values are 1e-30 or 1e30, which no single (atol, rtol) pair
achieves. It works for every sign-magnitude binary float numpy or ml_dtypes knows --
float16, bfloat16, float32, float64 and the float8 (and smaller) formats: their bit
patterns, read as sign and magnitude, are ordered like the values they encode, so the
distance is the difference of the magnitudes (their sum across a sign change; +0 and
-0 are the same point).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..dtypes import finfo

_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def is_ulp_dtype(dtype: np.dtype | type) -> bool:
    """Whether ULPs of ``dtype`` can be counted (a binary floating-point format)."""
    return _bit_fields(np.dtype(dtype)) is not None


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise number of ULPs between ``a`` and ``b`` (same float dtype), as float64.

    NaN facing NaN is 0 ULPs and NaN facing anything else is Inf; an Inf counts as the
    value after the largest finite one (so max -> Inf is 1 ULP: overflow is caught by
    the Inf check, not here). The result is exact below 2^53.
    """
    a, b = np.asarray(a), np.asarray(b)
    fields = _bit_fields(a.dtype) if a.dtype == b.dtype else None
    if fields is None:
        raise TypeError(f"ulp_distance needs two arrays of one float dtype, got {a.dtype} "
                        f"and {b.dtype}; cast both to the format whose ULPs you count")
    unsigned = _UINT[a.dtype.itemsize]
    sign, magnitude = (unsigned(v) for v in fields)
    ua, ub = a.view(unsigned), b.view(unsigned)  # same itemsize: any layout can be viewed
    ma, mb = ua & magnitude, ub & magnitude
    same_side = ((ua ^ ub) & sign) == 0
    # |ma - mb| or ma + mb: both fit the format's own unsigned width (magnitudes < 2^(bits-1))
    dist = np.where(same_side, np.maximum(ma, mb) - np.minimum(ma, mb), ma + mb)
    out = dist.astype(np.float64)
    with np.errstate(invalid="ignore"):
        na, nb = np.isnan(a), np.isnan(b)
    if na.any() or nb.any():
        out[na != nb] = np.inf
        out[na & nb] = 0.0
    return out


@lru_cache(maxsize=64)
def _bit_fields(dtype: np.dtype) -> tuple[int, int] | None:
    """The sign bit and the magnitude mask of a float format (None: not one). Formats
    narrower than their storage (float4, float6) keep the sign in their own top bit;
    unsigned ones (float8_e8m0fnu) have none."""
    try:
        info = finfo(dtype)
    except (ValueError, TypeError):
        return None
    if dtype.itemsize not in _UINT:
        return None
    bits = int(info.bits)
    if float(info.min) >= 0:
        return 0, (1 << bits) - 1
    return 1 << (bits - 1), (1 << (bits - 1)) - 1
