"""What a rejected line, record or event looks like in quarantine: enough to find it, fix it and replay it.

Masked means masked in quarantine too (docs/security.md): a record is shown with every field its
rule set masks exactly as the entity table stores it (``Masking``, from the rules). What cannot be
masked, because it could not be parsed or its object is unknown, is *clear content*: it is split off
(``split_clear_content``) and kept only in the raw quarantine bucket, with tighter access and a
short lifecycle; the quarantine entry names where.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.domain.records.versions import RecordRejected

Masking = Callable[[Mapping[str, Any]], dict[str, Any]]
"""A record with its masked fields as the table would store them (``ObjectRules.masking_for``)."""

# The entry keys that hold content as it arrived; nothing else in an entry carries record values.
CLEAR_CONTENT = ("line", "line_base64", "unmasked_record", "unmasked_event", "message")


def rejected_line(chunk: Chunk, offset: int, raw: bytes, reason: str) -> dict[str, Any]:
    """A line (or file) that could not be decoded into a record at all: clear content."""
    entry = _base(chunk, offset, "undecodable", None, reason)
    try:
        entry["line"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        entry["line_base64"] = base64.b64encode(raw).decode("ascii")
    return entry


def rejected_record(
    chunk: Chunk, offset: int, record: Any, error: RecordRejected, masking: Masking | None
) -> dict[str, Any]:
    """A decoded record that breaks a rule: the field and the expectation are named.

    ``masking`` shows the record as its object's rule set masks it; None when nothing tells which
    fields to mask (an unknown object), and then the record is clear content.
    """
    entry = _base(chunk, offset, "invalid", error.field, str(error))
    entry["expected"] = error.expected
    if masking is not None and isinstance(record, Mapping):
        entry["record"] = masking(record)
    else:
        entry["unmasked_record"] = record
    return entry


def rejected_message(body: str, reason: str) -> dict[str, Any]:
    """The entry of a chunk message that cannot be read (not JSON, a required field missing).

    The message itself is kept, as clear content: nothing tells what it holds, so it goes to the
    raw quarantine bucket.
    """
    return {"kind": "unreadable-message", "field": None, "reason": f"chunk message: {reason}", "message": body}


def rejected_event(event: Mapping[str, Any], field: str, reason: str, masking: Masking | None) -> dict[str, Any]:
    """A change event that cannot be applied: its fields masked like a record of its object's."""
    entry: dict[str, Any] = {"reason": reason, "field": field}
    detail = event.get("detail")
    if masking is not None and isinstance(detail, Mapping):
        entry["event"] = {**event, "detail": masking(detail)}
    else:
        entry["unmasked_event"] = dict(event)
    return entry


def split_clear_content(
    entries: list[dict[str, Any]], raw_location: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The entries without clear content (naming ``raw_location`` where they had some), and that content apart.

    Each piece of clear content keeps the source, offset and reason that find its entry.
    """
    kept, clear = [], []
    for entry in entries:
        content = {key: entry[key] for key in CLEAR_CONTENT if key in entry}
        if content:
            entry = {key: value for key, value in entry.items() if key not in content}
            clear.append({key: entry[key] for key in ("source", "offset", "reason") if key in entry} | content)
            entry["raw_location"] = raw_location
        kept.append(entry)
    return kept, clear


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
    """Quarantine entries as the JSON Lines object the quarantine stores."""
    return b"".join(orjson.dumps(entry, default=str) + b"\n" for entry in entries)
