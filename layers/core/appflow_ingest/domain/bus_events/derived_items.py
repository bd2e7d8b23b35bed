"""``MemberPass Changed`` and ``Schema Changed``: the downstream events for items of the derived table: member passes and first sightings of fields.

As for records, the table is the outbox: an event is published from the stream image of an item
already written, so it is never announced before the write, and a no-op write announces nothing.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from appflow_ingest.domain.bus_events.envelope import BusEvent

SCHEMA_CHANGED = "Schema Changed"
MEMBER_PASS_CHANGED = "MemberPass Changed"


def derived_item_event(old_image: dict[str, Any] | None, new_image: dict[str, Any] | None) -> BusEvent | None:
    """The event a derived item's stream record stands for; None for contributions and unchanged passes."""
    if not new_image:
        return None
    kind = new_image.get("kind")
    if kind == "schema":
        return _schema_changed(old_image, new_image)
    if kind == "pass":
        return _member_pass_changed(old_image, new_image)
    return None  # contributions are bookkeeping, not news


def _schema_changed(old_image: dict[str, Any] | None, new_image: dict[str, Any]) -> BusEvent | None:
    if old_image:  # only the insert is the first sighting
        return None
    object_name, field = str(new_image["object"]), str(new_image["field"])
    event_id = f"SchemaChanged:{object_name}:{field}"
    detail = {
        "event_id": event_id,
        "object": object_name,
        "change": "FIELD_ADDED",
        "field": field,
        "first_seen_at": new_image.get("first_seen_at"),
    }
    return BusEvent(event_id=event_id, detail_type=SCHEMA_CHANGED, detail=detail)


def _pass(image: dict[str, Any] | None) -> dict[str, Any] | None:
    text = (image or {}).get("pass")
    return orjson.loads(text) if text else None


def _member_pass_changed(old_image: dict[str, Any] | None, new_image: dict[str, Any]) -> BusEvent | None:
    new_pass, old_pass = _pass(new_image), _pass(old_image)
    if new_pass is None or new_pass == old_pass:
        return None  # aggregate bookkeeping changed (a contribution's version), the pass did not
    was_active = bool(old_pass and old_pass.get("status") == "active")
    if new_pass.get("status") != "active" and not was_active:
        return None  # no member record yet (a purchase came first): nobody holds this pass
    member = str(new_image["member_id"])
    # Deterministic: the same pass content at the same aggregate revision has the same id.
    digest = hashlib.sha256(orjson.dumps(new_pass, option=orjson.OPT_SORT_KEYS)).hexdigest()[:12]
    event_id = f"MemberPass:{member}:{int(new_image.get('revision', 0))}:{digest}"
    detail = {"event_id": event_id, **new_pass, "previous": old_pass}
    return BusEvent(event_id=event_id, detail_type=MEMBER_PASS_CHANGED, detail=detail)
