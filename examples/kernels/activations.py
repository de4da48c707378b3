"""Element-wise activations over a flat, contiguous buffer: one program per BLOCK elements."""

import triton
import triton.language as tl


@triton.jit
def relu_kernel(out_ptr, x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    # x > 0 rather than maximum(x, 0): NaN stays NaN, as torch.relu keeps it.
    tl.store(out_ptr + offs, tl.where(x > 0, x, tl.where(x != x, x, 0.0)), mask=mask)


@triton.jit
def gelu_kernel(out_ptr, x_ptr, n, BLOCK: tl.constexpr):
    """The exact GELU, x * Phi(x) = x/2 * (1 + erf(x / sqrt(2)))."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask).to(tl.float32)
    tl.store(out_ptr + offs, 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476)), mask=mask)
