"""Reference ReLU; NaN stays NaN (as torch.relu)."""

import numpy as np

from gpuemu.script import main


def reference(inputs, **kwargs):
    x = inputs["x"]
    return np.where(x > 0, x, np.where(np.isnan(x), x, 0)).astype(x.dtype)


if __name__ == "__main__":
    main(reference)
