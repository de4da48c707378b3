"""Seeded fuzzing: one seed names one case (shape, dtype, layout, values) everywhere.

``FuzzConfig`` says what to draw; ``spec_for_seed``/``materialize``/``generate_case``
turn a case seed into inputs; ``SeededFuzzer`` walks the cases of a run; the
``fuzz_*`` and ``generate_random_tensor`` helpers expose single draws.
"""

from .cases import (
    EDGE_SHAPES,
    OFFSET_ELEMENTS,
    CaseSpec,
    TestCase,
    apply_layout,
    case_seed,
    generate_case,
    materialize,
    shapes_for_seed,
    spec_for_seed,
)
from .config import FuzzConfig
from .generators import (
    DEFAULT_DTYPES,
    SeededFuzzer,
    fuzz_dtypes,
    fuzz_dtypes_seeded,
    fuzz_layouts,
    fuzz_layouts_seeded,
    fuzz_shapes,
    fuzz_shapes_seeded,
    generate_random_tensor,
)

__all__ = [
    "DEFAULT_DTYPES", "EDGE_SHAPES", "OFFSET_ELEMENTS", "CaseSpec", "FuzzConfig", "SeededFuzzer",
    "TestCase", "apply_layout", "case_seed", "fuzz_dtypes", "fuzz_dtypes_seeded", "fuzz_layouts",
    "fuzz_layouts_seeded", "fuzz_shapes", "fuzz_shapes_seeded", "generate_case", "generate_random_tensor",
    "materialize", "shapes_for_seed", "spec_for_seed",
]
