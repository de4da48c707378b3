"""One exception root, with the protocol error code each exception travels as.

An error raised inside the daemon is sent as ``{"code": ..., "message": ...}`` and
raised again on the client as the same class (``error_from_code``), so callers catch
the same exception whether the check ran in-process or through the daemon.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """The twelve error codes of the IPC specification."""

    OpNotFound = "OpNotFound"
    ReferenceScriptFailed = "ReferenceScriptFailed"
    InvalidRequest = "InvalidRequest"
    InternalError = "InternalError"
    NotFound = "NotFound"
    ConfigError = "ConfigError"
    KernelNotFound = "KernelNotFound"
    ArtifactNotFound = "ArtifactNotFound"
    BaselineNotFound = "BaselineNotFound"
    PtxParseError = "PtxParseError"
    CuobjdumpNotAvailable = "CuobjdumpNotAvailable"
    VersionMismatch = "VersionMismatch"


class GpuemuError(Exception):
    """Root of every error gpuemu raises on purpose."""

    code: ErrorCode = ErrorCode.InternalError


class InvalidRequest(GpuemuError, ValueError):
    """A request, or a value inside it, is malformed. ``field`` names where."""

    code = ErrorCode.InvalidRequest

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class InvalidTensorData(InvalidRequest):
    """A TensorData cannot be turned into an array; ``field`` is e.g. ``inputs.x.strides``."""


class ConfigError(GpuemuError, ValueError):
    """gpuemu.toml (or another config layer) is invalid; the message names file and key."""

    code = ErrorCode.ConfigError


class OpNotFound(GpuemuError, LookupError):
    code = ErrorCode.OpNotFound


class NotFound(GpuemuError, LookupError):
    code = ErrorCode.NotFound


class KernelNotFound(GpuemuError, LookupError):
    code = ErrorCode.KernelNotFound


class ArtifactNotFound(GpuemuError, LookupError):
    code = ErrorCode.ArtifactNotFound


class BaselineNotFound(GpuemuError, LookupError):
    code = ErrorCode.BaselineNotFound


class ReferenceScriptFailed(GpuemuError, RuntimeError):
    code = ErrorCode.ReferenceScriptFailed


class PtxParseError(GpuemuError, ValueError):
    code = ErrorCode.PtxParseError


class CuobjdumpNotAvailable(GpuemuError, RuntimeError):
    code = ErrorCode.CuobjdumpNotAvailable


class VersionMismatch(GpuemuError, RuntimeError):
    code = ErrorCode.VersionMismatch


class InternalError(GpuemuError, RuntimeError):
    code = ErrorCode.InternalError


_BY_CODE: dict[ErrorCode, type[GpuemuError]] = {
    cls.code: cls
    for cls in (
        InvalidRequest, ConfigError, OpNotFound, NotFound, KernelNotFound, ArtifactNotFound,
        BaselineNotFound, ReferenceScriptFailed, PtxParseError, CuobjdumpNotAvailable,
        VersionMismatch, InternalError,
    )
}


def error_from_code(code: str, message: str) -> GpuemuError:
    """The exception a client raises for an Error response (unknown codes -> InternalError)."""
    try:
        cls = _BY_CODE[ErrorCode(code)]
    except ValueError:
        return InternalError(f"[{code}] {message}")
    return cls(message)
