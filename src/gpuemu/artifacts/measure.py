"""One kernel measured by every source this machine has: the PTX text always, ptxas and
cuobjdump when installed. Each number keeps its source, so a reader (and the linter)
knows whether a register count is PTX's virtual one or the hardware's.

Metrics are a JSON-ready dict, the form stored with an artifact and sent in LintResult::

    {"kernel": "saxpy", "arch": "sm_80",
     "ptx":   {"version": "9.0", "target": "sm_80", "registers": 19, "st_local": 0, ...},
     "ptxas": {"registers": 10, "spill_stores_bytes": 0, "stack_frame_bytes": 0, ...},
     "sass":  {"registers": 10, "instructions": 24, "local_loads": 0, ...}}

A source that is not available is absent, and ``notes`` says why.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import KernelConfig, ProjectConfig
from ..errors import ArtifactNotFound, CuobjdumpNotAvailable, InvalidRequest, PtxParseError
from .results import LintFinding
from .ptx import PtxFunction, PtxModule, PtxParser, symbol_names
from .ptxas import PtxasReport, run_ptxas
from .sass import SassParser, SassReport
from .toolchain import Toolchain, run_tool

DEFAULT_ARCH = "sm_80"
_NO_PTXAS = ("ptxas was not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin, Python packages): "
             "physical registers, spills and the stack frame are not measured, only the PTX's "
             "virtual registers; install the CUDA toolkit to get them")
_NO_NVDISASM = ("no SASS instruction counts: cuobjdump --dump-sass needs nvdisasm, which is not "
                "installed; `pip install nvidia-cuda-nvdisasm` provides it")


@dataclass(frozen=True, slots=True)
class Measurement:
    """A kernel's metrics from each available source, and notes on the sources that were not."""

    name: str
    """The kernel's name for people: its [[kernels]] name, else its PTX symbol."""
    module: PtxModule
    kernel: PtxFunction
    arch: str
    config: KernelConfig | None = None
    ptxas: PtxasReport | None = None
    sass: SassReport | None = None
    notes: tuple[LintFinding, ...] = ()

    def metrics(self) -> dict:
        symbol = self.kernel.name
        out: dict = {"kernel": symbol, "arch": self.arch,
                     "ptx": {"version": self.module.version, "target": self.module.target,
                             **self.kernel.metrics()}}
        if self.ptxas is not None and symbol in self.ptxas.functions:
            out["ptxas"] = self.ptxas.metrics(symbol)
        if self.sass is not None and symbol in self.sass.functions:
            out["sass"] = self.sass.metrics(symbol)
        return out


def kernel_config(config: ProjectConfig | None, kernel_name: str | None,
                  symbol: str) -> KernelConfig | None:
    """The [[kernels]] entry for ``kernel_name``, else the one whose name is the symbol's."""
    if config is None:
        return None
    if kernel_name in config.kernels:
        return config.kernels[kernel_name]
    return next((k for k in config.kernels.values() if k.name in symbol_names(symbol)), None)


def _note(severity: str, rule: str, source: str, message: str) -> LintFinding:
    return LintFinding(severity=severity, rule=rule, message=message, source=source)


def _ptxas_failure(exc: PtxParseError, module: PtxModule, tools: Toolchain) -> LintFinding:
    """ptxas rejected the PTX: an error, unless ptxas is merely older than the PTX."""
    if "Unsupported .version" not in str(exc):
        return _note("error", "ptxas_failed", "ptxas", str(exc))
    return _note("warning", "ptxas_too_old", "ptxas", (
        f"ptxas {tools.ptxas} is older than {module.source} (PTX {module.version}), so physical "
        "registers, spills and the stack frame are not measured; put a newer CUDA toolkit's "
        "ptxas first on PATH"))


def _run_tools(module: PtxModule, arch: str, tools: Toolchain) -> tuple[
        PtxasReport | None, SassReport | None, list[LintFinding]]:
    if tools.ptxas is None:
        return None, None, [_note("info", "ptxas_missing", "ptxas", _NO_PTXAS)]
    with tempfile.TemporaryDirectory(prefix="gpuemu-ptxas-") as tmp:
        ptx_file, cubin = Path(tmp) / "kernel.ptx", Path(tmp) / "kernel.cubin"
        ptx_file.write_text(module.text)
        try:
            ptxas = run_ptxas(ptx_file, arch, ptxas=tools.ptxas, cubin=cubin, source=module.source)
        except PtxParseError as exc:
            return None, None, [_ptxas_failure(exc, module, tools)]
        try:
            sass = SassParser().parse_cubin(cubin, tools)
        except (CuobjdumpNotAvailable, InvalidRequest) as exc:
            return ptxas, None, [_note("info", "sass_unavailable", "sass", f"no SASS metrics: {exc}")]
    return ptxas, sass, [] if tools.nvdisasm else [_note("info", "sass_unavailable", "sass", _NO_NVDISASM)]


def measure_module(module: PtxModule, kernel: PtxFunction, *, name: str | None = None,
                   arch: str | None = None, config: KernelConfig | None = None,
                   tools: Toolchain | None = None) -> Measurement:
    """Measure ``kernel`` of ``module``; ``arch`` defaults to the PTX's .target (else sm_80)."""
    arch = arch or (module.target if module.target.startswith("sm_") else DEFAULT_ARCH)
    ptxas, sass, notes = _run_tools(module, arch, tools if tools is not None else Toolchain.find())
    return Measurement(name=name or kernel.name, module=module, kernel=kernel, arch=arch,
                       config=config, ptxas=ptxas, sass=sass, notes=tuple(notes))


def measure_ptx(text: str, *, kernel_name: str | None = None, config: ProjectConfig | None = None,
                source: str = "<ptx>", tools: Toolchain | None = None) -> Measurement:
    """Parse PTX, pick the kernel (``kernel_name``, or the file's only one), and measure it
    with the arch and name of its [[kernels]] entry in ``config`` when it has one."""
    module = PtxParser().parse(text, source)
    kernel = module.resolve(kernel_name)
    entry = kernel_config(config, kernel_name, kernel.name)
    name = entry.name if entry else kernel_name or kernel.name
    return measure_module(module, kernel, name=name, arch=entry.arch if entry else None,
                          config=entry, tools=tools)


def kernel_ptx(kernel: KernelConfig, tools: Toolchain | None = None) -> tuple[str, str]:
    """``(PTX text, where it came from)`` for a [[kernels]] entry: its ``ptx`` file, else its
    ``source`` (a .ptx file, or a .cu file compiled with ``nvcc -ptx`` for its arch)."""
    path = kernel.ptx or kernel.source
    if path is None:
        raise ArtifactNotFound(f"kernel {kernel.name!r} has neither ptx nor source in gpuemu.toml")
    if not path.is_file():
        key = "ptx" if kernel.ptx else "source"
        raise ArtifactNotFound(f"kernel {kernel.name!r}: {key} file {path} does not exist; build it "
                               f"(e.g. nvcc -ptx) or fix `{key}` in its [[kernels]] entry")
    if kernel.ptx is not None or path.suffix == ".ptx":
        return path.read_text(), str(path)
    if path.suffix != ".cu":
        raise ArtifactNotFound(f"kernel {kernel.name!r}: gpuemu compiles only CUDA (.cu) sources, not "
                               f"{path.name}; set ptx = \"...\" to its compiled PTX")
    nvcc = (tools if tools is not None else Toolchain.find()).nvcc
    if nvcc is None:
        raise ArtifactNotFound(f"kernel {kernel.name!r} has source {path} but no ptx, and nvcc is not "
                               "installed to compile it; set ptx = \"...\" or install the CUDA toolkit")
    with tempfile.TemporaryDirectory(prefix="gpuemu-nvcc-") as tmp:
        out = Path(tmp) / "kernel.ptx"
        done = run_tool([str(nvcc), "-ptx", f"--gpu-architecture={kernel.arch}", str(path), "-o", str(out)],
                        f"nvcc on {path}")
        if done.returncode != 0:
            raise ArtifactNotFound(f"kernel {kernel.name!r}: nvcc could not compile {path} to PTX: "
                                   f"{done.stderr.strip()[-2000:]}")
        return out.read_text(), f"{path} (nvcc -ptx, {kernel.arch})"
