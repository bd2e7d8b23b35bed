"""Downstream change events, derived from the entity table's old and new images.

The table is the outbox: an event exists exactly when a stored version changed, so a no-op
write (equal or older version) publishes nothing, and a crash between write and publish loses
nothing because the stream is replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from appflow_ingest.domain.timestamps import to_iso

DETAIL_TYPE = "Record Changed"
UPSERT = "UPSERT"
DELETE = "DELETE"
MAX_ENTRY_BYTES = 256 * 1024
# Headroom for the envelope fields EventBridge counts in the entry size.
_DETAIL_BUDGET = MAX_ENTRY_BYTES - 4 * 1024


@dataclass(frozen=True)
class ChangeEvent:
    event_id: str
    detail_type: str
    detail: dict[str, Any]

    def detail_json(self) -> str:
        return orjson.dumps(self.detail).decode()


def superseded_body(old_image: dict[str, Any] | None, new_image: dict[str, Any] | None) -> str | None:
    """The S3 body the old image pointed at, if the new image no longer does (a newer version replaced it)."""
    old_ref = (old_image or {}).get("record_ref")
    if not old_ref or "kind" in (old_image or {}):
        return None
    new_ref = (new_image or {}).get("record_ref")
    if new_image is None or new_ref == old_ref:
        return None
    return str(old_ref)


def _version(image: dict[str, Any] | None) -> int | None:
    if not image or "version" not in image:
        return None
    return int(image["version"])


def change_event_for(
    old_image: dict[str, Any] | None, new_image: dict[str, Any] | None, *, table: str
) -> ChangeEvent | None:
    """The event a stream record stands for, or None when the stored version did not change.

    Images are deserialized entity items: pk, object, record_id, version (epoch ms), deleted,
    record (JSON text). A stream record whose version is not newer than the old image's is a
    repeat (moto emits two INSERTs for one write) or an update of other attributes: no event.
    """
    if new_image is not None and "kind" in new_image:  # an item of the derived table, not a record
        from appflow_ingest.domain.derived_events import derived_event_for

        return derived_event_for(old_image, new_image)
    new_version = _version(new_image)
    if new_image is None or new_version is None:
        return None  # removal of an item: records are deleted by tombstone, never removed
    old_version = _version(old_image)
    if old_version is not None and new_version <= old_version:
        return None
    deleted = bool(new_image.get("deleted"))
    change = DELETE if deleted else UPSERT
    object_name = str(new_image["object"])
    record_id = str(new_image["record_id"])
    event_id = f"{object_name}:{record_id}:{new_version}:{change}"
    detail: dict[str, Any] = {
        "event_id": event_id,
        "object": object_name,
        "id": record_id,
        "version": to_iso(new_version),
        "change": change,
        "previous_version": to_iso(old_version) if old_version is not None else None,
        "record": orjson.loads(new_image["record"]) if new_image.get("record") else None,
        "source": new_image.get("source"),
    }
    if new_image.get("record_ref"):
        # A record too large for one item: its body is an S3 object, immutable for this version
        # (adapters/record_bodies.py). Consumers GetObject it; it is kept at least
        # SupersededBodyRetentionDays after a newer version replaces it.
        bucket, _, key = str(new_image["record_ref"]).removeprefix("s3://").partition("/")
        detail["record_ref"] = {"s3": new_image["record_ref"], "bucket": bucket, "key": key}
        if new_image.get("record_bytes") is not None:
            detail["record_ref"]["bytes"] = int(new_image["record_bytes"])
        return ChangeEvent(event_id=event_id, detail_type=DETAIL_TYPE, detail=detail)
    if len(orjson.dumps(detail)) > _DETAIL_BUDGET:
        # Too large for the bus: consumers fetch the record by key instead.
        detail["record"] = None
        detail["record_ref"] = {"table": table, "pk": new_image["pk"]}
    return ChangeEvent(event_id=event_id, detail_type=DETAIL_TYPE, detail=detail)
