"""LayerNorm of x[M, N] with weight[N] and bias[N], by the Triton kernel in kernels/layernorm.py."""

import _triton_cpu  # first: makes the kernels run in Triton's interpreter
import numpy as np
import triton
from gpuemu.script import main

from kernels.layernorm import layernorm_kernel


def run(inputs, eps=1e-5, **kwargs):
    x, w, b = inputs["x"], inputs["weight"], inputs["bias"]
    out = np.empty(x.shape, x.dtype)
    rows, cols = x.shape
    if out.size:
        layernorm_kernel[(rows,)](*_triton_cpu.ptrs(out, x, w, b), cols, *_triton_cpu.strides(x),
                                  *_triton_cpu.strides(w), *_triton_cpu.strides(b),
                                  _triton_cpu.strides(out)[0], eps,
                                  BLOCK=max(16, triton.next_power_of_2(cols)))
    return out


if __name__ == "__main__":
    main(run)
