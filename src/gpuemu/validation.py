"""``validate_op`` as a context manager: run your op inside the block, set its output, and
the daemon validates it on exit.

Both of the seeds' forms work::

    from gpuemu.validation import validate_op          # seed 002: a default Client
    with validate_op("softmax", inputs={"logits": x}) as ctx:
        ctx.set_output(my_softmax(x))
    assert ctx.result.passed

    from gpuemu.validate import validate_op            # seed 004: your Client
    with validate_op(client, "my_relu", inputs={"x": x}) as ctx:
        ctx["output"] = np.maximum(x, 0)

A failing output raises ValidationError (an AssertionError) with the seed and the replay
command when the block ends; ``check=False`` only records it in ``ctx.result``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .client import Client, ClientError, ValidationError
from .validate.result import ValidationResult

__all__ = ["ValidationContext", "ValidationError", "validate_op"]


class ValidationContext(dict):
    """What ``validate_op`` yields: ``ctx["inputs"]``; set the output with
    ``ctx.set_output(out)`` or ``ctx["output"] = out``; read ``ctx.result`` afterwards."""

    result: ValidationResult | None = None

    def set_output(self, output: Any) -> None:
        self["output"] = output


@contextmanager
def validate_op(client: Client | str, op_name: str | None = None,
                inputs: Mapping[str, Any] | None = None,
                kwargs: Mapping[str, Any] | None = None, *, check: bool = True,
                **options: Any) -> Iterator[ValidationContext]:
    """``validate_op([client,] op_name, inputs, kwargs=None)``: without a client, one
    ``Client(**options)`` (the default socket) is opened for the block. ``kwargs`` go to
    the reference script."""
    if isinstance(client, str):  # seed 002's form, validate_op(op_name, inputs): no client
        if op_name is not None and inputs is not None:
            raise TypeError(f"validate_op({client!r}, ...): inputs given twice")
        client, op_name, inputs, owned = Client(**options), client, inputs or op_name, True
    else:
        if options:
            raise TypeError(f"validate_op: {sorted(options)} configure a new Client; "
                            "with a client given there is none to configure")
        owned = False
    if op_name is None or inputs is None:
        raise TypeError("validate_op needs the op's name and its inputs: "
                        'validate_op("op", inputs={"x": x})')
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
