"""Compiled-kernel inspection: PTX metrics, ptxas/cuobjdump bridges, lint policies, baselines.

    from gpuemu.artifacts import lint_ptx
    result = lint_ptx(open("saxpy.ptx").read(), config=load_config())

The PTX text is always measured; ptxas and cuobjdump add the physical numbers where
they are installed (see toolchain.py), and every metric says which source it came from.
"""

from .diff import ArtifactDiffer, flatten_metrics
from .lint import LIMITS, ArtifactLinter, lint_ptx
from .measure import DEFAULT_ARCH, Measurement, kernel_config, kernel_ptx, measure_module, measure_ptx
from .ptx import PtxFunction, PtxModule, PtxParser, PtxVariable, symbol_names
from .ptxas import PtxasInfo, PtxasReport, parse_ptxas_output, run_ptxas
from .sass import SassFunction, SassParser, SassReport
from .toolchain import Toolchain, find_tool

__all__ = [
    "DEFAULT_ARCH", "LIMITS", "ArtifactDiffer", "ArtifactLinter", "Measurement", "PtxFunction",
    "PtxModule", "PtxParser", "PtxVariable", "PtxasInfo", "PtxasReport", "SassFunction", "SassParser",
    "SassReport", "Toolchain", "find_tool", "flatten_metrics", "kernel_config", "kernel_ptx",
    "lint_ptx", "measure_module", "measure_ptx", "parse_ptxas_output", "run_ptxas", "symbol_names",
]
