"""Compiled-kernel inspection: PTX metrics, ptxas/cuobjdump bridges, lint policies, baselines.

    from gpuemu.artifacts import lint_ptx
    result = lint_ptx(open("saxpy.ptx").read(), config=load_config())

The PTX text is always measured; ptxas and cuobjdump add the physical numbers where
they are installed (see toolchain.py), and every metric says which source it came from.
Names are imported on first use: the protocol imports the result types (``results``),
and a client should not load the linter and the project config for them.
"""

from importlib import import_module

_EXPORTS = {
    "diff": ("ArtifactDiffer", "flatten_metrics"),
    "lint": ("LIMITS", "ArtifactLinter", "lint_ptx"),
    "measure": ("DEFAULT_ARCH", "Measurement", "kernel_config", "kernel_ptx", "measure_module",
                "measure_ptx"),
    "ptx": ("PtxFunction", "PtxModule", "PtxParser", "PtxVariable", "symbol_names"),
    "ptxas": ("PtxasInfo", "PtxasReport", "parse_ptxas_output", "run_ptxas"),
    "sass": ("SassFunction", "SassParser", "SassReport"),
    "toolchain": ("Toolchain", "find_tool"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'gpuemu.artifacts' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
