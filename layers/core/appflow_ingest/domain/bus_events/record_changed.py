"""``Record Changed``: the downstream event of a stored record's new version, from the entity table's old and new images.

The table is the outbox: an event exists exactly when the stored data changed, so a no-op write
(equal or older version) publishes nothing, and a crash between write and publish loses nothing
because the stream is replayed.

A newer version whose fields equal the stored ones except the volatile ones (``LastModifiedDate``,
``SystemModstamp`` and the version field by default; configurable per object) is stored, because
newest-wins must know the newest version, but it is no change of data: no event. Salesforce bumps
both timestamps when any field changes, mapped or not, so without this every edit of a field the
flow does not map woke every consumer for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from appflow_ingest.domain.bus_events.envelope import MAX_ENTRY_BYTES, BusEvent
from appflow_ingest.domain.records.body_codec import record_of_image
from appflow_ingest.domain.records.versions import DEFAULT_VOLATILE_FIELDS
from appflow_ingest.domain.timestamps import to_iso

RECORD_CHANGED = "Record Changed"
UPSERT = "UPSERT"
DELETE = "DELETE"
# Headroom for the envelope fields EventBridge counts in the entry size.
_DETAIL_BUDGET = MAX_ENTRY_BYTES - 4 * 1024
_ABSENT = object()


def superseded_body(old_image: dict[str, Any] | None, new_image: dict[str, Any] | None) -> str | None:
    """The S3 body the old image pointed at, if the new image no longer does (a newer version replaced it)."""
    old_ref = (old_image or {}).get("record_ref")
    if not old_ref:
        return None
    new_ref = (new_image or {}).get("record_ref")
    if new_image is None or new_ref == old_ref:
        return None
    return str(old_ref)


def _version(image: dict[str, Any] | None) -> int | None:
    if not image or "version" not in image:
        return None
    return int(image["version"])


def version_advanced(old_image: dict[str, Any] | None, new_image: dict[str, Any] | None) -> bool:
    """Whether a stream record moved an entity item to a newer version (with or without a change of data)."""
    if not new_image:
        return False
    new_version, old_version = _version(new_image), _version(old_image)
    return new_version is not None and (old_version is None or new_version > old_version)


def _same(a: Any, b: Any) -> bool:
    # Python's == holds 1 == 1.0 == True; a field that changes type changed for a consumer.
    if not (a == b and type(a) is type(b)):
        return False
    return not isinstance(a, dict | list) or orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        b, option=orjson.OPT_SORT_KEYS
    )


def changed_fields(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    """Names of the fields whose values differ between two versions of a record (all of ``new``'s when there is no ``old``)."""
    if old is None:
        return sorted(new or ())
    new = new or {}
    return sorted(name for name in old.keys() | new.keys() if not _same(old.get(name, _ABSENT), new.get(name, _ABSENT)))


def record_changed_event(
    old_image: dict[str, Any] | None,
    new_image: dict[str, Any] | None,
    *,
    table: str,
    volatile_fields: Mapping[str, frozenset[str]] | None = None,
    read_body: Callable[[str], Any] | None = None,
) -> BusEvent | None:
    """The ``Record Changed`` event an entity-table stream record stands for, or None when the stored data did not change.

    Images are deserialized entity items: pk, object, record_id, version (epoch ms), deleted,
    record (JSON text, or gzip with ``codec``: domain/records/body_codec.py). A stream record whose
    version is not newer than the old image's is a repeat (moto emits two INSERTs for one write)
    or an update of other attributes: no event. Nor is a newer version that changed only the
    object's volatile fields (``volatile_fields``: object -> names; DEFAULT_VOLATILE_FIELDS for an
    object not listed) and not its tombstone.

    A body kept in S3 (``record_ref``) is read with ``read_body`` to tell the changed fields (the
    event still carries the reference, not the body). A version whose body cannot be read (no
    ``read_body``, or the body is gone) counts every field of both versions as changed, so no real
    change can go unpublished.
    """
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
    record = record_of_image(new_image, read_body)
    if old_version is None:
        changed = changed_fields(None, record)
    else:
        previous = record_of_image(old_image or {}, read_body)
        if previous is None or record is None:
            changed = sorted(set(previous or ()) | set(record or ()))
        else:
            changed = changed_fields(previous, record)
            volatile = (volatile_fields or {}).get(object_name, DEFAULT_VOLATILE_FIELDS)
            if deleted == bool((old_image or {}).get("deleted")) and volatile.issuperset(changed):
                return None
    event_id = f"{object_name}:{record_id}:{new_version}:{change}"
    detail: dict[str, Any] = {
        "event_id": event_id,
        "object": object_name,
        "id": record_id,
        "version": to_iso(new_version),
        "change": change,
        "previous_version": to_iso(old_version) if old_version is not None else None,
        "record": None if new_image.get("record_ref") else record,
        "changed_fields": changed,
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
        return BusEvent(event_id=event_id, detail_type=RECORD_CHANGED, detail=detail)
    if len(orjson.dumps(detail)) > _DETAIL_BUDGET:
        # Too large for the bus: consumers fetch the record by key instead.
        detail["record"] = None
        detail["record_ref"] = {"table": table, "pk": new_image["pk"]}
    return BusEvent(event_id=event_id, detail_type=RECORD_CHANGED, detail=detail)
