"""Run code written for a CUDA GPU unchanged on the CPU (the op switch ``emulate_cuda``).

Real Triton kernels check ``torch.cuda.is_available()``, allocate with ``device="cuda"``
and move tensors with ``.cuda()`` / ``.to("cuda")``. ``install`` makes all of that land
on the CPU: Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``, set before
anything imports triton), torch's CUDA queries answer as for one device, and a torch
function mode rewrites every CUDA device argument to the CPU, so the tensors a kernel
gets are host memory the interpreter reads in place. The executor calls it in a warm
worker or fork server before the script is imported (``ENV_VAR`` in the process's
environment asks for it), and runs a one-shot script as ``python -m
gpuemu.frameworks.cuda_emulation SCRIPT``. Tensors report ``device(type='cpu')``: code
that asserts ``x.is_cuda`` still fails, and says so.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
from types import SimpleNamespace

ENV_VAR = "GPUEMU_EMULATE_CUDA"
DEVICE_NAME = "CPU (gpuemu emulate_cuda: Triton interpreter)"
_installed = False


def emulation_env(emulate_cuda: bool) -> dict[str, str]:
    """What a script process's environment gets for the op switch ``emulate_cuda``."""
    return {ENV_VAR: "1"} if emulate_cuda else {}


def emulate_if_asked() -> None:
    """In a worker or fork server, before the script is imported: the op's ``emulate_cuda``."""
    if os.environ.get(ENV_VAR) == "1":
        install()


def install() -> None:
    """Redirect CUDA to the CPU in this process (idempotent); torch is optional."""
    global _installed
    if _installed:
        return
    os.environ["TRITON_INTERPRET"] = "1"
    _installed = True
    try:
        import torch
    except ImportError:
        return  # a Triton kernel on numpy arrays needs only the interpreter
    _patch_queries(torch)
    _CudaToCpu(torch).__enter__()  # for the life of the process, on its main thread


def _patch_queries(torch) -> None:
    props = SimpleNamespace(name=DEVICE_NAME, major=8, minor=0, multi_processor_count=os.cpu_count() or 1,
                            total_memory=os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"),
                            warp_size=32, max_shared_memory_per_block_optin=101376)
    answers = {
        "is_available": lambda: True, "is_initialized": lambda: True, "init": lambda: None,
        "device_count": lambda: 1, "current_device": lambda: 0, "set_device": lambda device: None,
        "synchronize": lambda device=None: None, "empty_cache": lambda: None,
        "get_device_name": lambda device=None: DEVICE_NAME,
        "get_device_capability": lambda device=None: (8, 0),
        "get_device_properties": lambda device=None: props,
        "manual_seed": torch.manual_seed, "manual_seed_all": torch.manual_seed,
        "device": lambda device=None: contextlib.nullcontext(),
    }
    for name, answer in answers.items():
        setattr(torch.cuda, name, answer)
    torch.Tensor.cuda = lambda self, device=None, non_blocking=False, **kw: self


def _on_cuda(device) -> bool:
    text = str(device) if device is not None else ""
    return text == "cuda" or text.startswith("cuda:")


def _CudaToCpu(torch):
    """A torch function mode that sends every CUDA device argument to the CPU."""
    from torch.overrides import TorchFunctionMode

    class CudaToCpu(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            if _on_cuda(kwargs.get("device")):
                kwargs["device"] = "cpu"
            args = tuple("cpu" if _on_cuda(a) and not isinstance(a, torch.Tensor) else a
                         for a in args)
            return func(*args, **kwargs)

    return CudaToCpu()


def main(argv: list[str] | None = None) -> None:
    """``python -m gpuemu.frameworks.cuda_emulation SCRIPT``: run SCRIPT as __main__ with
    CUDA redirected, as ``python SCRIPT`` would run it."""
    script = (argv or sys.argv)[1]
    install()
    sys.argv = [script]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
