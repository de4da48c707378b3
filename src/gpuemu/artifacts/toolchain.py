"""Finding and running the CUDA tools (ptxas, cuobjdump, nvdisasm, nvcc) that measure compiled kernels.

None of them is required: without them the PTX alone is measured. They are looked for
on PATH, then in ``$CUDA_HOME/bin`` / ``$CUDA_PATH/bin`` / ``/usr/local/cuda/bin``, then
in the Python packages that ship them (``nvidia-cuda-cuobjdump``, ``nvidia-cuda-nvdisasm``
and friends install ``nvidia/*/bin/<tool>``; Triton bundles ``triton/backends/nvidia/bin/<tool>``),
so a ``pip install`` is enough to provide one. (``cuobjdump --dump-sass`` runs nvdisasm.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import InternalError

TOOLS = ("ptxas", "cuobjdump", "nvdisasm", "nvcc")
TOOL_TIMEOUT_S = 120.0


def _package_dirs() -> list[Path]:
    """Where pip-installed packages bundle CUDA binaries, for every entry of sys.path."""
    dirs: list[Path] = []
    for entry in sys.path:
        root = Path(entry or ".")
        dirs += sorted(root.glob("nvidia/*/bin"))
        dirs.append(root / "triton" / "backends" / "nvidia" / "bin")
    return dirs


def find_tool(name: str) -> Path | None:
    """The first executable ``name`` on PATH, in a CUDA install, or in a Python package; or None."""
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    homes = [os.environ.get(var) for var in ("CUDA_HOME", "CUDA_PATH")] + ["/usr/local/cuda"]
    candidates = [Path(h) / "bin" for h in homes if h] + _package_dirs()
    for directory in candidates:
        tool = directory / name
        if tool.is_file() and os.access(tool, os.X_OK):
            return tool
    return None


@dataclass(frozen=True, slots=True)
class Toolchain:
    """The CUDA tools to use; None where a tool is absent (then its metrics are not measured)."""

    ptxas: Path | None = None
    cuobjdump: Path | None = None
    nvdisasm: Path | None = None
    nvcc: Path | None = None

    @classmethod
    def find(cls) -> Toolchain:
        """The tools on this machine (see the module docstring for where they are looked for)."""
        return cls(**{name: find_tool(name) for name in TOOLS})


def run_tool(cmd: list[str], what: str, timeout_s: float = TOOL_TIMEOUT_S,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a CUDA tool, capturing its text output; a hang becomes an InternalError naming ``what``.
    ``env`` adds variables to this process's environment."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, env={**os.environ, **env} if env else None)
    except subprocess.TimeoutExpired:
        raise InternalError(f"{what} did not finish within {timeout_s:g} s ({' '.join(cmd)}); "
                           "the input may be very large, or the tool hung") from None


def sm_arch(arch: str) -> str:
    """The ``--gpu-name`` ptxas wants: ``compute_80`` becomes ``sm_80``; ``sm_90a`` stays."""
    return "sm_" + arch.removeprefix("compute_") if arch.startswith("compute_") else arch
