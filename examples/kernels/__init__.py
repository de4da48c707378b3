"""The example project's Triton kernels: plain ``@triton.jit`` functions, as a GPU project has them.

They run on a GPU, on the CPU through Triton's interpreter (the op scripts in ``ops/``
do that), and compile ahead of time to PTX without a GPU (``build.py``).
"""
