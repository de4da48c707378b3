"""Helpers for reference and op scripts: read gpuemu's request, write the output.

A script reads one JSON object on stdin, ``{"inputs": {name: TensorData}, "kwargs":
{...}}``, and prints its result as the LAST line of stdout: a bare TensorData (one
output), or ``{"outputs": {name: TensorData}}``. The smallest script::

    from gpuemu.script import main

    def reference(inputs, **kwargs):
        x = inputs["x"]
        return x / x.sum(-1, keepdims=True)

    if __name__ == "__main__":
        main(reference)

Defining ``reference(inputs, **kwargs)`` (or ``run``) at top level, with the
``__main__`` guard, also lets the daemon load the script once in a warm worker and
call it many times instead of starting Python per case. Keep the top level free of
side effects: a warm worker imports the script.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import msgspec
import numpy as np

from .errors import InvalidRequest, ReferenceScriptFailed
from .tensor import TensorData, from_numpy, to_numpy

SINGLE_OUTPUT = "output"
"""The name under which a script's single (unnamed) output is returned."""


class Request(msgspec.Struct):
    """What a script receives: JSON on a one-shot run's stdin, msgpack in a warm worker."""

    inputs: dict[str, TensorData] = {}
    kwargs: dict[str, Any] = {}


def read_request(stream: BinaryIO | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read gpuemu's request from ``stream`` (stdin): the input arrays and the kwargs.

    Each array has the layout the caller sent (a transposed input stays
    non-contiguous) and is a private, writable copy.
    """
    raw = (stream or sys.stdin.buffer).read()
    try:
        request = msgspec.json.decode(raw, type=Request)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(
            f"stdin: expected gpuemu's request JSON {{\"inputs\": ..., \"kwargs\": ...}} but"
            f" {exc} (got {raw[:200]!r}); run this script through gpuemu, or pipe such a"
            " request into it",
            field="stdin",
        ) from None
    inputs = {name: to_numpy(td, f"inputs.{name}") for name, td in request.inputs.items()}
    return inputs, request.kwargs


def encode_outputs(result: Any, shared: bool = False) -> dict[str, TensorData]:
    """A script's result as named TensorData: a dict name -> array keeps its names,
    a single array is named ``"output"``. ``shared``: large ones through shared memory
    (a warm worker's reply; stdout always carries them inline)."""
    if isinstance(result, Mapping):
        if not result:
            raise ReferenceScriptFailed(
                "the script returned an empty dict; return an array or a dict name -> array"
            )
        return {_output_name(name): _encode(value, name, shared) for name, value in result.items()}
    return {SINGLE_OUTPUT: _encode(result, SINGLE_OUTPUT, shared)}


def write_output(result: Any, stream: BinaryIO | None = None) -> None:
    """Print ``result`` (an array, or a dict name -> array) as one JSON line on stdout."""
    outputs = encode_outputs(result)
    payload = {"outputs": outputs} if isinstance(result, Mapping) else outputs[SINGLE_OUTPUT]
    out = stream or sys.stdout.buffer
    out.write(msgspec.json.encode(payload) + b"\n")
    out.flush()


def main(fn: Callable[..., Any]) -> None:
    """Read the request, call ``fn(inputs, **kwargs)`` and write its result.

    Whatever ``fn`` prints goes to stderr, so that stdout carries only the result.
    """
    inputs, kwargs = read_request()
    with contextlib.redirect_stdout(sys.stderr):
        result = fn(inputs, **kwargs)
    write_output(result)


def _output_name(name: Any) -> str:
    if not isinstance(name, str):
        raise ReferenceScriptFailed(
            f"output names must be strings, got {name!r}; return a dict like {{'out': array}}"
        )
    return name


def _encode(value: Any, name: str, shared: bool = False) -> TensorData:
    if not isinstance(value, (np.ndarray, np.generic)) and not hasattr(value, "__array__"):
        raise ReferenceScriptFailed(
            f"output {name!r} is a {type(value).__name__}, not an array; return a numpy array"
            " (or a dict name -> array)"
        )
    return from_numpy(value, shared=shared)
