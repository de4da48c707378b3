"""Reference softmax over the last dim, computed in float64 with numpy."""

import numpy as np

from gpuemu.script import main


def reference(inputs, **kwargs):
    x = inputs["x"].astype(np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(inputs["x"].dtype)


if __name__ == "__main__":
    main(reference)
