"""``quarantine``: every quarantined line, record and change event, as stored, filtered and grouped.

Entries are read from the stack's quarantine bucket (``quarantine/<landing key>/<range>.jsonl`` for
files, ``quarantine/events/...`` for change events). The record or line itself is left out unless
asked for (``--with-record``): the entry says where it is, which field broke which expectation, and
why; the bucket holds the rest.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from appflow_local.operations.target import Target

QUARANTINE_BUCKET = "QuarantineBucket"
PREFIX = "quarantine/"
EVENTS_PREFIX = f"{PREFIX}events/"
CHANGE_EVENT = "change-event"
CONTENT_KEYS = ("record", "line", "line_base64", "event")
_SOURCE_PREFIX = re.compile(r"^s3://\S+ offset \d+: ")


@dataclass(frozen=True)
class QuarantineFilter:
    flow: str | None = None
    execution_id: str | None = None
    field: str | None = None
    reason: str | None = None  # a substring, any case
    kind: str | None = None
    source: str | None = None  # the landed file's s3:// URI

    def matches(self, entry: dict[str, Any]) -> bool:
        return (
            (self.flow is None or entry.get("flow_name") == self.flow)
            and (self.execution_id is None or entry.get("execution_id") == self.execution_id)
            and (self.field is None or entry.get("field") == self.field)
            and (self.kind is None or entry.get("kind") == self.kind)
            and (self.source is None or entry.get("source") == self.source)
            and (self.reason is None or self.reason.lower() in str(entry.get("reason", "")).lower())
        )


def quarantine_location(target: Target, key_prefix: str = "") -> str:
    return f"s3://{target.physical(QUARANTINE_BUCKET)}/{PREFIX}{key_prefix}"


def entries(
    target: Target, selection: QuarantineFilter | None = None, *, with_content: bool = False, key_prefix: str = ""
) -> Iterator[dict[str, Any]]:
    """Every entry that matches, in key order, each with ``location`` (the object that holds it)."""
    selection = selection or QuarantineFilter()
    s3, bucket = target.client("s3"), target.physical(QUARANTINE_BUCKET)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX + key_prefix):
        for summary in page.get("Contents", []):
            key = summary["Key"]
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", errors="replace")
            for line in body.splitlines():
                if not line.strip():
                    continue
                entry = _normalised(json.loads(line), key)
                entry["location"] = f"s3://{bucket}/{key}"
                if selection.matches(entry):
                    yield entry if with_content else {k: v for k, v in entry.items() if k not in CONTENT_KEYS}


def _normalised(entry: dict[str, Any], key: str) -> dict[str, Any]:
    """A change event's entry in the shape of a file's (kind, source, flow_name, execution_id)."""
    if not key.startswith(EVENTS_PREFIX) or "kind" in entry:
        return entry
    event = entry.get("event") or {}
    return {
        "source": f"event {event.get('id')} ({event.get('detail-type')})",
        "offset": None,
        "flow_name": None,
        "execution_id": None,
        "kind": CHANGE_EVENT,
        "field": entry.get("field") or None,
        **entry,
    }


def reason_class(entry: dict[str, Any]) -> str:
    """What went wrong, without where and with which value: what ``--summary`` groups by."""
    if entry.get("expected"):
        return f"expected {entry['expected']}"
    reason = _SOURCE_PREFIX.sub("", str(entry.get("reason", "")))
    return reason.split(", got ", 1)[0]


def summary(found: Iterator[dict[str, Any]]) -> list[dict[str, Any]]:
    """Counts grouped by flow, field and reason, most frequent first."""
    counts: Counter[tuple[str | None, str | None, str]] = Counter()
    for entry in found:
        counts[(entry.get("flow_name"), entry.get("field"), reason_class(entry))] += 1
    return [
        {"count": n, "flow_name": flow, "field": field, "reason": reason}
        for (flow, field, reason), n in sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    ]
