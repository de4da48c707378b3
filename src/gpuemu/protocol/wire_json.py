"""What a reply in JSON (either form) adds so that the seeds' readers understand it.

JSON is what clients other than ours speak: the original Python client (seed 002, flat
form) and readers of the IPC page (seed 000, envelope form). Their replies carry the
seeds' fields in addition to ours, without changing the structs that our own client
(msgpack), the CLI's reports and storage use:

- every ValidationResult has the nine keys of seed 000 (``seed``, ``max_diff``,
  ``max_rel_diff``, ``failures``, ``timestamp``, ``duration_ms``, ``repro_info`` ... even
  when null or empty), and its ``repro_info`` also ``shape``, ``strides``, ``dtype``,
  ``fuzz_config``, ``input_snapshot``;
- the envelope form's ValidationResult/SubmitResult payload is the result itself (seed 000)
  and also holds it under ``result`` (seeds 001/002); TestBatch also lists ``test_cases``;
- FuzzResults has ``total`` (its ``iterations``), and every list a reply of seed 000 has is
  there, even when empty;
- tensors handed out (TestCase, TestBatch) are plain (gpuemu.tensor.plain): C-order data
  and a lower-case dtype, which ``np.frombuffer(...).reshape(shape)`` reads as they are.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..dtypes import DType
from ..message import Message
from ..tensor import plain_again
from .codec import Form, encode_message
from .replies import TestBatch, TestCase

_JSON = msgspec.json.Encoder()

RESULT_DEFAULTS: dict[str, Any] = {
    "seed": 0, "max_diff": None, "max_rel_diff": None, "failures": [], "duration_ms": 0.0,
    "repro_info": None,
}
"""Seed 000's ValidationResult keys that our struct leaves out when they hold their default."""

RESULTS_AT: dict[str, tuple[str, ...]] = {
    "ValidationResult": ("result",), "SubmitResult": ("result",), "Results": ("results",),
    "FuzzResults": ("failures",), "ReproduceResult": ("result",), "MinimizeResult": ("result",),
    "CiRunComplete": ("results",),
}
"""Where each reply holds ValidationResults (one, or a list)."""

SEED_LISTS: dict[str, tuple[str, ...]] = {
    "BaselineComparison": ("regressions", "improvements", "unchanged"),
    "FuzzResults": ("failures",), "Results": ("results",), "ArtifactList": ("artifacts",),
    "ArtifactDiffs": ("diffs",), "CiRunComplete": ("results",),
    "LintResults": ("results", "warnings", "errors", "info"),
}
"""The lists each reply of seed 000 has, which our structs leave out when empty."""

FLAT_RESULT = ("ValidationResult", "SubmitResult")
"""Replies whose envelope payload is the result itself (seed 000)."""


def encode_reply(message: Message, form: Form) -> bytes:
    """``message`` in ``form``; JSON forms with the seeds' additions (module docstring)."""
    if form is Form.MSGPACK:
        return encode_message(message, form)
    fields = msgspec.to_builtins(_plain_tensors(message))
    tag = fields.pop("type")
    for key in SEED_LISTS.get(tag, ()):
        fields.setdefault(key, [])
    for key in RESULTS_AT.get(tag, ()):
        value = fields.get(key)
        for result in value if isinstance(value, list) else [value] if value else []:
            complete_result(result)
    if tag == "FuzzResults":
        fields["total"] = fields["iterations"]
    if form is Form.FLAT:
        return _JSON.encode({"type": tag, **fields})
    if tag in FLAT_RESULT:
        fields = {**fields["result"], **fields}
    if tag == "TestBatch":
        fields["test_cases"] = fields["cases"]
    return _JSON.encode({"type": tag, "payload": fields})


def complete_result(result: dict) -> dict:
    """A ValidationResult's builtins with every key of seed 000 (in place; returned)."""
    for key, default in RESULT_DEFAULTS.items():
        result.setdefault(key, list(default) if isinstance(default, list) else default)
    info = result["repro_info"]
    if isinstance(info, dict):
        first = next(iter(info.get("input_shapes", {})), None)
        dtype = info.get("input_dtypes", {}).get(first)
        info.setdefault("shape", info.get("input_shapes", {}).get(first, []))
        info.setdefault("strides", info.get("input_strides", {}).get(first, []))
        info.setdefault("dtype", DType.parse(dtype).short_name if dtype else None)
        info.setdefault("fuzz_config", None)
        info.setdefault("input_snapshot", {})
    return result


def _plain_tensors(message: Message) -> Message:
    if isinstance(message, TestCase):
        return msgspec.structs.replace(
            message, dtype=DType.parse(message.dtype).short_name if message.dtype else "",
            inputs={k: plain_again(td, f"inputs.{k}") for k, td in message.inputs.items()})
    if isinstance(message, TestBatch):
        return msgspec.structs.replace(message, cases=[_plain_tensors(c) for c in message.cases])
    return message
