"""Reference exact GELU, x * Phi(x) with Phi the standard normal CDF, in float64."""

import math

import numpy as np

from gpuemu.script import main

_erf = np.vectorize(math.erf, otypes=[np.float64])  # numpy has no erf; the cases are small


def reference(inputs, **kwargs):
    x = inputs["x"].astype(np.float64)
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(inputs["x"].dtype)


if __name__ == "__main__":
    main(reference)
