"""The float64 oracle's casts (gpuemu.oracle): float inputs of 32 bits or fewer promoted
to float64 for the reference, and its float64 output cast back to the inputs' dtype.

Kept apart from the oracle because a warm worker makes them too (``engine.worker``):
for a large tensor the daemon then never holds the float64 copies, which are twice the
tensor's size.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .dtypes import DType
from .errors import InvalidRequest

PROMOTED = frozenset({DType.Float16, DType.BFloat16, DType.Float32})


def native_dtype(inputs: Mapping[str, np.ndarray]) -> np.dtype | None:
    """The dtype the reference would compute in natively: None when no input is promoted."""
    floats = [x.dtype for x in inputs.values() if promoted(x)]
    if not floats:
        return None
    try:
        return np.result_type(*floats)
    except TypeError:  # float16 with bfloat16: no common numpy type; the wider wins
        return max(floats, key=lambda d: (d.itemsize, d.name))


def promoted(x: np.ndarray) -> bool:
    try:
        return DType.from_numpy(x.dtype) in PROMOTED
    except InvalidRequest:  # not one of ours: left alone
        return False


def cast_inputs(inputs: Mapping[str, np.ndarray], dtype) -> dict[str, np.ndarray]:
    """``inputs`` with the promoted ones cast to ``dtype`` (the others as they are)."""
    return {k: x.astype(dtype) if promoted(x) else x for k, x in inputs.items()}


def cast_outputs(result: Any, native: np.dtype | None) -> Any:
    """``cast_back`` of a script's result: one array, or each of a dict name -> array
    (``native`` None: the result as it is)."""
    if native is None:
        return result
    if isinstance(result, Mapping):
        return {name: cast_back(value, native) for name, value in result.items()}
    return cast_back(result, native)


def cast_back(raw: np.ndarray, native: np.dtype) -> np.ndarray:
    """The reference's output as the oracle's expected output: a float64 one rounded once
    to ``native``, any other as it is."""
    raw = np.asarray(raw)
    return raw.astype(native) if raw.dtype == np.float64 else raw
