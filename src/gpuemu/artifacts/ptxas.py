"""What the GPU will really use: ptxas compiles the PTX (``-v``) and reports, per function,
physical registers, spill stores/loads, stack frame, shared and constant memory.

The report is read from ptxas's own text (the same lines ``nvcc -Xptxas -v`` prints), so
gpuemu's numbers are ptxas's numbers, never an estimate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import PtxParseError
from .toolchain import run_tool, sm_arch

_FUNCTION = re.compile(r"(?:Compiling entry function|Function properties for) '?([\w$.]+)'?"
                       r"(?: for '(\w+)')?")
_ENTRY = re.compile(r"Compiling entry function '([\w$.]+)'")
_REGISTERS = re.compile(r"Used (\d+) registers")
_BARRIERS = re.compile(r"used (\d+) barriers")
_SIZE = re.compile(r"(\d+(?:\+\d+)*) bytes (stack frame|spill stores|spill loads|smem|lmem|gmem|"
                   r"cmem\[\d+\]|cumulative stack size)")
_SIZE_FIELDS = {  # ptxas's words -> PtxasInfo field; cmem banks add up
    "stack frame": "stack_frame_bytes", "spill stores": "spill_stores_bytes",
    "spill loads": "spill_loads_bytes", "smem": "shared_memory_bytes",
    "lmem": "local_memory_bytes", "gmem": "global_memory_bytes", "cmem": "constant_memory_bytes",
    "cumulative stack size": "cumulative_stack_bytes",
}


@dataclass(frozen=True, slots=True)
class PtxasInfo:
    """ptxas's figures for one function (for the module's own lines, name is empty)."""

    name: str
    entry: bool = False
    arch: str | None = None
    registers: int | None = None
    barriers: int | None = None
    stack_frame_bytes: int = 0
    spill_stores_bytes: int = 0
    spill_loads_bytes: int = 0
    shared_memory_bytes: int = 0
    local_memory_bytes: int = 0
    constant_memory_bytes: int = 0
    global_memory_bytes: int = 0
    cumulative_stack_bytes: int = 0

    @property
    def spills(self) -> bool:
        return self.spill_stores_bytes > 0 or self.spill_loads_bytes > 0


_NUMERIC = tuple(f for f in PtxasInfo.__dataclass_fields__ if f not in ("name", "entry", "arch"))


@dataclass(frozen=True, slots=True)
class PtxasReport:
    """Every function ptxas reported, the module's gmem/cmem lines, and ptxas's raw text."""

    functions: dict[str, PtxasInfo]
    module: PtxasInfo
    output: str = field(repr=False, default="")

    def function(self, name: str) -> PtxasInfo | None:
        return self.functions.get(name)

    def metrics(self, name: str) -> dict:
        """The kernel's figures; its constant memory includes the module's ``__constant__`` data
        (cmem[3]), which every kernel of the module can read, and gmem is the module's."""
        info = self.functions[name]
        out = {f: getattr(info, f) for f in _NUMERIC if getattr(info, f) is not None}
        out["constant_memory_bytes"] += self.module.constant_memory_bytes
        out["global_memory_bytes"] = self.module.global_memory_bytes
        return out


def _add_sizes(info: PtxasInfo, line: str) -> PtxasInfo:
    updates: dict[str, int] = {}
    for amount, what in _SIZE.findall(line):
        name = _SIZE_FIELDS["cmem" if what.startswith("cmem") else what]
        value = sum(int(part) for part in amount.split("+"))  # old ptxas: "16+0 bytes smem"
        if name == "constant_memory_bytes":
            value += updates.get(name, info.constant_memory_bytes)
        updates[name] = value
    if m := _REGISTERS.search(line):
        updates["registers"] = int(m.group(1))
    if m := _BARRIERS.search(line):
        updates["barriers"] = int(m.group(1))
    return replace(info, **updates) if updates else info


def parse_ptxas_output(text: str) -> PtxasReport:
    """Read ``ptxas -v`` (or ``nvcc -Xptxas -v``) output. Lines before the first function
    (gmem, the module's cmem) describe the module; the rest the function last named."""
    functions: dict[str, PtxasInfo] = {}
    module = PtxasInfo(name="")
    current: str | None = None
    for line in text.splitlines():
        if m := _FUNCTION.search(line):
            current = m.group(1)
            info = functions.get(current, PtxasInfo(name=current))
            functions[current] = replace(info, entry=info.entry or bool(_ENTRY.search(line)),
                                         arch=m.group(2) or info.arch)
        elif "gmem" in line or current is None:
            module = _add_sizes(module, line)
        else:
            functions[current] = _add_sizes(functions[current], line)
    return PtxasReport(functions=functions, module=module, output=text)


def run_ptxas(ptx_file: Path, arch: str, *, ptxas: Path, cubin: Path,
              source: str | None = None) -> PtxasReport:
    """Compile ``ptx_file`` for ``arch`` into ``cubin`` with ``ptxas -v`` and read its report.

    A PTX that ptxas rejects raises PtxParseError with ptxas's own messages (their line
    numbers are the file's), naming ``source`` instead of the temporary file.
    """
    gpu = sm_arch(arch)
    done = run_tool([str(ptxas), "-v", "--gpu-name", gpu, str(ptx_file), "-o", str(cubin)],
                    f"ptxas on {source or ptx_file}")
    output = (done.stdout + done.stderr).replace(str(ptx_file), source or str(ptx_file))
    if done.returncode != 0:
        errors = [ln.strip() for ln in output.splitlines() if "error" in ln or "fatal" in ln]
        raise PtxParseError(
            f"ptxas ({ptxas}) could not compile {source or ptx_file} for {gpu}: "
            f"{'; '.join(errors) or output.strip()[-2000:]}. Fix the PTX, or set the kernel's "
            "arch in gpuemu.toml to one this ptxas supports")
    return parse_ptxas_output(output)
