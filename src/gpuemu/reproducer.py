"""Portable reproducers: one failing case as a JSON file that another machine, or a later
gpuemu, replays with no daemon and no database.

``gpuemu reproduce --seed S --reproducer FILE`` writes one; ``gpuemu reproduce --from FILE``
replays it against the op script and reference of the project at hand (so a fix can be
checked on the case). The file names the case (op, seed, shapes, strides, dtypes, layout,
value distribution, kwargs) and carries what rebuilds its inputs: the case spec, which
regenerates them bit for bit, with a digest per input that proves it did; and the inputs
themselves (base64, strides and storage offset kept) when they cannot be regenerated (a
client sent them), when asked, or when they are small (``INLINE_BYTES``), so that a
later change to the generator does not strand the file. A client's output travels too
when the op did not run in the daemon.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from .dtypes import DType
from .errors import InvalidRequest
from .tensor import TensorData, from_numpy, to_numpy

SCHEMA = "gpuemu.reproducer/1"
"""The format tag; a reader refuses tags it does not know rather than guess."""

INLINE_BYTES = 1 << 20
"""Inputs up to this many bytes in all are embedded even when they can be regenerated."""


class Reproducer(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One case, portable. ``spec`` (the fields of fuzz.cases.CaseSpec) is None for inputs
    that cannot be regenerated, which are then always in ``inputs``."""

    schema: str  # always written: omit_defaults would drop a default
    gpuemu_version: str
    op_name: str
    seed: int
    shapes: dict[str, list[int]]
    strides: dict[str, list[int]]
    dtypes: dict[str, str]
    digests: dict[str, str]
    kwargs: dict[str, Any] = {}
    layout: str | None = None
    distribution: str | None = None
    value_range: tuple[float, float] | None = None
    spec: dict[str, Any] | None = None
    inputs: dict[str, TensorData] = {}
    output: TensorData | None = None
    failure_kinds: list[str] = []
    replay: str = ""
    """The command that replays the file (set by whoever names the file)."""


def digest(x: np.ndarray) -> str:
    """Of an input's dtype, shape and values in C order (not its layout)."""
    h = hashlib.blake2b(f"{x.dtype.str}{x.shape}".encode(), digest_size=16)
    h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


def make_reproducer(op_name: str, seed: int, inputs: dict[str, np.ndarray], kwargs: dict, *,
                    spec: msgspec.Struct | None = None, output: np.ndarray | None = None,
                    failure_kinds: Sequence[str] = (), embed: bool = False) -> Reproducer:
    """``spec`` (a CaseSpec) regenerates ``inputs``; ``embed`` keeps the inputs in the file
    whatever their size."""
    from . import __version__

    keep = embed or spec is None or sum(x.nbytes for x in inputs.values()) <= INLINE_BYTES
    built = spec and msgspec.to_builtins(spec)
    return Reproducer(
        schema=SCHEMA, gpuemu_version=__version__, op_name=op_name, seed=seed, kwargs=dict(kwargs),
        shapes={k: list(x.shape) for k, x in inputs.items()},
        strides={k: [s // x.itemsize for s in x.strides] for k, x in inputs.items()},
        dtypes={k: DType.from_numpy(x.dtype).value for k, x in inputs.items()},
        digests={k: digest(x) for k, x in inputs.items()},
        layout=built and built["layout"], distribution=built and built["distribution"],
        value_range=built and tuple(built.get("value_range", (-10.0, 10.0))), spec=built,
        inputs={k: from_numpy(x, keep_offset=True) for k, x in inputs.items()} if keep else {},
        output=None if output is None else from_numpy(output), failure_kinds=list(failure_kinds))


def encode_reproducer(rep: Reproducer) -> bytes:
    return msgspec.json.format(msgspec.json.encode(rep), indent=1) + b"\n"


def load_reproducer(path: str | Path) -> Reproducer:
    """Read and check a reproducer file; errors name the file and what is wrong with it."""
    path = Path(path)
    try:
        raw = msgspec.json.decode(path.read_bytes())
    except (OSError, msgspec.DecodeError) as exc:
        raise InvalidRequest(f"{path}: cannot read it as a JSON reproducer: {exc}") from None
    tag = raw.get("schema") if isinstance(raw, dict) else None
    if tag != SCHEMA:
        raise InvalidRequest(f"{path}: schema {tag!r} is not {SCHEMA!r}, the format this gpuemu"
                             " reads; write the reproducer again with this version, or replay it"
                             " with the gpuemu that wrote it", field="schema")
    try:
        return msgspec.convert(raw, Reproducer)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"{path}: not a valid reproducer: {exc}") from None


def reproducer_inputs(rep: Reproducer, where: str = "reproducer") -> dict[str, np.ndarray]:
    """The case's inputs, embedded or regenerated; regenerated ones must match the digests."""
    if rep.inputs:
        inputs = {k: to_numpy(td, f"{where}: inputs.{k}") for k, td in rep.inputs.items()}
    elif rep.spec is not None:
        from .fuzz.cases import CaseSpec, materialize

        inputs = materialize(msgspec.convert(rep.spec, CaseSpec))
    else:
        raise InvalidRequest(f"{where}: it has neither inputs nor a spec to regenerate them from")
    for name, x in inputs.items():
        if digest(x) != rep.digests.get(name):
            raise InvalidRequest(
                f"{where}: input {name!r} does not match the digest the reproducer recorded"
                f" (written by gpuemu {rep.gpuemu_version}): this gpuemu generates other values"
                " from its spec, or the file was edited. Write it again with --embed-inputs to"
                " carry the inputs themselves", field=f"inputs.{name}")
    return inputs
