"""The codec: bytes <-> messages in the three forms (DESIGN.md "Wire protocol").

The FLAT form ``{"type": "GetResult", "seed": 42}`` and the ENVELOPE form ``{"type":
"GetResult", "payload": {"seed": 42}}`` are JSON; msgpack (flat form only) carries tensor
bytes raw, which same-host clients use for large tensors. A reply uses the form of its
request. Decoding fails in one place, with one error (InvalidRequest) naming the field.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any, Union

import msgspec

from ..errors import GpuemuError, InvalidRequest
from ..message import Message, Response
from .artifact_replies import (
    Artifact, ArtifactBaselineStored, ArtifactDiffs, ArtifactList, ArtifactMetricsResult,
    ArtifactStored, LintResults,
)
from .replies import (
    ArtifactDiff, BaselineComparisonResponse, BaselineStored, CiRunComplete, CiSummary,
    CoverageReport, Error, FailureList, FuzzHealth, FuzzResults, LintResult, MinimizeReply, Ok,
    Pong, ReproduceResult, ResultList, Results, ShutdownAck, SubmitResult, TestBatch, TestCase,
    ValidationResultResponse,
)
from .requests import REQUESTS, Request

RESPONSE_TYPES: tuple[type[Response], ...] = (
    Error, Pong, Ok, ValidationResultResponse, Results, SubmitResult,
    BaselineComparisonResponse, CoverageReport, FuzzHealth, FuzzResults, ReproduceResult,
    MinimizeReply, LintResults, ArtifactMetricsResult, ArtifactList, ArtifactDiffs,
    CiRunComplete, CiSummary, TestCase, TestBatch,
    # the replies' names before seed 000's, still decoded (a daemon of an older gpuemu)
    ShutdownAck, ResultList, BaselineStored, FailureList, LintResult, ArtifactStored, Artifact,
    ArtifactBaselineStored, ArtifactDiff,
)
AnyResponse = Union[RESPONSE_TYPES]  # type: ignore[valid-type]
RESPONSES: dict[str, type[Response]] = {
    cls.__struct_config__.tag: cls for cls in RESPONSE_TYPES  # not msgspec.inspect: 0.25 s
}


class Form(Enum):
    """How a message was framed; the reply is framed the same way."""

    FLAT = "flat"            # JSON {"type": ..., field: ...}
    ENVELOPE = "envelope"    # JSON {"type": ..., "payload": {...}}
    MSGPACK = "msgpack"      # msgpack, flat; tensor bytes raw


class _Head(msgspec.Struct):
    type: str
    payload: msgspec.Raw = msgspec.Raw(b"")
    protocol_version: int | None = None


class _AnyHead(msgspec.Struct):
    payload: msgspec.Raw = msgspec.Raw(b"")


_ANY_HEAD = msgspec.json.Decoder(_AnyHead)


def is_msgpack(data: bytes) -> bool:
    """How a message is framed, from its first byte alone: a msgpack map starts at 0x80 or
    above, JSON with ``{`` or whitespace. The one place that tells them apart."""
    return data[:1] >= b"\x80"


def framing(data: bytes) -> Form:
    """MSGPACK or FLAT without parsing ``data`` (for a request too big or too early to
    decode); form_of also tells the envelope form apart."""
    return Form.MSGPACK if is_msgpack(data) else Form.FLAT


def form_of(data: bytes) -> Form:
    """The form of a request, even one that does not decode: its Error reply uses it."""
    if is_msgpack(data):
        return Form.MSGPACK
    try:
        return Form.ENVELOPE if _ANY_HEAD.decode(data).payload else Form.FLAT
    except (msgspec.MsgspecError, RecursionError, UnicodeDecodeError):
        return Form.FLAT


class _MsgpackHead(msgspec.Struct):
    type: str


_JSON_HEAD = msgspec.json.Decoder(_Head)
_MSGPACK_HEAD = msgspec.msgpack.Decoder(_MsgpackHead)
_JSON_ENC = msgspec.json.Encoder()
_MSGPACK_ENC = msgspec.msgpack.Encoder()
# Decoders of the response union built once: msgspec.*.decode(type=AnyResponse) rebuilds
# the union's lookup on every call (~20 us, a tenth of a small ValidateOp's client side).
_MSGPACK_RESPONSE = msgspec.msgpack.Decoder(AnyResponse)
_JSON_RESPONSE = msgspec.json.Decoder(AnyResponse)
_PATH = re.compile(r"at `\$\.?([^`]*)`")
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]*)`")
_SURROGATE = re.compile("[\udc80-\udcff]")


def _field_of(exc: msgspec.ValidationError, prefix: str = "") -> str | None:
    msg = str(exc)
    m = _PATH.search(msg)
    inner = _NAMED_FIELD.search(msg)
    field = m.group(1) if m else ""
    if inner:
        field = f"{field}.{inner.group(1)}" if field else inner.group(1)
    field = field or None
    if field and prefix:
        return f"{prefix}.{field}"
    return field or (prefix or None)


def _invalid(exc: msgspec.MsgspecError, what: str, prefix: str = "") -> InvalidRequest:
    """InvalidRequest for a decode failure of ``what``, naming the field when msgspec does."""
    if not isinstance(exc, msgspec.ValidationError):
        return InvalidRequest(f"{what} is not decodable: {exc}", field=None)
    field = _field_of(exc, prefix)
    where = f" (field `{field}`)" if field else ""
    return InvalidRequest(f"invalid {what}{where}: {exc}", field=field)


def _known_types() -> str:
    return ", ".join(REQUESTS)


def _request_class(name: str) -> type[Request]:
    try:
        return REQUESTS[name]
    except KeyError:
        raise InvalidRequest(
            f"unknown request type {name!r}; expected one of: {_known_types()}. If your gpuemu"
            " is newer than this daemon, restart the daemon (`gpuemu daemon stop`; the next"
            " command starts one of your version)", field="type"
        ) from None


def decode_request(data: bytes) -> tuple[Request, Form]:
    """Decode either JSON form or flat msgpack; raise InvalidRequest naming the field."""
    try:
        return _decode_request(data)
    except RecursionError:  # msgspec gives up on absurd nesting; that is the sender's error
        raise InvalidRequest("request nests too deeply to decode; no gpuemu request nests more"
                             " than a few levels, so check what builds it", field=None) from None
    except (UnicodeDecodeError, msgspec.DecodeError, InvalidRequest) as exc:
        # A bad byte in a key surfaces as "missing"/"unknown field"; say what is really wrong.
        if isinstance(exc, InvalidRequest) and (is_msgpack(data) or _is_utf8(data)):
            raise
        if isinstance(exc, msgspec.DecodeError) and "UTF-8" not in str(exc):
            raise InvalidRequest(f"request is not decodable: {exc}", field=None) from None
        field = _invalid_utf8_field(data)
        where = f" (field `{field}`)" if field else ""
        raise InvalidRequest(f"request has a string that is not valid UTF-8{where}; send text"
                             " as UTF-8 and bytes as base64", field=field) from None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _invalid_utf8_field(data: bytes) -> str | None:
    """The dotted path of the first key or string value holding invalid UTF-8 (JSON only).

    msgspec reports invalid UTF-8 without a position; re-reading the bytes with
    ``surrogateescape`` turns each bad byte into a lone surrogate that we can find."""
    try:
        doc = json.loads(data.decode("utf-8", "surrogateescape"))
    except ValueError:
        return None
    return _find_surrogate(doc, "")


def _find_surrogate(value: Any, path: str) -> str | None:
    bad = _SURROGATE.search
    if isinstance(value, str):
        return (path or None) if bad(value) else None
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        child = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and bad(key):
            return _SURROGATE.sub("\ufffd", child)  # a reply must be valid UTF-8 itself
        found = _find_surrogate(item, child)
        if found:
            return found
    return None


def _decode_request(data: bytes) -> tuple[Request, Form]:
    if is_msgpack(data):
        try:
            head = _MSGPACK_HEAD.decode(data)
            cls = _request_class(head.type)
            return msgspec.msgpack.decode(data, type=cls), Form.MSGPACK
        except msgspec.MsgspecError as exc:
            raise _invalid(exc, "msgpack request") from None
    try:
        head = _JSON_HEAD.decode(data)
    except msgspec.ValidationError as exc:
        raise _invalid(exc, "request") from None
    except msgspec.DecodeError as exc:
        if "UTF-8" in str(exc):
            raise  # decode_request names the string's field
        raise InvalidRequest(f"request is not valid JSON: {exc}", field=None) from None
    cls = _request_class(head.type)
    if not head.payload:
        try:
            return msgspec.json.decode(data, type=cls), Form.FLAT
        except msgspec.ValidationError as exc:
            raise _invalid(exc, f"{head.type} request") from None
    try:
        request = msgspec.json.decode(head.payload, type=cls)
    except msgspec.ValidationError as exc:
        raise _invalid(exc, f"{head.type} payload", prefix="payload") from None
    if head.protocol_version is not None and request.protocol_version is None:
        request = msgspec.structs.replace(request, protocol_version=head.protocol_version)
    return request, Form.ENVELOPE


def encode_message(message: Message, form: Form = Form.FLAT) -> bytes:
    """Encode a request or response in ``form``."""
    if form is Form.MSGPACK:
        return _MSGPACK_ENC.encode(message)
    if form is Form.FLAT:
        return _JSON_ENC.encode(message)
    fields = msgspec.to_builtins(message)
    tag = fields.pop("type")
    return _JSON_ENC.encode({"type": tag, "payload": fields})


def decode_response(data: bytes) -> Response:
    """Client side: decode a reply in any of the three forms."""
    try:
        if is_msgpack(data):
            return _MSGPACK_RESPONSE.decode(data)
        head = _JSON_HEAD.decode(data)
        if not head.payload:
            return _JSON_RESPONSE.decode(data)
        cls = RESPONSES.get(head.type)
        if cls is None:
            raise InvalidRequest(f"unknown response type {head.type!r}", field="type")
        return msgspec.json.decode(head.payload, type=cls)
    except msgspec.MsgspecError as exc:
        raise InvalidRequest(f"malformed response from daemon: {exc}") from None


def error_response(exc: GpuemuError) -> Error:
    """The Error reply for a GpuemuError raised by a handler."""
    return Error(code=str(exc.code), message=str(exc), field=getattr(exc, "field", None))
