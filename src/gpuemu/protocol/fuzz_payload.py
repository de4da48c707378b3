"""The fuzz settings a request may carry: overrides of the op's ``[ops.fuzz]`` table.

(Issue 19: r3-config unifies these with FuzzSettings/FuzzConfig in gpuemu.fuzz.config; this
module then imports them from there.)
"""

from __future__ import annotations

import msgspec


class DimEntry(msgspec.Struct, forbid_unknown_fields=True):
    """The original client's spelling of one symbolic dim: ``{"name": "M", "candidates": [...]}``."""

    name: str
    candidates: list[int]


class ShapeEntry(msgspec.Struct, forbid_unknown_fields=True):
    """The original client's spelling of an input's or the output's shape: ``{"name", "dims"}``."""

    name: str
    dims: list[str | int]


class OpSchemaPayload(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Symbolic dims shared between inputs: ``dims={"M": [1, 7]}, inputs={"a": ["M", "K"]}``.

    The original client's list form is accepted too (seed 002): ``{"name", "dims": [{"name",
    "candidates"}], "inputs": [{"name", "dims"}], "output": {"name", "dims"}}``; the
    ``by_name`` accessors give either form as the mappings above."""

    dims: dict[str, list[int]] | list[DimEntry] = {}
    inputs: dict[str, list[str | int]] | list[ShapeEntry] = {}
    output: list[str | int] | ShapeEntry | None = None
    name: str | None = None

    def dims_by_name(self) -> dict[str, list[int]]:
        return self.dims if isinstance(self.dims, dict) else {d.name: d.candidates for d in self.dims}

    def inputs_by_name(self) -> dict[str, list[str | int]]:
        return (self.inputs if isinstance(self.inputs, dict)
                else {i.name: i.dims for i in self.inputs})

    def output_dims(self) -> list[str | int] | None:
        return self.output.dims if isinstance(self.output, ShapeEntry) else self.output


class ShapeOptions(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """The original client's shape settings (seed 002); the same as FuzzConfigPayload's own
    ``batch_sizes``/``seq_lengths``/``hidden_dims``, plus ``edge_cases``: the shapes drawn
    instead of gpuemu's built-in edge shapes."""

    batch_sizes: list[int] | None = None
    seq_lengths: list[int] | None = None
    hidden_dims: list[int] | None = None
    edge_cases: list[list[int]] | None = None


class FuzzConfigPayload(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Per-request overrides of the op's ``[ops.fuzz]`` settings; None keeps the config's."""

    seed: int | None = None
    iterations: int | None = None
    dtypes: list[str] | None = None
    layouts: list[str] | None = None
    distributions: list[str] | None = None
    value_range: tuple[float, float] | None = None
    batch_sizes: list[int] | None = None
    seq_lengths: list[int] | None = None
    hidden_dims: list[int] | None = None
    min_dims: int | None = None
    max_dims: int | None = None
    min_size: int | None = None
    max_size: int | None = None
    edge_case_prob: float | None = None
    op_schema: OpSchemaPayload | None = None
    shape_options: ShapeOptions | None = None
    edge_cases: list[list[int]] | None = None
