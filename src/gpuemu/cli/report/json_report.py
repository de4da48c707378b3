"""JSON output: the Report itself with sorted keys (documented in docs/json-output.md).

Seeds are plain integers (u64: parse them as BigInt or strings in JavaScript); non-finite
floats are null, as on the wire; every field of every nested result is kept.
"""

from __future__ import annotations

import msgspec

from . import Report

SCHEMA_VERSION = 1


def render_json(report: Report) -> str:
    body = msgspec.json.decode(msgspec.json.encode(report))
    text = msgspec.json.encode({"schema_version": SCHEMA_VERSION, **body}, order="sorted")
    return msgspec.json.format(text, indent=2).decode()
