"""Reference C = A @ B, accumulated in float64."""

import numpy as np

from gpuemu.script import main


def reference(inputs, **kwargs):
    a, b = inputs["a"], inputs["b"]
    return (a.astype(np.float64) @ b.astype(np.float64)).astype(a.dtype)


if __name__ == "__main__":
    main(reference)
