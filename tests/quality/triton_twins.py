"""Real Triton kernels for the quality suite, run on the CPU by Triton's interpreter.

Row softmax and row sum over the last dim, as 2-D tiles (BLOCK_M rows per program, so the
interpreter runs few programs), each with a correct launch and buggy twins. Inputs of
any rank are viewed as [rows, cols] without copying where numpy can (2-D inputs always),
so the kernels see the case's real strides. The interpreter has no bfloat16 arrays:
bfloat16 inputs run on float32 copies, and the result is rounded back.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "ops"))
import _triton_cpu  # noqa: E402  -- first: sets TRITON_INTERPRET before triton is imported
import ml_dtypes  # noqa: E402
import numpy as np  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

TILE = 4096
"""Elements per program tile."""


@triton.jit
def _softmax(out_ptr, x_ptr, rows, cols, sxr, sxc, sor, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
             PAD_ZERO: tl.constexpr, SUB_MAX: tl.constexpr):
    r = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)[:, None]
    c = tl.arange(0, BLOCK_N)[None, :]
    mask = (r < rows) & (c < cols)
    pad = 0.0 if PAD_ZERO else -float("inf")
    x = tl.load(x_ptr + r * sxr + c * sxc, mask=mask, other=pad).to(tl.float32)
    if SUB_MAX:
        x = x - tl.max(x, axis=1)[:, None]
    e = tl.exp(x)
    y = e / tl.sum(e, axis=1)[:, None]
    tl.store(out_ptr + r * sor + c, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rowsum(out_ptr, x_ptr, rows, cols, sxr, sxc, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
            HALF_ACC: tl.constexpr, CARRY: tl.constexpr):
    r = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    acc = tl.zeros([BLOCK_M], dtype=tl.float16 if HALF_ACC else tl.float32)
    for start in range(0, cols, BLOCK_N):
        c = start + tl.arange(0, BLOCK_N)
        mask = (r[:, None] < rows) & (c[None, :] < cols)
        x = tl.load(x_ptr + r[:, None] * sxr + c[None, :] * sxc, mask=mask, other=0.0)
        part = tl.sum(x.to(acc.dtype), axis=1)
        acc = acc + part if CARRY else part
    tl.store(out_ptr + r, acc.to(out_ptr.dtype.element_ty), mask=r < rows)


def _rows(x: np.ndarray) -> np.ndarray:
    """``x`` as [rows, cols] (a view where numpy can make one), bfloat16 as float32."""
    if x.dtype == ml_dtypes.bfloat16:
        x = x.astype(np.float32)
    return x.reshape(1, -1) if x.ndim < 2 else x.reshape(int(np.prod(x.shape[:-1])), x.shape[-1])


def _tiles(cols: int, block_n: int) -> int:
    return max(1, triton.next_power_of_2(max(1, TILE // block_n)))


def softmax(x, pad_zero=False, sub_max=True, block_n=None):
    v = _rows(x)
    out = np.empty(v.shape, v.dtype)
    rows, cols = v.shape
    if out.size:
        bn = block_n or max(16, triton.next_power_of_2(cols))
        bm = _tiles(cols, bn)
        _softmax[(triton.cdiv(rows, bm),)](*_triton_cpu.ptrs(out, v), rows, cols,
                                           *_triton_cpu.strides(v), cols, BLOCK_M=bm, BLOCK_N=bn,
                                           PAD_ZERO=pad_zero, SUB_MAX=sub_max)
    return out.reshape(x.shape).astype(x.dtype)


def rowsum(x, half_acc=False, carry=True, contiguous=False):
    v = _rows(x)
    rows, cols = v.shape
    out = np.zeros(rows, v.dtype)
    if rows and cols:
        bn = 16 if cols <= 256 else 256
        bm = _tiles(cols, bn)
        strides = (cols, 1) if contiguous else _triton_cpu.strides(v)
        _rowsum[(triton.cdiv(rows, bm),)](*_triton_cpu.ptrs(out, v), rows, cols, *strides,
                                          BLOCK_M=bm, BLOCK_N=bn, HALF_ACC=half_acc, CARRY=carry)
    return out.reshape(x.shape[:-1]).astype(x.dtype)


def triton_softmax_pad_zero(x):
    """Masked lanes load 0 instead of -inf: they add exp(0 - max) to every padded row's sum."""
    return softmax(x, pad_zero=True)


def triton_softmax_no_max(x):
    """No max-subtraction: exp overflows for logits above ln(max)."""
    return softmax(x, sub_max=False)


def triton_softmax_one_block(x):
    """One block of 32 columns, no loop: columns beyond 32 are never computed."""
    out = np.zeros(x.shape, x.dtype)
    if x.shape and x.shape[-1]:
        head = x[..., :32]
        out[..., :32] = softmax(head, block_n=32)
    return out


def triton_rowsum_half_acc(x):
    """Accumulates in float16."""
    return rowsum(x, half_acc=True)


def triton_rowsum_no_carry(x):
    """Each block of columns overwrites the accumulator instead of adding to it."""
    return rowsum(x, carry=False)


def triton_rowsum_contiguous(x):
    """Passes (cols, 1) as the strides: assumes a contiguous input."""
    return rowsum(x, contiguous=True)
