"""Real kernel artifacts for the artifact tests.

Committed (tests/data/ptx, made by its make_ptx.py): PTX from nvcc and from Triton, and
what ptxas and cuobjdump printed for them, so the parsers are tested where CUDA is
absent. Built at test time (``nvcc_build``): each tests/data/cuda/*.cu compiled once per
session by nvcc (PTX, cubin and ptxas's -v report); tests that need it skip, with the
reason, where nvcc is not installed.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuemu.artifacts import Toolchain

DATA = Path(__file__).parent / "data"
CUDA_DIR = DATA / "cuda"
PTX_DIR = DATA / "ptx"
ARCH = "sm_80"
TOOLS = Toolchain.find()
PTX_ONLY = Toolchain()
"""No tools at all: what a machine without CUDA measures."""
PTXAS = Toolchain(ptxas=TOOLS.ptxas)
"""ptxas without cuobjdump, whose --dump-sass costs a third of a second per kernel."""
NVCC_PTX = ("saxpy", "saxpy_unrolled", "reduce_sum", "local_spill", "elementwise")

needs_nvcc = pytest.mark.skipif(TOOLS.nvcc is None, reason="nvcc (CUDA toolkit) is not installed: "
                                "the CUDA sources cannot be compiled at test time")
needs_ptxas = pytest.mark.skipif(TOOLS.ptxas is None, reason="ptxas (CUDA toolkit) is not installed")
needs_cuobjdump = pytest.mark.skipif(
    TOOLS.cuobjdump is None or TOOLS.nvdisasm is None,
    reason="cuobjdump/nvdisasm are not installed (pip install nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm)")


def committed(name: str) -> str:
    """A committed file of tests/data/ptx, e.g. ``saxpy.ptx`` or ``local_spill.ptxas.txt``."""
    return (PTX_DIR / name).read_text()


def ptxas_figures(output: str, kernel: str) -> dict[str, int]:
    """The numbers ptxas printed for ``kernel``, read with plain regexes, independently of
    gpuemu's parser: what gpuemu reports is compared with these."""
    block = output[output.index(f"Function properties for {kernel}"):]
    figures = {name: int(re.search(rf"(\d+) bytes {words}", block).group(1)) for name, words in (
        ("stack_frame_bytes", "stack frame"), ("spill_stores_bytes", "spill stores"),
        ("spill_loads_bytes", "spill loads"))}
    figures["registers"] = int(re.search(r"Used (\d+) registers", block).group(1))
    return figures


@functools.cache
def ptxas_output(name: str) -> str:
    """What ``ptxas -v`` prints for the committed tests/data/ptx/NAME.ptx on this machine."""
    cubin = _build_dir() / f"{name}.ptxas.cubin"
    done = subprocess.run([str(TOOLS.ptxas), "-v", "--gpu-name", ARCH, str(PTX_DIR / f"{name}.ptx"),
                           "-o", str(cubin)], check=True, capture_output=True, text=True)
    return done.stdout + done.stderr


@dataclass(frozen=True)
class CudaBuild:
    ptx: Path
    cubin: Path
    ptxas_output: str
    """What ``nvcc -cubin -Xptxas -v`` printed: ptxas's own report."""

    @property
    def ptx_text(self) -> str:
        return self.ptx.read_text()


@functools.cache
def _build_dir() -> Path:
    holder = tempfile.TemporaryDirectory(prefix="gpuemu-cuda-")
    _build_dir.holder = holder  # type: ignore[attr-defined]  # removed when the session ends
    return Path(holder.name)


@functools.cache
def nvcc_build(name: str) -> CudaBuild:
    """tests/data/cuda/NAME.cu compiled for sm_80 once per session: one ``nvcc -cubin -Xptxas -v
    --keep`` gives the cubin, ptxas's report and (kept) the PTX that nvcc -ptx writes."""
    out = _build_dir() / name
    out.mkdir()
    done = subprocess.run([str(TOOLS.nvcc), f"-arch={ARCH}", "-cubin", "-Xptxas", "-v", "--keep",
                           "--keep-dir", str(out), str(CUDA_DIR / f"{name}.cu"), "-o", str(out / f"{name}.cubin")],
                          check=True, capture_output=True, text=True)
    return CudaBuild(out / f"{name}.ptx", out / f"{name}.cubin", done.stdout + done.stderr)
