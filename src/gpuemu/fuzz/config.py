"""FuzzConfig: everything case generation needs, from an op's config plus request overrides.

A case is a pure function of (case seed, FuzzConfig), so this value is what the CLI,
the daemon and the Python client must agree on. It is built per request: construction
does no I/O and no validation beyond what ``with_overrides`` needs to name a bad field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .. import config_schema as cs
from ..config_schema import Where
from ..dtypes import DType
from ..errors import InvalidRequest
from .settings import (FUZZ_KEYS, NOT_ON_THE_WIRE, FuzzConfigPayload, FuzzSettings, OpSchema,
                       check_order, read_fuzz, read_schema)
from .strategies import AXES, AXIS_KEYS, MIX_DISTRIBUTIONS, MIX_LAYOUTS

if TYPE_CHECKING:
    from ..config import OpConfig

_DEFAULTS = FuzzSettings()
_KNOBS = tuple(k for a in AXES for k in AXIS_KEYS[a] if k != "op_schema")
_CARRIED = tuple(k for k in FUZZ_KEYS if k not in ("dtypes", *NOT_ON_THE_WIRE))
"""The settings a FuzzConfig takes over as they are (a run's fail_fast is the request's)."""


MAX_CASE_ELEMENTS = 1 << 24
"""Elements one input of a fuzz case may have (64 MiB of float32): a request's op_schema
cannot make the daemon allocate more."""

@dataclass(frozen=True, slots=True)
class FuzzConfig:
    """How cases are drawn; see ``gpuemu.fuzz.cases`` for the derivation.

    ``seed`` is the root seed of a run (None: a fuzzer picks one with
    ``rng.generate_seed()`` and reports it). Without a ``schema`` every input gets the
    same shape from batch_sizes x seq_lengths x hidden_dims (or an edge case with
    probability ``edge_case_prob``), adjusted to min/max_dims and min/max_size; with
    one, each symbolic dim draws from its candidates and the limits do not apply.
    """

    seed: int | None = None
    iterations: int = _DEFAULTS.iterations
    dtypes: tuple[DType, ...] = (DType.Float32,)
    layouts: tuple[str, ...] = _DEFAULTS.layouts
    distributions: tuple[str, ...] = _DEFAULTS.distributions
    value_range: tuple[float, float] = _DEFAULTS.value_range
    batch_sizes: tuple[int, ...] = _DEFAULTS.batch_sizes
    seq_lengths: tuple[int, ...] = _DEFAULTS.seq_lengths
    hidden_dims: tuple[int, ...] = _DEFAULTS.hidden_dims
    min_dims: int = _DEFAULTS.min_dims
    max_dims: int = _DEFAULTS.max_dims
    min_size: int = _DEFAULTS.min_size
    max_size: int = 1024  # seed 002's FuzzConfig; an op's [ops.fuzz] defaults to 256
    edge_case_prob: float = _DEFAULTS.edge_case_prob
    edge_cases: tuple[tuple[int, ...], ...] | None = None
    """The shapes an edge-case draw picks from; None: gpuemu's EDGE_SHAPES (fuzz.cases)."""
    input_names: tuple[str, ...] = ("x",)
    schema: OpSchema | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    mix: frozenset[str] = frozenset()
    """The axes (strategies.AXES) drawn from the default strategy mix instead of the
    original's knobs above: ``from_op`` sets those the op's [ops.fuzz] table leaves unset;
    empty (the default here) draws exactly as the original fuzzer."""

    @property
    def layout_pool(self) -> tuple[str, ...]:
        """The layouts a case draws from: ``layouts``, or the mix's less those no schema
        shape can have (channels_last needs 3-D or 4-D inputs, transposed 2-D or more)."""
        if "layouts" not in self.mix:
            return self.layouts
        ranks = {len(s) for s in self.schema.inputs.values()} if self.schema else {1, 2, 3, 4}
        unreachable = {"channels_last"} if not ranks & {3, 4} else set()
        unreachable |= {"transposed"} if max(ranks, default=0) < 2 else set()
        return tuple(name for name in MIX_LAYOUTS if name not in unreachable)

    @property
    def distribution_pool(self) -> tuple[str, ...]:
        """The value distributions a case draws from: the mix's, or ``distributions``."""
        return MIX_DISTRIBUTIONS if "values" in self.mix else self.distributions

    @property
    def mixed_shapes(self) -> bool:
        """Whether shapes come from the mix's size classes (never with a schema)."""
        return "shapes" in self.mix and self.schema is None

    def keep_out_hint(self) -> str:
        """How to keep a kind of shape out of this config's cases: a hint that is true for
        the op at hand (edge_case_prob does nothing with a schema or the default mix)."""
        if self.schema is not None:
            return "leave such sizes out of the dims' candidates in the op's [ops.schema]"
        if self.mixed_shapes:
            return ("give the op its sizes in [ops.fuzz] (batch_sizes, seq_lengths, hidden_dims"
                    " with edge_case_prob = 0) or an [ops.schema]: the default mix draws empty"
                    " and size-1 dims on purpose")
        return "set edge_case_prob = 0 in the op's [ops.fuzz]"

    def __post_init__(self) -> None:
        # Strings are the natural spelling for callers; the derivation needs DType members.
        if not all(type(d) is DType for d in self.dtypes):
            object.__setattr__(self, "dtypes", tuple(
                DType.parse(d, f"dtypes[{i}]") for i, d in enumerate(self.dtypes)))
        if self.schema is not None and set(self.schema.inputs) != set(self.input_names):
            raise InvalidRequest(
                f"schema.inputs names {sorted(self.schema.inputs)} but input_names is "
                f"{list(self.input_names)}; give every input a schema shape, and no others",
                "schema.inputs")

    @classmethod
    def from_op(cls, op: OpConfig) -> FuzzConfig:
        """The op's ``[ops.fuzz]`` settings; empty fuzz dtypes mean the op's dtypes; the
        axes whose knobs the table leaves unset come from the default mix."""
        f = op.fuzz
        explicit = op.fuzz_keys | {k for k in _KNOBS if getattr(f, k) != getattr(_DEFAULTS, k)}
        return cls(
            **{k: getattr(f, k) for k in _CARRIED}, dtypes=f.dtypes or op.dtypes,
            mix=frozenset(a for a in AXES if not explicit & set(AXIS_KEYS[a])),
            input_names=op.case_inputs, schema=op.schema, kwargs=op.kwargs)

    def with_overrides(self, payload: FuzzConfigPayload | None) -> FuzzConfig:
        """This config with a request's ``fuzz_config`` applied; None fields keep ours.

        The same validator as [ops.fuzz] (``settings.read_fuzz``) checks every value;
        errors are InvalidRequest naming the field (``fuzz_config.layouts[1]``) and the
        valid values, so a client can fix the request without reading our source.
        """
        if payload is None:
            return self
        given = payload.overrides()
        changes = read_fuzz(given, _WIRE)
        if changes.get("dtypes") == ():  # as in [ops.fuzz]: empty means the op's dtypes
            del changes["dtypes"]
        edge_shapes = payload.edge_shapes()
        if edge_shapes is not None:
            changes["edge_cases"] = _edge_shapes(edge_shapes)
        if payload.op_schema is not None:
            changes["schema"] = read_schema(
                payload.op_schema, _WIRE.at("op_schema"), dims_at="fuzz_config.op_schema.dims",
                input_names=self.input_names, base=self.schema, max_elements=MAX_CASE_ELEMENTS)
            changes["input_names"] = tuple(changes["schema"].inputs)
        overridden = set(given) | ({"op_schema"} if payload.op_schema is not None else set())
        changes["mix"] = frozenset(a for a in self.mix if not overridden & set(AXIS_KEYS[a]))
        merged = replace(self, **changes)
        check_order(merged, _WIRE)
        return merged


_WIRE = Where.of_request("fuzz_config")


def _edge_shapes(shapes: list[list[int]]) -> tuple[tuple[int, ...], ...]:
    """The original's ``edge_cases``: up to 8 sizes each, none larger than a fuzz case may be."""
    at = _WIRE.at("shape_options").at("edge_cases")
    read = cs.seq(cs.seq(cs.integer(0)), nonempty=True)(shapes, at)
    for i, shape in enumerate(read):
        if len(shape) > 8 or math.prod(shape) > MAX_CASE_ELEMENTS:
            raise at.item(i).error(f"shape {list(shape)} has more than 8 dims or more than the "
                                   f"{MAX_CASE_ELEMENTS} elements a fuzz case may have; use a smaller one")
    return read


def check_choice(value: Any, field: str, valid: tuple[str, ...], kind: str) -> str:
    """``value`` if it is one of ``valid``; else InvalidRequest naming ``field`` and listing them."""
    if value not in valid:
        raise InvalidRequest(f"{field}: unknown {kind} {value!r}; expected one of {', '.join(valid)}", field)
    return value


