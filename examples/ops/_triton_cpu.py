"""Run this project's Triton kernels on numpy arrays, on the CPU, through Triton's interpreter.

Import this module before anything imports triton: ``@triton.jit`` decides when a kernel
is *defined* whether it is compiled or interpreted, so TRITON_INTERPRET=1 must already be
set then. Setting it here, not in the daemon's environment, keeps every op script runnable
as it is: by gpuemu's warm workers, one-shot, or by hand.
"""

import importlib.util
import os
import sys
from pathlib import Path

os.environ["TRITON_INTERPRET"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: `import kernels`

import numpy as np  # noqa: E402

if importlib.util.find_spec("triton") is None:
    raise ImportError("this op runs a Triton kernel on the CPU, but triton is not installed in "
                      f"{sys.prefix}; install it there (pip install triton), or run only the numpy ops")


class HostTensor:
    """A numpy array as Triton's interpreter sees a torch tensor: an address and a dtype.

    The interpreter copies device tensors to the host and back around a launch; on the
    CPU host memory *is* the memory the kernel works on, so those steps are no-ops and
    the kernel reads and writes the array in place.
    """

    def __init__(self, array: np.ndarray):
        self.array, self.dtype = array, array.dtype

    def data_ptr(self) -> int:
        return self.array.ctypes.data

    def untyped_storage(self) -> "HostTensor":
        return self

    def cpu(self) -> "HostTensor":
        return self

    def new_empty(self, *shape, **kwargs) -> "HostTensor":
        return self

    def set_(self, *view) -> "HostTensor":
        return self

    def copy_(self, other) -> "HostTensor":
        return self

    def storage_offset(self) -> int:
        return 0

    def size(self) -> tuple[int, ...]:
        return self.array.shape

    def stride(self) -> tuple[int, ...]:
        return strides(self.array)


def strides(a: np.ndarray) -> tuple[int, ...]:
    """Strides in elements, as kernels index memory (numpy's are in bytes)."""
    return tuple(s // a.itemsize for s in a.strides)


def ptrs(*arrays: np.ndarray) -> list[HostTensor]:
    """The arrays as kernel pointer arguments."""
    return [HostTensor(a) for a in arrays]
