"""Row-wise softmax: one program per row, the whole row in one block (Triton's tutorial shape)."""

import triton
import triton.language as tl


@triton.jit
def softmax_kernel(out_ptr, x_ptr, n_cols, x_row_stride, x_col_stride, out_row_stride,
                   BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    # -inf in the padding lanes: they add exp(-inf) = 0 to the sum and never win the max.
    x = tl.load(x_ptr + row * x_row_stride + cols * x_col_stride, mask=mask, other=-float("inf"))
    z = x.to(tl.float32) - tl.max(x.to(tl.float32), axis=0)
    num = tl.exp(z)
    tl.store(out_ptr + row * out_row_stride + cols, num / tl.sum(num, axis=0), mask=mask)
