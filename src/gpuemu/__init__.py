"""gpuemu: prove a deep-learning kernel correct without a GPU.

The public API lives here; the machinery lives in modules users need not import.
"""

__version__ = "0.1.0"
