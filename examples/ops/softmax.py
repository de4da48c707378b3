"""softmax over the last dim of x[M, N], by the Triton kernel in kernels/softmax.py."""

import _triton_cpu  # first: makes the kernels run in Triton's interpreter
import numpy as np
import triton
from gpuemu.script import main

from kernels.softmax import softmax_kernel


def softmax(kernel, x: np.ndarray) -> np.ndarray:
    """Launch ``kernel`` (softmax_kernel's signature) on x[M, N], one program per row."""
    out = np.empty(x.shape, x.dtype)
    rows, cols = x.shape
    if out.size:
        kernel[(rows,)](*_triton_cpu.ptrs(out, x), cols, *_triton_cpu.strides(x),
                        _triton_cpu.strides(out)[0], BLOCK=max(16, triton.next_power_of_2(cols)))
    return out


def run(inputs, **kwargs):
    return softmax(softmax_kernel, inputs["x"])


if __name__ == "__main__":
    main(run)
