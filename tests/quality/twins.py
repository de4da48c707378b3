"""numpy kernels for the quality suite: per op a reference, a correct control and buggy twins.

Each function takes the op's inputs (``x``, or ``a`` and ``b``) in their real dtype and
layout, computes as a GPU kernel would (half types in float32, output in the input's
dtype) and returns one array. A twin differs from its control by one bug of the kind
that fixed-shape tests miss; its docstring says which. ``_raw_rows`` and ``_storage``
read memory the way a kernel does (by pointer), so layout bugs are real layout bugs.
"""

from __future__ import annotations

import math

import ml_dtypes
import numpy as np

EPS = 1e-5
_ERF = np.vectorize(math.erf, otypes=[np.float64])
BF16 = ml_dtypes.bfloat16


def _f32(x: np.ndarray) -> np.ndarray:
    """What a kernel computes in: float32 for half types and float32 (float64 stays)."""
    return x.astype(np.float64 if x.dtype == np.float64 else np.float32)


def _storage(x: np.ndarray) -> tuple[np.ndarray, int]:
    """The flat buffer ``x`` views (as a kernel's base pointer sees it) and the index of x's
    first element in it. Follows as_strided views (their base is a DummyArray)."""
    base = x
    while True:
        up = base.base if isinstance(base.base, np.ndarray) else getattr(base.base, "base", None)
        if not isinstance(up, np.ndarray):
            break
        base = up
    raw = base.reshape(-1).view(np.uint8)
    at = x.ctypes.data - raw.ctypes.data
    lead = at % x.itemsize
    buf = raw[lead: lead + (raw.size - lead) // x.itemsize * x.itemsize].view(x.dtype)
    return buf, at // x.itemsize


def _as_contiguous(x: np.ndarray) -> np.ndarray:
    """``x``'s memory read as if it were C-contiguous from its data pointer (strides ignored)."""
    if x.size == 0:
        return x.copy()
    buf, start = _storage(x)
    return buf[start:start + x.size].reshape(x.shape).copy()


def _inner_stride_one(x: np.ndarray) -> np.ndarray:
    """``x`` read with its own row strides but an inner stride of 1 (a kernel that assumes it)."""
    if x.size == 0 or x.ndim < 2:
        return _as_contiguous(x)
    buf, start = _storage(x)
    strides = [s // x.itemsize for s in x.strides[:-1]] + [1]
    span = sum((n - 1) * s for n, s in zip(x.shape, strides)) + 1
    padded = np.concatenate([buf[start:], np.full(max(0, span - (buf.size - start)), np.nan, buf.dtype)])
    return np.lib.stride_tricks.as_strided(padded, x.shape, [s * x.itemsize for s in strides]).copy()


def _ignoring_offset(x: np.ndarray) -> np.ndarray:
    """``x`` read from the start of its buffer, with its strides (a kernel that drops the view's
    offset: the storage pointer instead of the data pointer)."""
    if x.size == 0:
        return x.copy()
    buf, _ = _storage(x)
    return np.lib.stride_tricks.as_strided(buf, x.shape, x.strides).copy()


# -- softmax over the last dim -------------------------------------------------------------


def ref_softmax(x):
    with np.errstate(all="ignore"):
        e = np.exp(x - np.max(x, axis=-1, keepdims=True, initial=-np.inf))
        return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def softmax(x):
    return ref_softmax(_f32(x)).astype(x.dtype)


def softmax_no_max(x):
    """Missing max-subtraction: exp overflows for logits above ln(max)."""
    with np.errstate(all="ignore"):
        e = np.exp(_f32(x))
        return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def softmax_tail(x):
    """Tiles of 16 columns; the max and the sum skip the partial last tile."""
    v = _f32(x)
    full = v[..., : v.shape[-1] // 16 * 16]
    with np.errstate(all="ignore"):
        e = np.exp(v - np.max(full, axis=-1, keepdims=True, initial=-np.inf))
        return (e / np.exp(full - np.max(full, axis=-1, keepdims=True, initial=-np.inf)).sum(
            axis=-1, keepdims=True)).astype(x.dtype)


def softmax_ignores_strides(x):
    """Reads its input as if it were contiguous."""
    return softmax(_as_contiguous(x))


def softmax_wrong_axis(x):
    """Normalizes over the first dim instead of the last."""
    with np.errstate(all="ignore"):
        v = _f32(x)
        e = np.exp(v - np.max(v, axis=0, keepdims=True, initial=-np.inf))
        return (e / e.sum(axis=0, keepdims=True)).astype(x.dtype)


def softmax_bf16_sum(x):
    """Accumulates the row sum sequentially in bfloat16."""
    v = _f32(x)
    with np.errstate(all="ignore"):
        e = np.exp(v - np.max(v, axis=-1, keepdims=True, initial=-np.inf))
        s = np.zeros(e.shape[:-1], BF16)
        for j in range(e.shape[-1]):
            s = (s.astype(np.float32) + e[..., j]).astype(BF16)
        return (e / s.astype(np.float32)[..., None]).astype(x.dtype)


def softmax_nan_to_zero(x):
    """Treats NaN inputs as 0 (and Inf as the dtype's max)."""
    return softmax(np.nan_to_num(x))


def softmax_exp_approx(x):
    """exp by a cubic Taylor polynomial on 2^f after range reduction: ~1e-3 relative error."""
    v = _f32(x)
    with np.errstate(all="ignore"):
        t = (v - np.max(v, axis=-1, keepdims=True, initial=-np.inf)) * np.float32(1 / math.log(2))
        i = np.floor(t)
        f = (t - i) * np.float32(math.log(2))
        e = np.ldexp(1 + f + f * f / 2 + f * f * f / 6, np.nan_to_num(i, nan=0, neginf=-200).astype(np.int32))
        e = np.where(np.isnan(t), np.nan, e).astype(np.float32)
        return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


def softmax_empty_rows(x):
    """Takes the row max without an identity: raises on rows of length 0."""
    v = _f32(x)
    with np.errstate(all="ignore"):
        e = np.exp(v - v.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)


# -- layer norm over the last dim (no affine) ----------------------------------------------


def ref_layernorm(x):
    with np.errstate(all="ignore"):
        mean = x.mean(axis=-1, keepdims=True) if x.shape[-1] else x[..., :1]
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True) if x.shape[-1] else mean
        return ((x - mean) / np.sqrt(var + EPS)).astype(x.dtype)


def layernorm(x):
    return ref_layernorm(_f32(x)).astype(x.dtype)


def layernorm_eps_outside(x):
    """eps added to the standard deviation instead of the variance."""
    v = _f32(x)
    if not v.shape[-1]:
        return x.copy()
    with np.errstate(all="ignore"):
        mean = v.mean(axis=-1, keepdims=True)
        std = np.sqrt(((v - mean) ** 2).mean(axis=-1, keepdims=True))
        return ((v - mean) / (std + EPS)).astype(x.dtype)


def layernorm_size1_shortcut(x):
    """A fast path that returns rows of length 1 unchanged (they normalize to 0)."""
    return x.copy() if x.shape[-1] == 1 else layernorm(x)


def layernorm_ignores_offset(x):
    """Reads from the start of the buffer, not from the view's first element."""
    return layernorm(_ignoring_offset(x))


def layernorm_fp16_stats(x):
    """Mean and variance in float16 for every dtype: the squares overflow above 256."""
    with np.errstate(all="ignore"):
        v = x.astype(np.float16)
        if not v.shape[-1]:
            return x.copy()
        mean = v.mean(axis=-1, keepdims=True, dtype=np.float16)
        var = ((v - mean) ** 2).mean(axis=-1, keepdims=True, dtype=np.float16)
        return ((_f32(x) - mean) / np.sqrt(var.astype(np.float32) + EPS)).astype(x.dtype)


# -- sum over the last dim -----------------------------------------------------------------


def ref_rowsum(x):
    return x.sum(axis=-1).astype(x.dtype)


def rowsum(x):
    return _f32(x).sum(axis=-1).astype(x.dtype)


def rowsum_drops_carry(x):
    """Blocks of 32 columns; each block overwrites the running total instead of adding to it."""
    v = _f32(x)
    total = np.zeros(v.shape[:-1], v.dtype)
    for start in range(0, v.shape[-1], 32):
        total = v[..., start:start + 32].sum(axis=-1)
    return total.astype(x.dtype)


def rowsum_skips_tail(x):
    """Sums only the full blocks of 16 columns."""
    v = _f32(x)
    return v[..., : v.shape[-1] // 16 * 16].sum(axis=-1).astype(x.dtype)


def rowsum_empty_nan(x):
    """Returns NaN for rows of length 0 (their sum is 0)."""
    return np.full(x.shape[:-1], np.nan, x.dtype) if x.shape[-1] == 0 else rowsum(x)


def rowsum_float32_out(x):
    """Returns float32 whatever the input dtype."""
    return _f32(x).sum(axis=-1).astype(np.float32)


def rowsum_inner_stride_one(x):
    """Honours the row stride but assumes the columns are adjacent."""
    return rowsum(_inner_stride_one(x))


def rowsum_nansum(x):
    """Skips NaN (np.nansum): a NaN input no longer makes its row NaN."""
    return np.nansum(_f32(x), axis=-1).astype(x.dtype)


def rowsum_bf16_acc(x):
    """Accumulates in bfloat16, sequentially."""
    v = _f32(x)
    s = np.zeros(v.shape[:-1], BF16)
    with np.errstate(all="ignore"):
        for j in range(v.shape[-1]):
            s = (s.astype(np.float32) + v[..., j]).astype(BF16)
    return s.astype(x.dtype)


# -- gelu (exact, erf) ---------------------------------------------------------------------


def ref_gelu(x):
    with np.errstate(all="ignore"):
        return (0.5 * x * (1 + _ERF(x.astype(np.float64) / math.sqrt(2)))).astype(x.dtype)


def gelu(x):
    return ref_gelu(_f32(x)).astype(x.dtype)


def gelu_tanh(x):
    """The tanh approximation where the exact (erf) gelu is specified: ~1e-3 off."""
    v = _f32(x)
    with np.errstate(all="ignore"):
        inner = np.float32(math.sqrt(2 / math.pi)) * (v + np.float32(0.044715) * v * v * v)
        return (0.5 * v * (1 + np.tanh(inner))).astype(x.dtype)


def gelu_clamped(x):
    """Clamps the input to [-10, 10] (to keep an exp in range): wrong for large x and +-Inf."""
    return gelu(np.clip(x, -10, 10).astype(x.dtype))


def gelu_float32_out(x):
    """Returns float32 whatever the input dtype."""
    return gelu(x).astype(np.float32)


def gelu_ignores_offset(x):
    """Reads from the start of the buffer, not from the view's first element."""
    return gelu(_ignoring_offset(x))


def gelu_vector_tail(x):
    """Vectorized by 8 elements; the last partial vector is never written (zeros)."""
    out = np.zeros(x.size, x.dtype)
    n = x.size // 8 * 8
    out[:n] = gelu(np.ascontiguousarray(x).reshape(-1)[:n])
    return out.reshape(x.shape)


# -- row dot product of two inputs of one shape --------------------------------------------


def ref_rowdot(a, b):
    return (a * b).sum(axis=-1).astype(a.dtype)


def rowdot(a, b):
    return (_f32(a) * _f32(b)).sum(axis=-1).astype(a.dtype)


def rowdot_broadcast_row0(a, b):
    """Broadcasts b's first row to every row (b treated as a vector)."""
    if b.ndim < 2 or b.shape[-2] == 0:
        return rowdot(a, b)
    return rowdot(a, np.broadcast_to(b[..., :1, :], b.shape))


def rowdot_int_cast(a, b):
    """Casts the products to int32 before summing (an accumulator of the wrong type)."""
    with np.errstate(all="ignore"):
        p = np.nan_to_num(_f32(a) * _f32(b)).clip(-2**31, 2**31 - 1).astype(np.int32)
    return p.sum(axis=-1).astype(a.dtype)
