"""Scripts the API, config and CLI conformance tests' projects share. They use our own
helper (gpuemu.script), so that these tests depend on no detail of the script protocol,
which the wire conformance tests cover in the seeds' own style."""

RELU_REF = """
import numpy as np
from gpuemu.script import main

def reference(inputs, **kwargs):
    return np.maximum(inputs["x"], 0)

if __name__ == "__main__":
    main(reference)
"""

# An op script with a bug: negative inputs pass through.
IDENTITY_OP = """
from gpuemu.script import main

def run(inputs, **kwargs):
    return inputs["x"].copy()

if __name__ == "__main__":
    main(run)
"""
