"""The client's exceptions (seed 002's names) and the mapping of an Error reply to one.

An Error reply is raised as the exception class of its code that is *also* a ClientError,
so ``except OpNotFound`` and ``except ClientError`` both work. gpuemu.client re-exports
these; they live here so that the transports raise them without importing the client.
"""

from __future__ import annotations

import builtins
import threading

from . import __version__
from .errors import GpuemuError, error_from_code
from .protocol import PROTOCOL_VERSION, Error, Response
from .validate.result import ValidationResult

START_HINT = "start it with: gpuemu daemon start"


class ClientError(GpuemuError):
    """An Error reply from the daemon, or a reply the client cannot use."""


class ConnectionError(ClientError, builtins.ConnectionError):  # noqa: A001 - seed 002's name
    """No daemon answers on the socket (or it stopped answering in time)."""


class ValidationError(GpuemuError, AssertionError):
    """The op's output failed validation; ``result`` holds the full verdict."""

    def __init__(self, result: ValidationResult):
        self.result = result
        reasons = "; ".join(f"{f.kind}: {f.message}" for f in result.failures)
        replay = f" (replay: {result.repro_info.command})" if result.repro_info else ""
        super().__init__(f"{result.op_name} failed validation (seed {result.seed}): "
                         f"{reasons}{replay}")


for _cls in (ClientError, ConnectionError, ValidationError):
    _cls.__module__ = "gpuemu.client"  # where users import them from (and tracebacks say)

_REMOTE: dict[type, type] = {}
_REMOTE_LOCK = threading.Lock()


def remote_error(reply: Error) -> GpuemuError:
    """The exception for an Error reply: its code's class mixed with ClientError."""
    base = type(error_from_code(reply.code, reply.message))
    with _REMOTE_LOCK:
        cls = _REMOTE.get(base)
        if cls is None:
            cls = _REMOTE[base] = type(base.__name__, (ClientError, base),
                                       {"__module__": "gpuemu.client"})
    exc = cls(reply.message)
    exc.field = reply.field
    return exc


def check_version(reply: Response, where: object) -> None:
    """Seeds 000/001: on connecting (and in ping), compare the protocol version of the
    daemon on ``where`` (its socket) with ours."""
    theirs = getattr(reply, "protocol_version", None)
    if theirs != PROTOCOL_VERSION:
        newer = "daemon" if isinstance(theirs, int) and theirs > PROTOCOL_VERSION else "client"
        raise remote_error(Error(code="VersionMismatch", message=(
            f"the gpuemu daemon on {where} speaks protocol version {theirs}, this"
            f" client (gpuemu {__version__}) speaks {PROTOCOL_VERSION}: the {newer} is newer."
            " Use one gpuemu version for both: upgrade the other one, or restart the daemon"
            " from this installation (`gpuemu daemon stop`; the next command starts one)")))
