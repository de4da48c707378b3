"""What the Client's seed-002 methods return, built from the daemon's replies.

Seed 002 documents ``ping() -> "pong"``, test cases as dicts of numpy arrays,
``ReproduceResult.inputs`` as arrays, ``MinimizeResult.minimized_shape`` as a tuple and
lint results as dicts, while the daemon's replies carry TensorData and per-input shapes.
These are the conversions, kept out of the Client so that it stays one method per request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec


from . import protocol
from .dtypes import DType
from .readable import Record
from .reproducer import reproducer_inputs
from .tensor import TensorData


class PingReply(str):
    """``ping()``'s answer: equal to ``"pong"`` (seed 002's reference) and also readable as
    the Pong the original client's code returns: ``reply["version"]``, ``reply.uptime_secs``,
    ``reply.protocol_version`` (and our ``jobs``, ``config_path``)."""

    pong: protocol.Pong

    def __new__(cls, pong: protocol.Pong) -> PingReply:
        reply = super().__new__(cls, "pong")
        reply.pong = pong
        return reply

    def __getattr__(self, name: str) -> Any:
        if name == "pong":  # not set yet (a copy being rebuilt): no recursion
            raise AttributeError(name)
        return getattr(self.pong, name)

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        return self.pong[key] if isinstance(key, str) else str.__getitem__(self, key)

    def keys(self) -> list[str]:
        return self.pong.keys()

    def __repr__(self) -> str:
        return (f"'pong' (gpuemu {self.pong.version}, protocol {self.pong.protocol_version},"
                f" up {self.pong.uptime_secs:.1f} s)")


class ReproduceResult(protocol.ReproduceResult, kw_only=True):
    """The daemon's ReproduceResult plus ``inputs``: the case's inputs as numpy arrays."""

    inputs: dict[str, Any] = {}


class MinimizeResult(protocol.MinimizeResult, kw_only=True):
    """The daemon's MinimizeResult with seed 002's ``minimized_shape``: the first input's
    shape as a tuple; ``minimized_shapes`` has every input's."""

    minimized_shape: Any = ()
    minimized_shapes: dict[str, list[int]] = {}


def _fields(struct: Any) -> dict[str, Any]:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}


def first_shape(shapes: Mapping[str, Sequence[int]] | Sequence[int]) -> tuple[int, ...]:
    """The first input's shape from per-input shapes (or a shape given as such)."""
    if isinstance(shapes, Mapping):
        return tuple(next(iter(shapes.values()), ()))
    return tuple(shapes)


def reproduce_result(reply: protocol.ReproduceResult) -> ReproduceResult:
    """The reply with its inputs as numpy arrays, from the reply's own ``inputs`` (seed 000)
    or else from its reproducer."""
    fields = _fields(reply)
    sent = fields.pop("inputs")
    if sent:
        inputs = {k: td.to_numpy(f"inputs.{k}") for k, td in sent.items()}
    elif reply.reproducer is not None:
        inputs = reproducer_inputs(reply.reproducer, f"the reproducer of seed {reply.seed}")
    else:
        inputs = {}
    return ReproduceResult(**fields, inputs=inputs)


def minimize_result(reply: protocol.MinimizeResult) -> MinimizeResult:
    fields = _fields(reply)
    shapes = fields.pop("minimized_shape")
    per_input = dict(shapes) if isinstance(shapes, Mapping) else {}
    return MinimizeResult(**fields, minimized_shape=first_shape(shapes), minimized_shapes=per_input)


def case_record(case: protocol.TestCase) -> Record:
    """A test case as the original client returned it: a dict with ``seed``, ``inputs``
    (numpy arrays, in the case's memory layout), ``shape`` (the first input's), ``dtype``
    (numpy's name), ``layout``; also ``op_name``, ``kwargs``, ``distribution``."""
    inputs = {k: td.to_numpy(f"inputs.{k}") for k, td in case.inputs.items()}
    first = next(iter(inputs.values()), None)
    dtype = case.dtype or (DType.from_numpy(first.dtype).value if first is not None else "")
    return Record(seed=case.seed, inputs=inputs,
                  shape=[] if first is None else list(first.shape),
                  dtype=DType.parse(dtype).short_name if dtype else "",
                  layout=case.layout or "contiguous", op_name=case.op_name, kwargs=case.kwargs,
                  distribution=case.distribution)


def lint_record(result: protocol.LintResult) -> dict[str, Any]:
    """A LintResult as the original's lint dict: kernel_name, passed, metrics, violations
    (the error and warning findings), timestamp; ``findings`` keeps all of them."""
    findings = msgspec.to_builtins(result.findings)
    return {"kernel_name": result.kernel_name, "passed": result.passed,
            "metrics": dict(result.metrics),
            "violations": [f for f in findings if f["severity"] in ("error", "warning")],
            "findings": findings, "timestamp": time.time()}


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def layout_name(name: str) -> str:
    """``"Contiguous"``/``"ChannelsLast"`` (the original's enum spelling) -> ``"channels_last"``."""
    return _CAMEL.sub("_", name).lower()


def check_output_dtype(dtype: str, output: TensorData) -> None:
    """``validate_op(dtype=...)`` names the dtype whose tolerance applies; the daemon applies
    the output's, so the two must agree."""
    want, have = DType.parse(dtype, "dtype"), DType.parse(output.dtype, "output.dtype")
    if want is not have:
        raise ValueError(f"validate_op: dtype={dtype!r} but the output is {have.short_name};"
                         " tolerances follow the output's dtype: cast the output to "
                         f"{want.short_name} or leave dtype out")


__all__ = ["MinimizeResult", "PingReply", "ReproduceResult", "case_record", "check_output_dtype",
           "first_shape", "layout_name", "lint_record", "minimize_result", "reproduce_result",
           ]
