"""ReLU and GELU by the Triton kernels in kernels/activations.py; ``kwargs["activation"]``
picks one, so that both ops share this script (and its warm workers' imports)."""

import _triton_cpu  # first: makes the kernels run in Triton's interpreter
import numpy as np
import triton
from gpuemu.script import main

from kernels.activations import gelu_kernel, relu_kernel

BLOCK = 1024
KERNELS = {"relu": relu_kernel, "gelu": gelu_kernel}


def run(inputs, activation, **kwargs):
    # As a torch wrapper's x.contiguous(): the kernels index a flat buffer.
    x = np.ascontiguousarray(inputs["x"])
    out = np.empty(x.shape, x.dtype)
    if out.size:
        KERNELS[activation][(triton.cdiv(x.size, BLOCK),)](*_triton_cpu.ptrs(out, x), x.size,
                                                           BLOCK=BLOCK)
    return out


if __name__ == "__main__":
    main(run)
