"""Fuzz settings and op schemas: one model for gpuemu.toml and for a request's fuzz_config.

``FuzzSettings`` is the model of an op's ``[ops.fuzz]`` table: a frozen msgspec Struct whose
annotations carry every constraint (bounds, non-empty, unique, the allowed names).
``read_fuzz`` is the one validator, derived from those annotations; it reads the TOML table
(errors are ConfigErrors naming file and key) and a request's overrides (InvalidRequest
naming ``fuzz_config.KEY``) alike. ``FuzzConfigPayload`` is the wire form: the same keys,
all optional (None keeps the op's), plus the wire-only ``op_schema``, ``shape_options`` and
``edge_cases``. ``OpSchemaPayload`` and ``read_schema`` do the same for op schemas, in our
table form (``dims = {M = [1, 7]}``) or the original's lists (``dims = [{name, candidates}]``).
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta

from .. import config_schema as cs
from ..config_schema import Where
from ..dtypes import DType

LAYOUTS = ("contiguous", "transposed", "strided", "channels_last", "offset")
DISTRIBUTIONS = ("uniform", "normal", "tiny", "huge", "mixed_sign", "equal", "zeros", "boundary",
                 "nan_injected", "scaled", "large", "constant_rows", "ties")
Layout = Literal[LAYOUTS]  # type: ignore[valid-type]
Distribution = Literal[DISTRIBUTIONS]  # type: ignore[valid-type]

_UNIQUE = {"unique": True}
Sizes = Annotated[tuple[Annotated[int, Meta(ge=1)], ...], Meta(min_length=1)]
Seed = Annotated[int, Meta(ge=0, le=(1 << 64) - 1)]


class FuzzSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How an op's cases are drawn ([ops.fuzz]); what a table leaves unset is the default."""

    iterations: Annotated[int, Meta(ge=1, description="cases per fuzz run")] = 100
    seed: Annotated[Seed | None, Meta(description="root seed of a run; unset: a fresh one each run")] = None
    dtypes: Annotated[tuple[DType, ...], Meta(extra=_UNIQUE, description=(
        "dtypes the cases draw from; empty: the op's dtypes"))] = ()
    layouts: Annotated[tuple[Layout, ...], Meta(min_length=1, extra=_UNIQUE, description=(
        "memory layouts the cases draw from"))] = ("contiguous",)
    distributions: Annotated[tuple[Distribution, ...], Meta(min_length=1, extra=_UNIQUE, description=(
        "value distributions the cases draw from"))] = ("uniform",)
    value_range: Annotated[tuple[float, float], Meta(extra={"interval": True}, description=(
        "[low, high] of uniform values (low < high)"))] = (-10.0, 10.0)
    batch_sizes: Annotated[Sizes, Meta(description="first dim of a schema-less shape")] = (1, 2, 4, 8)
    seq_lengths: Annotated[Sizes, Meta(description="second dim of a schema-less shape")] = (1, 16, 64, 128)
    hidden_dims: Annotated[Sizes, Meta(description="last dim of a schema-less shape")] = (32, 64, 128)
    min_dims: Annotated[int, Meta(ge=0, description="fewest dims of a schema-less shape")] = 1
    max_dims: Annotated[int, Meta(ge=1, description="most dims of a schema-less shape")] = 4
    min_size: Annotated[int, Meta(ge=0, description="smallest dim size of a schema-less shape")] = 1
    max_size: Annotated[int, Meta(ge=1, description="largest dim size of a schema-less shape")] = 256
    edge_case_prob: Annotated[float, Meta(ge=0.0, le=1.0, description=(
        "probability that a schema-less case takes a built-in edge shape instead"))] = 0.1
    fail_fast: Annotated[bool, Meta(description="stop a run at its first failure")] = False


ORDERED_PAIRS = (("min_dims", "max_dims"), ("min_size", "max_size"))
WIRE_ONLY = ("op_schema", "shape_options", "edge_cases")
"""Overlay keys that are no settings: a request's schema override and the original's extras."""
NOT_ON_THE_WIRE = ("fail_fast",)
"""Settings a request gives elsewhere (FuzzOp.fail_fast), not inside fuzz_config."""


# -- the validator, derived from the annotations ---------------------------------------------


def _meta(tp: Any) -> tuple[Any, dict[str, Any]]:
    """``tp`` without Annotated/Optional wrappers, and its constraints merged."""
    found: dict[str, Any] = {}
    while True:
        if get_origin(tp) is Annotated:
            tp, *metas = get_args(tp)
            for m in metas:
                found.update({k: getattr(m, k) for k in ("ge", "le", "min_length")
                              if getattr(m, k) is not None})
                found.update(m.extra or {})
        elif get_origin(tp) in (Union, types.UnionType):
            (tp,) = [a for a in get_args(tp) if a is not type(None)]
        else:
            return tp, found


def converter(tp: Any) -> cs.Conv:
    """The config_schema converter that enforces annotation ``tp`` (with gpuemu's messages)."""
    tp, meta = _meta(tp)
    origin = get_origin(tp)
    if tp is bool:
        return cs.boolean
    if tp is int:
        return cs.integer(meta.get("ge"), meta.get("le"))
    if tp is float:
        return cs.number(meta.get("ge"), meta.get("le"))
    if tp is DType:
        return cs.dtype
    if origin is Literal:
        return cs.choice(get_args(tp), ignore_case=True)
    if origin is tuple and get_args(tp)[1:] == (Ellipsis,):
        return cs.seq(converter(get_args(tp)[0]), nonempty=meta.get("min_length", 0) > 0,
                      unique=meta.get("unique", False))
    if origin is tuple:
        pair = cs.seq(converter(get_args(tp)[0]), length=len(get_args(tp)))
        return _interval(pair) if meta.get("interval") else pair
    raise TypeError(f"no converter for {tp!r}")


def _interval(pair: cs.Conv) -> cs.Conv:
    def conv(value: Any, where: Where) -> tuple[float, float]:
        lo, hi = pair(value, where)
        if lo >= hi:
            raise where.error(f"expected [low, high] with low < high, got {[lo, hi]}")
        return lo, hi

    return cs.described(conv, "[low, high] with low < high")


FUZZ_KEYS: dict[str, cs.Conv] = {
    name: converter(tp) for name, tp in get_type_hints(FuzzSettings, include_extras=True).items()}
"""[ops.fuzz] key -> its converter; also the keys a request's fuzz_config may override."""
_READ = cs.table(FUZZ_KEYS)


def read_fuzz(raw: Any, where: Where) -> dict[str, Any]:
    """The checked values of the keys ``raw`` sets (a TOML table or a request's overrides)."""
    return _READ(raw, where)


def check_order(settings: Any, where: Where) -> None:
    """min_dims <= max_dims and min_size <= max_size, on the settings after every overlay."""
    for lo, hi in ORDERED_PAIRS:
        if getattr(settings, lo) > getattr(settings, hi):
            raise where.at(lo).error(f"{lo} = {getattr(settings, lo)} is greater than {hi} = "
                                     f"{getattr(settings, hi)}; make {lo} <= {hi}")


def settings_from_toml(raw: Any, where: Where) -> tuple[FuzzSettings, frozenset[str]]:
    """[ops.fuzz] as FuzzSettings, and the keys it set (the rest come from the default mix)."""
    settings = FuzzSettings(**read_fuzz(raw, where))
    check_order(settings, where)
    return settings, frozenset(raw)


# -- op schemas -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DimSpec:
    name: str
    candidates: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OpSchema:
    """Symbolic shapes: each input (and the output) is a tuple of dim names or literal sizes."""

    dims: tuple[DimSpec, ...]
    inputs: dict[str, tuple[str | int, ...]]
    output: tuple[str | int, ...] | None = None
    name: str | None = None
    """The original layout's schema name; messages about the schema say it."""

    @staticmethod
    def shape(refs: tuple[str | int, ...], sizes: Mapping[str, int]) -> list[int]:
        """A symbolic shape with each dim name replaced by its size in ``sizes``."""
        return [sizes[r] if isinstance(r, str) else r for r in refs]

    def sizes_of(self, shapes: Mapping[str, Sequence[int]]) -> dict[str, int] | None:
        """Each dim's size in the inputs' ``shapes``; None when they do not follow the schema
        (an input missing, another rank, a literal size or a dim's sizes disagreeing)."""
        sizes: dict[str, int] = {}
        for name, refs in self.inputs.items():
            got = shapes.get(name)
            if got is None or len(got) != len(refs):
                return None
            for ref, size in zip(refs, got):
                if (sizes.setdefault(ref, size) if isinstance(ref, str) else ref) != size:
                    return None
        return sizes


class DimEntry(msgspec.Struct, forbid_unknown_fields=True):
    """The original client's spelling of one symbolic dim: ``{"name": "M", "candidates": [...]}``."""

    name: str
    candidates: list[int]


class ShapeEntry(msgspec.Struct, forbid_unknown_fields=True):
    """The original client's spelling of an input's or the output's shape: ``{"name", "dims"}``."""

    name: str
    dims: list[str | int]


class OpSchemaPayload(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """An op schema on the wire: ``dims={"M": [1, 7]}, inputs={"a": ["M", "K"]}``, or the
    original client's lists (seed 002) ``{"name", "dims": [{"name", "candidates"}], "inputs":
    [{"name", "dims"}], "output": {"name", "dims"}}``. ``read_schema`` reads either form."""

    dims: dict[str, list[int]] | list[DimEntry] = {}
    inputs: dict[str, list[str | int]] | list[ShapeEntry] = {}
    output: list[str | int] | ShapeEntry | None = None
    name: str | None = None


def _dim_ref(value: Any, where: Where) -> str | int:
    """A schema shape entry: a dim name, or a literal size."""
    if (type(value) is int and value >= 0) or (isinstance(value, str) and value.strip() == value != ""):
        return value
    where.expected(value, "a dim name or a literal size >= 0")


_CANDIDATES = cs.seq(cs.integer(0), nonempty=True)
_SHAPE = cs.seq(cs.described(_dim_ref, "dim name or size"))


def _named(part: str, conv: cs.Conv) -> cs.Conv:
    """``{NAME = VALUE}`` (ours) or ``[{name = NAME, PART = VALUE}]`` (the original's) as a dict."""
    entry = cs.table({"name": cs.name, part: conv}, required=("name", part))

    def read(raw: Any, where: Where) -> dict[str, Any]:
        if not isinstance(raw, (list, tuple)):
            return cs.mapping(cs.name, conv)(raw, where)
        out: dict[str, Any] = {}
        for i, item in enumerate(raw):
            got = entry(item, where.item(i))
            if got["name"] in out:
                raise where.item(i).at("name").error(f"{got['name']!r} is listed twice; list each once")
            out[got["name"]] = got[part]
        return out

    return cs.described(read, f"table of name = {cs.what(conv)}, or array of {{ name, {part} }}")


def _output(raw: Any, where: Where) -> tuple[str | int, ...]:
    """``["M", "N"]`` (ours) or ``{name = "out", dims = ["M", "N"]}`` (the original's; the name is
    informational: an op has one output)."""
    if isinstance(raw, Mapping):
        return cs.table({"name": cs.name, "dims": _SHAPE}, required=("dims",))(raw, where)["dims"]
    return _SHAPE(raw, where)


cs.described(_output, "array of dim names or sizes, or { name, dims }")
SCHEMA_KEYS: dict[str, cs.Conv] = {
    "dims": _named("candidates", _CANDIDATES), "inputs": _named("dims", _SHAPE),
    "output": _output, "name": cs.name}
"""[ops.schema] key -> its converter; also the keys of a request's op_schema."""
_SCHEMA = cs.table(SCHEMA_KEYS)


def read_schema(raw: Any, where: Where, *, dims_at: str, input_names: tuple[str, ...] = (),
                names_label: str = "the op's inputs are", base: OpSchema | None = None,
                max_elements: int | None = None) -> OpSchema:
    """An op schema from ``raw`` (either layout), over ``base`` when given: ``dims`` replace
    its candidates (or add dims), ``inputs``/``output`` replace its own. Every dim a shape
    names must be declared; with ``input_names`` the inputs must be exactly those (in that
    order); ``max_elements`` caps the largest case of each input (requests only)."""
    if isinstance(raw, msgspec.Struct):
        raw = msgspec.to_builtins(raw)
    read = _SCHEMA(raw, where)
    if base is None and "inputs" not in read:
        what = "this op has no [ops.schema], so an override" if where.wire else "a schema"
        raise where.error(f"missing required key 'inputs'; {what} must give every input's shape, "
                          'e.g. inputs = {a = ["M", "K"]} with dims = {M = [1, 7], K = [16]}')
    dims = {**({d.name: d.candidates for d in base.dims} if base else {}), **read.get("dims", {})}
    inputs = read["inputs"] if "inputs" in read else dict(base.inputs)  # type: ignore[union-attr]
    output = read["output"] if "output" in read else (base.output if base else None)
    shapes = [(where.at("inputs").at(n), s) for n, s in inputs.items()]
    for at, shape in shapes + ([(where.at("output"), output)] if output is not None else []):
        for i, ref in enumerate(shape):
            if isinstance(ref, str) and ref not in dims:
                raise at.item(i).error(
                    f"dim {ref!r} is not declared{cs.suggest(ref, dims)}; declare it in {dims_at} "
                    f"(declared: {', '.join(dims) or 'none'}) or use a literal size")
    if max_elements is not None:
        for at, shape in shapes:
            largest = math.prod(max(dims[r]) if isinstance(r, str) else r for r in shape)
            if largest > max_elements:
                raise at.error(f"its largest case has {largest} elements, more than the {max_elements} a "
                               "fuzz case may have; use smaller dims (bugs show up at small sizes, and "
                               "the minimizer would shrink them anyway)")
    if input_names and set(inputs) != set(input_names):
        raise where.at("inputs").error(
            f"names the inputs {sorted(inputs)}, but {names_label} {list(input_names)}; "
            "give every input a shape, and no others")
    order = input_names or tuple(inputs)
    return OpSchema(dims=tuple(DimSpec(n, tuple(c)) for n, c in dims.items()),
                    inputs={n: tuple(inputs[n]) for n in order}, output=output,
                    name=read.get("name", base.name if base else None))


# -- the wire form ----------------------------------------------------------------------------


class ShapeOptions(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """The original client's shape settings (seed 002); the same as FuzzConfigPayload's own
    ``batch_sizes``/``seq_lengths``/``hidden_dims``, plus ``edge_cases``: the shapes drawn
    instead of gpuemu's built-in edge shapes."""

    batch_sizes: list[int] | None = None
    seq_lengths: list[int] | None = None
    hidden_dims: list[int] | None = None
    edge_cases: list[list[int]] | None = None


class FuzzConfigPayload(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """A request's ``fuzz_config``: FuzzSettings as an all-optional overlay (None keeps the
    op's value; ``read_fuzz`` checks what is set), plus the wire-only keys (WIRE_ONLY).
    The types are loose on purpose: the decoder only rejects a mistyped value, the one
    validator says what a value must be."""

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

    def overrides(self) -> dict[str, Any]:
        """The settings this overlay sets (shape_options' sizes where ours are unset)."""
        opts = self.shape_options
        given = {k: getattr(self, k) for k in FUZZ_KEYS if getattr(self, k, None) is not None}
        if opts is not None:
            given = {**{k: getattr(opts, k) for k in ("batch_sizes", "seq_lengths", "hidden_dims")
                        if getattr(opts, k) is not None}, **given}
        return given

    def edge_shapes(self) -> list[list[int]] | None:
        """``edge_cases``, ours or shape_options' (ours win)."""
        if self.edge_cases is not None or self.shape_options is None:
            return self.edge_cases
        return self.shape_options.edge_cases
