"""Only the optional C accelerator for gpuemu.rng; all metadata lives in pyproject.toml.

optional=True: without a compiler the install still succeeds and gpuemu.rng uses its
pure-Python loops. -ffp-contract=off keeps the compiler from fusing multiply-adds, so
the C Box-Muller rounds exactly as Python's math module does.
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gpuemu._rngfast",
            ["src/gpuemu/_rngfast.c"],
            optional=True,
            extra_compile_args=[] if sys.platform == "win32" else ["-ffp-contract=off"],
        )
    ]
)
