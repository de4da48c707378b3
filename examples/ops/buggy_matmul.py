"""A BUGGY matmul, for buggy/gpuemu.toml: the K loop stops before the partial last block.

It differs from kernels/matmul.py in the loop bound, K // BLOCK_K instead of
cdiv(K, BLOCK_K): the last K % BLOCK_K products of every dot are dropped, so C is wrong
whenever K is not a multiple of BLOCK_K -- and right on every "nice" shape.
"""

import _triton_cpu  # first: makes the kernel run in Triton's interpreter
import triton
import triton.language as tl
from gpuemu.script import main

from matmul import matmul  # the op's own launcher, given this kernel


@triton.jit
def matmul_kernel(c_ptr, a_ptr, b_ptr, M, N, K, stride_am, stride_ak, stride_bk, stride_bn,
                  stride_cm, stride_cn, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                  BLOCK_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, K // BLOCK_K):  # BUG: the tail block K % BLOCK_K is never loaded
        kk = k * BLOCK_K + rk
        a = tl.load(a_ptr + rm[:, None] * stride_am + kk[None, :] * stride_ak,
                    mask=rm[:, None] < M, other=0.0)
        b = tl.load(b_ptr + kk[:, None] * stride_bk + rn[None, :] * stride_bn,
                    mask=rn[None, :] < N, other=0.0)
        acc = tl.dot(a, b, acc, input_precision="ieee")
    tl.store(c_ptr + rm[:, None] * stride_cm + rn[None, :] * stride_cn,
             acc.to(c_ptr.dtype.element_ty), mask=(rm[:, None] < M) & (rn[None, :] < N))


def run(inputs, **kwargs):
    return matmul(matmul_kernel, inputs["a"], inputs["b"])


if __name__ == "__main__":
    main(run)
