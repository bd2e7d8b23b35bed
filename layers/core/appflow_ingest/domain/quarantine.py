"""What a rejected line or record looks like in quarantine: enough to find it, fix it and replay it."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from appflow_ingest.domain.chunks import Chunk
from appflow_ingest.domain.records import RecordRejected


def rejected_line(chunk: Chunk, offset: int, raw: bytes, reason: str) -> dict[str, Any]:
    """A line (or file) that could not be decoded into a record at all."""
    entry = _base(chunk, offset, "undecodable", None, reason)
    try:
        entry["line"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        entry["line_base64"] = base64.b64encode(raw).decode("ascii")
    return entry


def rejected_record(chunk: Chunk, offset: int, record: Any, error: RecordRejected) -> dict[str, Any]:
    """A decoded record that breaks a rule: the field and the expectation are named."""
    entry = _base(chunk, offset, "invalid", error.field, str(error))
    entry["expected"] = error.expected
    entry["record"] = record
    return entry


def rejected_message(body: str, reason: str) -> dict[str, Any]:
    """A chunk message that cannot be read (not JSON, a required field missing): the message itself is kept."""
    return {"kind": "unreadable-message", "field": None, "reason": f"chunk message: {reason}", "message": body}


def _base(chunk: Chunk, offset: int, kind: str, field: str | None, reason: str) -> dict[str, Any]:
    return {
        "source": chunk.uri,
        "etag": chunk.etag,
        "offset": offset,
        "flow_name": chunk.landing.flow_name,
        "execution_id": chunk.landing.execution_id,
        "kind": kind,
        "field": field,
        "reason": f"{chunk.uri} offset {offset}: {reason}",
    }


def to_json_lines(entries: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(entry, default=str) + b"\n" for entry in entries)
