"""Tolerances: the per-dtype defaults and the (atol, rtol) pair every check applies.

A pair passes an element when ``|actual - expected| <= atol + rtol * |expected|``.
"""

from __future__ import annotations

import msgspec

from .dtypes import DType


class ToleranceConfig(msgspec.Struct, frozen=True):
    """An absolute and a relative tolerance. Integers and bool compare exactly (0, 0)."""

    atol: float
    rtol: float

    @classmethod
    def for_dtype(cls, dtype: DType | str) -> ToleranceConfig:
        """The default for ``dtype`` (DESIGN.md: float32 1e-5, float16/bfloat16 1e-2, ...)."""
        return DEFAULT_TOLERANCES.get(DType.parse(dtype), EXACT)

    @classmethod
    def strict(cls) -> ToleranceConfig:
        return cls(atol=1e-7, rtol=1e-7)

    @classmethod
    def relaxed(cls) -> ToleranceConfig:
        return cls(atol=1e-3, rtol=1e-3)

    def scale(self, factor: float) -> ToleranceConfig:
        """Both tolerances multiplied by ``factor`` (e.g. for a longer reduction)."""
        if not factor > 0:
            raise ValueError(f"tolerance scale factor must be > 0, got {factor!r}")
        return ToleranceConfig(atol=self.atol * factor, rtol=self.rtol * factor)

    @property
    def is_exact(self) -> bool:
        return self.atol == 0 and self.rtol == 0


EXACT = ToleranceConfig(0.0, 0.0)
DEFAULT_TOLERANCES: dict[DType, ToleranceConfig] = {
    DType.Float64: ToleranceConfig(1e-10, 1e-10),
    DType.Float32: ToleranceConfig(1e-5, 1e-5),
    DType.Float16: ToleranceConfig(1e-2, 1e-2),
    DType.BFloat16: ToleranceConfig(1e-2, 1e-2),
}
