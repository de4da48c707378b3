"""``validate_op`` in every form the seeds show, and the ``fuzz_op``/``reproduce`` wrappers
seed 001 lists beside it.

As a context manager, it validates the output set in the block when the block ends::

    from gpuemu.validation import validate_op          # seed 002: a default Client
    with validate_op("softmax", inputs={"logits": x}) as ctx:
        ctx.set_output(my_softmax(x))
    assert ctx.result.passed

    from gpuemu.validate import validate_op            # seed 004: your Client
    with validate_op(client, "my_relu", inputs={"x": x}) as ctx:
        ctx["output"] = np.maximum(x, 0)

A failing output raises ValidationError (an AssertionError) with the seed and the replay
command when the block ends; ``check=False`` only records it in ``ctx.result``. Given the
output as well (seed 001: "accepts an op name, input tensors, and the computed output"),
it validates at once and returns the ValidationResult.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .client import Client, ClientError, ValidationError
from .engine.fuzz_results import FuzzResults
from .validate.result import ValidationResult

__all__ = ["ValidationContext", "ValidationError", "fuzz_op", "reproduce", "validate_op"]

_UNSET: Any = object()


class ValidationContext(dict):
    """What ``validate_op`` yields: ``ctx["inputs"]``; set the output with
    ``ctx.set_output(out)`` or ``ctx["output"] = out``; read ``ctx.result`` afterwards."""

    result: ValidationResult | None = None

    def set_output(self, output: Any) -> None:
        self["output"] = output


def validate_op(*args: Any, inputs: Mapping[str, Any] | None = None, output: Any = _UNSET,
                kwargs: Mapping[str, Any] | None = None, check: bool = True,
                **options: Any) -> Any:
    """``validate_op([client,] op_name, inputs[, output[, kwargs]])``.

    Without a client, one ``Client(**options)`` (the default socket) serves the call.
    Without ``output``: a context manager yielding a ValidationContext. With it: the
    ValidationResult, at once. ``kwargs`` go to the reference script.
    """
    client, rest = (args[0], list(args[1:])) if args and not isinstance(args[0], str) else (
        None, list(args))
    if client is not None and options:
        raise TypeError(f"validate_op: {sorted(options)} configure a new Client; with a client "
                        "given there is none to configure")
    if not rest or len(rest) > 4:
        raise TypeError('validate_op([client,] "op_name", inputs[, output[, kwargs]])')
    op_name = rest.pop(0)
    given = dict(zip(("inputs", "output", "kwargs"), rest))
    for name, value in (("inputs", inputs), ("output", output), ("kwargs", kwargs)):
        if name in given and value not in (None, _UNSET):
            raise TypeError(f"validate_op({op_name!r}): {name} given twice")
    inputs, output, kwargs = (given.get("inputs", inputs), given.get("output", output),
                              given.get("kwargs", kwargs))
    if inputs is None:
        raise TypeError(f'validate_op({op_name!r}) needs the op\'s inputs: inputs={{"x": x}}')
    owned = client is None
    client = Client(**options) if owned else client
    if output is _UNSET:
        return _validating(client, owned, op_name, inputs, kwargs, check)
    try:
        return client.validate_op(op_name, inputs, output, kwargs=kwargs)
    finally:
        if owned:
            client.close()


@contextmanager
def _validating(client: Client, owned: bool, op_name: str, inputs: Mapping[str, Any],
                kwargs: Mapping[str, Any] | None, check: bool) -> Iterator[ValidationContext]:
    ctx = ValidationContext(inputs=inputs)
    try:
        yield ctx
        if "output" not in ctx:
            raise ClientError(f"validate_op({op_name!r}): the block ended without setting the "
                              "op's output: ctx.set_output(out) or ctx[\"output\"] = out")
        ctx.result = client.validate_op(op_name, inputs, ctx["output"], kwargs=kwargs)
    finally:
        if owned:
            client.close()
    if check and not ctx.result.passed:
        raise ValidationError(ctx.result)


def fuzz_op(*args: Any, **kwargs: Any) -> FuzzResults:
    """``Client.fuzz_op([client,] op_name, ...)``: without a client, a default Client's."""
    client, rest = _split(args)
    with client or Client() as c:
        return c.fuzz_op(*rest, **kwargs)


def reproduce(*args: Any, **kwargs: Any) -> Any:
    """``Client.reproduce([client,] seed, ...)``: without a client, a default Client's."""
    client, rest = _split(args)
    with client or Client() as c:
        return c.reproduce(*rest, **kwargs)


def _split(args: tuple) -> tuple[Client | None, tuple]:
    return (args[0], args[1:]) if args and isinstance(args[0], Client) else (None, args)
