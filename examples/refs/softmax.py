"""Reference softmax over the last dim, computed in float64."""

import numpy as np

from gpuemu.script import main


def reference(inputs, **kwargs):
    x = inputs["x"].astype(np.float64)
    with np.errstate(invalid="ignore"):  # a row holding inf or NaN is NaN, as on the GPU
        e = np.exp(x - x.max(axis=-1, keepdims=True, initial=-np.inf))
        return (e / e.sum(axis=-1, keepdims=True)).astype(inputs["x"].dtype)


if __name__ == "__main__":
    main(reference)
