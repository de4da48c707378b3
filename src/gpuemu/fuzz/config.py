"""FuzzConfig: everything case generation needs, from an op's config plus request overrides.

A case is a pure function of (case seed, FuzzConfig), so this value is what the CLI,
the daemon and the Python client must agree on. It is built per request: construction
does no I/O and no validation beyond what ``with_overrides`` needs to name a bad field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from msgspec.structs import replace as replace_struct
from functools import partial
from typing import Any

from ..config import DISTRIBUTIONS, LAYOUTS, DimSpec, FuzzSettings, OpConfig, OpSchema
from ..dtypes import DType
from ..errors import InvalidRequest
from ..protocol import FuzzConfigPayload, OpSchemaPayload
from ..rng import check_seed
from .strategies import AXES, AXIS_KEYS, MIX_DISTRIBUTIONS, MIX_LAYOUTS

_DEFAULTS = FuzzSettings()
_SIZE_LISTS = ("batch_sizes", "seq_lengths", "hidden_dims")
_INT_MINIMUMS = {"iterations": 1, "min_dims": 0, "max_dims": 1, "min_size": 0, "max_size": 1}
_KNOBS = tuple(k for a in AXES for k in AXIS_KEYS[a] if k != "op_schema")
_ORDERED_PAIRS = (("min_dims", "max_dims"), ("min_size", "max_size"))


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
        explicit = f.explicit | {k for k in _KNOBS if getattr(f, k) != getattr(_DEFAULTS, k)}
        return cls(
            mix=frozenset(a for a in AXES if not explicit & set(AXIS_KEYS[a])),
            seed=f.seed, iterations=f.iterations, dtypes=f.dtypes or op.dtypes, layouts=f.layouts,
            distributions=f.distributions, value_range=f.value_range, batch_sizes=f.batch_sizes,
            seq_lengths=f.seq_lengths, hidden_dims=f.hidden_dims, min_dims=f.min_dims,
            max_dims=f.max_dims, min_size=f.min_size, max_size=f.max_size,
            edge_case_prob=f.edge_case_prob,
            input_names=op.case_inputs, schema=op.schema, kwargs=op.kwargs)

    def with_overrides(self, payload: FuzzConfigPayload | None) -> FuzzConfig:
        """This config with a request's ``fuzz_config`` applied; None fields keep ours.

        Raises InvalidRequest naming the field (``fuzz_config.layouts[1]``) and listing
        the valid values, so a client can fix the request without reading our source.
        """
        if payload is None:
            return self
        payload = _with_shape_options(payload)
        changes: dict[str, Any] = {}
        if payload.seed is not None:
            changes["seed"] = check_seed(payload.seed, "fuzz_config.seed")
        if payload.dtypes is not None:
            changes["dtypes"] = _names(payload.dtypes, "dtypes", DType.parse)
        for key, valid in (("layouts", LAYOUTS), ("distributions", DISTRIBUTIONS)):
            if getattr(payload, key) is not None:
                convert = partial(_choice, valid=valid, kind=key[:-1])
                changes[key] = _names(getattr(payload, key), key, convert)
        for key, least in _INT_MINIMUMS.items():
            if getattr(payload, key) is not None:
                changes[key] = _int(getattr(payload, key), f"fuzz_config.{key}", least)
        for key in _SIZE_LISTS:
            if getattr(payload, key) is not None:
                changes[key] = _names(getattr(payload, key), key, partial(_int, least=1), unique=False)
        if payload.value_range is not None:
            changes["value_range"] = _value_range(payload.value_range)
        if payload.edge_cases is not None:
            changes["edge_cases"] = _names(payload.edge_cases, "shape_options.edge_cases",
                                           _edge_shape, unique=False)
        if payload.edge_case_prob is not None:
            changes["edge_case_prob"] = _probability(payload.edge_case_prob)
        if payload.op_schema is not None:
            changes["schema"] = self._schema_override(payload.op_schema)
            changes["input_names"] = tuple(changes["schema"].inputs)
        overridden = {k for k in AXIS_KEYS["shapes"] + AXIS_KEYS["values"] + AXIS_KEYS["layouts"]
                      if getattr(payload, k, None) is not None}
        changes["mix"] = frozenset(a for a in self.mix if not overridden & set(AXIS_KEYS[a]))
        merged = replace(self, **changes)
        for lo, hi in _ORDERED_PAIRS:
            if getattr(merged, lo) > getattr(merged, hi):
                raise InvalidRequest(
                    f"fuzz_config: {lo} = {getattr(merged, lo)} is greater than {hi} = "
                    f"{getattr(merged, hi)}; make {lo} <= {hi}", f"fuzz_config.{lo}")
        return merged

    def _schema_override(self, raw: OpSchemaPayload) -> OpSchema:
        """``dims`` replace candidates (or add dims); ``inputs``/``output`` replace ours when given."""
        at = "fuzz_config.op_schema"
        base = self.schema
        if base is None and not raw.inputs:
            raise InvalidRequest(
                f"{at}.inputs: this op has no [ops.schema], so an override must give every input's "
                f"shape, e.g. {{\"inputs\": {{\"a\": [\"M\", \"K\"]}}, \"dims\": {{\"M\": [1, 7]}}}}",
                f"{at}.inputs")
        dims = {d.name: d.candidates for d in base.dims} if base else {}
        for name, candidates in raw.dims_by_name().items():
            dims[name] = _names(candidates, f"op_schema.dims.{name}", partial(_int, least=0), unique=False)
        raw_inputs, raw_output = raw.inputs_by_name(), raw.output_dims()
        inputs = ({n: tuple(s) for n, s in raw_inputs.items()} if raw_inputs
                  else dict(base.inputs))  # type: ignore[union-attr]
        output = tuple(raw_output) if raw_output is not None else (base.output if base else None)
        shapes = [(f"{at}.inputs.{n}", s) for n, s in inputs.items()]
        for where, shape in shapes + ([(f"{at}.output", output)] if output is not None else []):
            for i, ref in enumerate(shape):
                if isinstance(ref, str) and ref not in dims:
                    raise InvalidRequest(
                        f"{where}[{i}]: dim {ref!r} is not declared; declare it in {at}.dims "
                        f"(declared: {', '.join(dims) or 'none'}) or use a literal size", f"{where}[{i}]")
                if isinstance(ref, int) and ref < 0:
                    raise InvalidRequest(f"{where}[{i}]: size {ref} is negative; use a size >= 0",
                                         f"{where}[{i}]")
        for where, shape in shapes:
            largest = math.prod(max(dims[r]) if isinstance(r, str) else r for r in shape)
            if largest > MAX_CASE_ELEMENTS:
                raise InvalidRequest(
                    f"{where}: its largest case has {largest} elements, more than the"
                    f" {MAX_CASE_ELEMENTS} a fuzz case may have; use smaller dims (bugs show up"
                    " at small sizes, and the minimizer would shrink them anyway)", where)
        if self.input_names and set(inputs) != set(self.input_names):
            raise InvalidRequest(
                f"{at}.inputs names {sorted(inputs)}, but the op's inputs are "
                f"{list(self.input_names)}; give every input a shape, and no others", f"{at}.inputs")
        order = self.input_names or tuple(inputs)
        return OpSchema(dims=tuple(DimSpec(n, c) for n, c in dims.items()),
                        inputs={n: inputs[n] for n in order}, output=output)


def _with_shape_options(payload: FuzzConfigPayload) -> FuzzConfigPayload:
    """The original client's ``shape_options`` (seed 002) moved to our own fields; ours win
    where a request gives both."""
    opts = payload.shape_options
    if opts is None:
        return payload
    moved = {key: getattr(opts, key) for key in (*_SIZE_LISTS, "edge_cases")
             if getattr(opts, key) is not None and getattr(payload, key) is None}
    return replace_struct(payload, shape_options=None, **moved)


def _choice(value: Any, field: str, valid: tuple[str, ...], kind: str) -> str:
    """``check_choice`` in any case: the original client sends "Contiguous", "Strided"."""
    return check_choice(value.lower() if isinstance(value, str) else value, field, valid, kind)


def _edge_shape(value: Any, at: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > 8:
        raise InvalidRequest(f"{at}: expected a shape (a list of at most 8 sizes), got {value!r}", at)
    shape = tuple(_int(v, f"{at}[{i}]", 0) for i, v in enumerate(value))
    if math.prod(shape) > MAX_CASE_ELEMENTS:
        raise InvalidRequest(f"{at}: shape {list(shape)} has more than the {MAX_CASE_ELEMENTS}"
                             " elements a fuzz case may have; use a smaller one", at)
    return shape


def _names(values: Any, key: str, convert: Any, unique: bool = True) -> tuple:
    """A non-empty list converted item by item; errors name ``fuzz_config.key[i]``."""
    at = f"fuzz_config.{key}"
    if not isinstance(values, (list, tuple)) or not values:
        raise InvalidRequest(f"{at}: expected a non-empty list, got {values!r}", at)
    out = tuple(convert(v, f"{at}[{i}]") for i, v in enumerate(values))
    if unique and len(set(out)) != len(out):
        raise InvalidRequest(f"{at}: {list(values)!r} lists a value twice; list each once", at)
    return out


def check_choice(value: Any, field: str, valid: tuple[str, ...], kind: str) -> str:
    """``value`` if it is one of ``valid``; else InvalidRequest naming ``field`` and listing them."""
    if value not in valid:
        raise InvalidRequest(f"{field}: unknown {kind} {value!r}; expected one of {', '.join(valid)}", field)
    return value


def _int(value: Any, at: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidRequest(f"{at}: expected an integer >= {least}, got {value!r}", at)
    return value


def _value_range(value: Any) -> tuple[float, float]:
    at = "fuzz_config.value_range"
    lo, hi = (float(v) for v in value)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InvalidRequest(f"{at}: expected [low, high] finite with low < high, got {list(value)}", at)
    return lo, hi


def _probability(value: Any) -> float:
    at = "fuzz_config.edge_case_prob"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidRequest(f"{at}: expected a probability in [0, 1], got {value!r}", at)
    return float(value)
