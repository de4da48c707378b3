"""Seeded fuzzing: one seed names one case (shape, dtype, layout, values) everywhere.

``FuzzConfig`` says what to draw; ``spec_for_seed``/``materialize``/``generate_case``
turn a case seed into inputs; ``SeededFuzzer`` walks the cases of a run; the
``fuzz_*`` and ``generate_random_tensor`` helpers expose single draws.

The names load on first use: ``gpuemu.config`` and ``gpuemu.protocol`` import
``gpuemu.fuzz.settings``, which must not pull in the generators (they need both).
"""

from importlib import import_module
from typing import Any

_HOMES = {
    "cases": ("EDGE_SHAPES", "OFFSET_ELEMENTS", "CaseSpec", "TestCase", "apply_layout", "case_seed",
              "generate_case", "materialize", "shapes_for_seed", "spec_for_seed"),
    "config": ("FuzzConfig",),
    "generators": ("DEFAULT_DTYPES", "SeededFuzzer", "fuzz_dtypes", "fuzz_dtypes_seeded", "fuzz_layouts",
                   "fuzz_layouts_seeded", "fuzz_shapes", "fuzz_shapes_seeded", "generate_random_tensor"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_MODULE_OF[name]}", __name__), name)
