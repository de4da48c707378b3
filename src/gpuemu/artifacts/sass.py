"""SASS, the machine code in a cubin: ``cuobjdump --dump-resource-usage`` (registers,
stack, shared/local/constant memory per function) and ``--dump-sass`` (the instructions).

cuobjdump is not part of every CUDA install; ``pip install nvidia-cuda-cuobjdump``
provides it (toolchain.py finds it there), and ``nvidia-cuda-nvdisasm`` the nvdisasm that
``--dump-sass`` runs. Without cuobjdump: CuobjdumpNotAvailable; without nvdisasm, the
resource usage still, but no instructions.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CuobjdumpNotAvailable, InvalidRequest
from .toolchain import Toolchain, run_tool

_RESOURCE_FUNCTION = re.compile(r"\s*Function ([\w$.]+):\s*")
_PAIR = re.compile(r"(\w+(?:\[\d+\])?):(\d+)")
_SASS_FUNCTION = re.compile(r"\s*Function : ([\w$.]+)\s*")
_INSTRUCTION = re.compile(r"\s*/\*[0-9a-f]+\*/\s+(?:@!?\w+\s+)?([A-Z][A-Z0-9_.]*)")
_RESOURCES = {  # cuobjdump's key -> metric
    "REG": "registers", "STACK": "stack_bytes", "SHARED": "shared_memory_bytes",
    "LOCAL": "local_memory_bytes",
}
GET_CUOBJDUMP = ("put the CUDA toolkit's cuobjdump on PATH, or `pip install nvidia-cuda-cuobjdump` "
                 "into gpuemu's environment")


@dataclass(frozen=True, slots=True)
class SassFunction:
    """One function of a cubin: cuobjdump's resource line and its instructions."""

    name: str
    resources: dict[str, int]
    """cuobjdump's own keys: ``REG``, ``STACK``, ``SHARED``, ``LOCAL``, ``CONSTANT[0]``, …"""
    opcodes: dict[str, int]
    """Full SASS opcodes, e.g. ``{"LDG.E.CONSTANT": 1}``."""

    def _count(self, base: str) -> int:
        return sum(n for op, n in self.opcodes.items() if op.split(".", 1)[0] == base)

    def metrics(self) -> dict:
        out = {metric: self.resources[key] for key, metric in _RESOURCES.items() if key in self.resources}
        out["constant_memory_bytes"] = sum(v for k, v in self.resources.items() if k.startswith("CONSTANT"))
        if self.opcodes:
            mix = Counter[str]()
            for op, n in self.opcodes.items():
                mix[op.split(".", 1)[0]] += n
            out |= {"instructions": sum(self.opcodes.values()), "local_loads": self._count("LDL"),
                    "local_stores": self._count("STL"), "instruction_mix": dict(mix.most_common())}
        return out


@dataclass(frozen=True, slots=True)
class SassReport:
    functions: dict[str, SassFunction]
    common: dict[str, int] = field(default_factory=dict)
    """The module's resources (``GLOBAL``, ``CONSTANT[3]`` for ``__constant__`` data)."""

    def metrics(self, name: str) -> dict:
        """A function's metrics; constant memory includes the module's, as in ptxas.py."""
        out = self.functions[name].metrics()
        out["constant_memory_bytes"] += sum(v for k, v in self.common.items() if k.startswith("CONSTANT"))
        return out


class SassParser:
    """Reads cuobjdump's text; ``parse_cubin`` runs cuobjdump on a cubin first."""

    def parse(self, resource_usage: str, sass: str = "") -> SassReport:
        resources: dict[str, dict[str, int]] = {}
        common: dict[str, int] = {}
        target = None
        for line in resource_usage.splitlines():
            if m := _RESOURCE_FUNCTION.fullmatch(line):
                target = resources.setdefault(m.group(1), {})
            elif line.strip() == "Common:":
                target = common
            elif target is not None and (pairs := _PAIR.findall(line)):
                target.update({k: int(v) for k, v in pairs})
        opcodes: dict[str, Counter[str]] = {}
        current = None
        for line in sass.splitlines():
            if m := _SASS_FUNCTION.fullmatch(line):
                current = opcodes.setdefault(m.group(1), Counter())
            elif current is not None and (m := _INSTRUCTION.match(line)):
                current[m.group(1)] += 1
        names = list(dict.fromkeys([*resources, *opcodes]))
        return SassReport(functions={n: SassFunction(n, resources.get(n, {}), dict(opcodes.get(n, {})))
                                     for n in names}, common=common)

    def parse_cubin(self, cubin: Path, tools: Toolchain | None = None) -> SassReport:
        """Run cuobjdump on ``cubin``: ``--dump-resource-usage``, and ``--dump-sass`` for the
        instructions when nvdisasm (which it runs) is installed too.

        CuobjdumpNotAvailable when ``tools`` (default: this machine's) has no cuobjdump.
        """
        tools = tools if tools is not None else Toolchain.find()
        if tools.cuobjdump is None:
            raise CuobjdumpNotAvailable(f"cuobjdump is needed to read the SASS of {cubin} but is not "
                                        f"installed; {GET_CUOBJDUMP}")
        flags = ["--dump-resource-usage"] + (["--dump-sass"] if tools.nvdisasm else [])
        env = {"NVDISASM_PATH": str(tools.nvdisasm.parent)} if tools.nvdisasm else None
        outputs = []
        for flag in flags:
            try:
                done = run_tool([str(tools.cuobjdump), flag, str(cubin)], f"cuobjdump {flag} on {cubin}",
                                env=env)
            except OSError as exc:
                raise CuobjdumpNotAvailable(f"cannot run cuobjdump at {tools.cuobjdump}: {exc}; "
                                            f"{GET_CUOBJDUMP}") from None
            if done.returncode != 0:
                raise InvalidRequest(f"cuobjdump {flag} could not read {cubin}: "
                                     f"{done.stderr.strip()[-1000:]}; pass a cubin (nvcc -cubin, ptxas -o)")
            outputs.append(done.stdout)
        return self.parse(*outputs)
