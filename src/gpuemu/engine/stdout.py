"""A one-shot or forked script's result, read from its stdout: the JSON the seeds' scripts
print (gpuemu.script.write_output writes it too)."""

from __future__ import annotations

import msgspec

from ..script import SINGLE_OUTPUT
from ..tensor import TensorData

SHAPES = ('print a TensorData, {"output": TensorData} or {"outputs": {name: TensorData}}'
          " (gpuemu.script.write_output does)")


class BadOutput(Exception):
    """A one-shot script's stdout holds no readable result; the message says why."""


class _Envelope(msgspec.Struct):
    """The two wrapped shapes of a script's stdout; a bare TensorData has neither key."""

    outputs: dict[str, msgspec.Raw] | None = None
    output: msgspec.Raw = msgspec.Raw()


def parse_stdout(raw: bytes) -> dict[str, TensorData]:
    """A one-shot script's outputs from its stdout.

    The JSON may be all of stdout or, when the script printed other text first, its
    last line: ``{"outputs": {name: TensorData}}``, ``{"output": TensorData}`` or a
    bare TensorData (both named ``"output"``).
    """
    text = raw.strip()
    if not text:
        raise BadOutput("wrote nothing to stdout; print the result as JSON (gpuemu.script.main)")
    for candidate in (text, text.rsplit(b"\n", 1)[-1]):
        try:
            envelope = msgspec.json.decode(candidate, type=_Envelope)
        except msgspec.ValidationError as exc:
            raise BadOutput(f"wrote JSON of the wrong shape: {exc}; {SHAPES}") from None
        except msgspec.DecodeError:
            continue
        if envelope.outputs is not None:
            return {name: _tensor(value, f"outputs.{name}")
                    for name, value in envelope.outputs.items()}
        if envelope.output:
            return {SINGLE_OUTPUT: _tensor(envelope.output, "output")}
        return {SINGLE_OUTPUT: _tensor(candidate, "its JSON")}
    shown = text[:200].decode(errors="replace")
    raise BadOutput(
        f"wrote output that gpuemu cannot read: stdout is not JSON: {shown!r}; print the"
        " result as one JSON object on the last line of stdout (gpuemu.script.write_output)"
    )


def _tensor(raw: bytes | msgspec.Raw, where: str) -> TensorData:
    try:
        return msgspec.json.decode(raw, type=TensorData)
    except msgspec.DecodeError as exc:
        raise BadOutput(f"wrote a bad TensorData in {where}: {exc}; {SHAPES}") from None
