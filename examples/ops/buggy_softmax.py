"""A BUGGY softmax, for buggy/gpuemu.toml: the tail block's padding lanes are not masked out.

It differs from kernels/softmax.py in one argument: the load's ``other`` is 0.0, not -inf.
The padding lanes of the last (here: only) block then enter the max and add exp(0 - max)
each to the sum, so every row whose length is not a multiple of BLOCK comes out too small.
"""

import _triton_cpu  # first: makes the kernel run in Triton's interpreter
import triton
import triton.language as tl
from gpuemu.script import main

from softmax import softmax  # the op's own launcher, given this kernel


@triton.jit
def softmax_kernel(out_ptr, x_ptr, n_cols, x_row_stride, x_col_stride, out_row_stride,
                   BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_row_stride + cols * x_col_stride, mask=mask, other=0.0)  # BUG
    z = x.to(tl.float32) - tl.max(x.to(tl.float32), axis=0)
    num = tl.exp(z)
    tl.store(out_ptr + row * out_row_stride + cols, num / tl.sum(num, axis=0), mask=mask)


def run(inputs, **kwargs):
    return softmax(softmax_kernel, inputs["x"])


if __name__ == "__main__":
    main(run)
