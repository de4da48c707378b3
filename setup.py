"""Only the optional C accelerators (gpuemu.rng's generator, gpuemu.validate's fused
compare); all metadata lives in pyproject.toml.

optional=True: without a compiler the install still succeeds and both modules use their
numpy/pure-Python paths. -ffp-contract=off keeps the compiler from fusing multiply-adds,
so the C code rounds exactly as Python and numpy do.
"""

import sys

from setuptools import Extension, setup

FLAGS = [] if sys.platform == "win32" else ["-ffp-contract=off"]

setup(
    ext_modules=[
        Extension("gpuemu._rngfast", ["src/gpuemu/_rngfast.c"], optional=True,
                  extra_compile_args=FLAGS),
        Extension("gpuemu._cmpfast", ["src/gpuemu/_cmpfast.c"], optional=True,
                  extra_compile_args=FLAGS + ([] if sys.platform == "win32" else ["-O3"])),
    ]
)
