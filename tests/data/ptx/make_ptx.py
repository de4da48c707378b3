"""Regenerate the committed artifacts in this folder, so the parser tests run without CUDA.

    python tests/data/ptx/make_ptx.py

Writes, for each ../cuda/NAME.cu: NAME.ptx (nvcc -ptx, sm_80) and NAME.ptxas.txt (what
``ptxas -v --gpu-name sm_80`` prints for it); for reduce_sum also cuobjdump's
resource usage and SASS of the cubin; and triton_softmax.ptx, compiled ahead of time by
Triton for sm_80 (no GPU needed). Absolute paths are made relative to the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
CUDA = HERE.parent / "cuda"
ARCH = "sm_80"


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return done


def nvcc_artifacts(tmp: Path) -> None:
    from gpuemu.artifacts import find_tool

    cuobjdump, nvdisasm = find_tool("cuobjdump"), find_tool("nvdisasm")
    for cu in sorted(CUDA.glob("*.cu")):
        ptx = HERE / f"{cu.stem}.ptx"
        run(["nvcc", "-ptx", f"-arch={ARCH}", str(cu), "-o", str(ptx)])
        cubin = tmp / f"{cu.stem}.cubin"
        done = run(["ptxas", "-v", "--gpu-name", ARCH, str(ptx), "-o", str(cubin)])
        (HERE / f"{cu.stem}.ptxas.txt").write_text(done.stderr.replace(str(ptx), ptx.name))
        if cu.stem == "reduce_sum" and cuobjdump and nvdisasm:
            env = {**os.environ, "NVDISASM_PATH": str(nvdisasm.parent)}
            for flag, suffix in (("--dump-resource-usage", "resource-usage"), ("--dump-sass", "sass")):
                out = subprocess.run([str(cuobjdump), flag, str(cubin)], capture_output=True,
                                     text=True, env=env, check=True).stdout
                (HERE / f"{cu.stem}.{suffix}.txt").write_text(out)


def triton_softmax() -> None:
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    @triton.jit
    def softmax_kernel(out_ptr, in_ptr, row_stride, n_cols, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < n_cols
        x = tl.load(in_ptr + row * row_stride + cols, mask=mask, other=-float("inf"))
        x = x - tl.max(x, axis=0)
        e = tl.exp(x)
        tl.store(out_ptr + row * row_stride + cols, e / tl.sum(e, axis=0), mask=mask)

    source = ASTSource(fn=softmax_kernel, constexprs={"BLOCK": 1024}, signature={
        "out_ptr": "*fp32", "in_ptr": "*fp32", "row_stride": "i32", "n_cols": "i32",
        "BLOCK": "constexpr"})
    compiled = triton.compile(source, target=GPUTarget("cuda", 80, 32), options={"num_warps": 4})
    ptx = compiled.asm["ptx"].replace(str(REPO) + "/", "").replace(
        str(Path(triton.__file__).parent.parent) + "/", "site-packages/")
    (HERE / "triton_softmax.ptx").write_text(ptx)


if __name__ == "__main__":
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    with tempfile.TemporaryDirectory() as tmp:
        nvcc_artifacts(Path(tmp))
    triton_softmax()
