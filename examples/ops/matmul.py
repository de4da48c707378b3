"""C = A @ B for a[M, K], b[K, N], by the Triton kernel in kernels/matmul.py."""

import _triton_cpu  # first: makes the kernels run in Triton's interpreter
import numpy as np
import triton
from gpuemu.script import main

from kernels.matmul import matmul_kernel

BLOCK = 16  # tl.dot's smallest tile


def matmul(kernel, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Launch ``kernel`` (matmul_kernel's signature) with one program per BLOCK x BLOCK tile of C."""
    (m, k), n = a.shape, b.shape[1]
    c = np.empty((m, n), a.dtype)
    if c.size:
        grid = (triton.cdiv(m, BLOCK), triton.cdiv(n, BLOCK))
        kernel[grid](*_triton_cpu.ptrs(c, a, b), m, n, k, *_triton_cpu.strides(a),
                     *_triton_cpu.strides(b), *_triton_cpu.strides(c),
                     BLOCK_M=BLOCK, BLOCK_N=BLOCK, BLOCK_K=BLOCK)
    return c


def run(inputs, **kwargs):
    return matmul(matmul_kernel, inputs["a"], inputs["b"])


if __name__ == "__main__":
    main(run)
