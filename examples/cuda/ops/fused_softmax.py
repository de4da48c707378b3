"""The op script, as its authors wrote it for a GPU: inputs to CUDA, the kernel, back."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project root: `kernels`
from kernels.fused_softmax import fused_softmax  # noqa: E402

from gpuemu.script import main  # noqa: E402


def run(inputs, **kwargs):
    x = torch.from_numpy(inputs["x"]).to("cuda")
    return fused_softmax(x).cpu().numpy()


if __name__ == "__main__":
    main(run)
