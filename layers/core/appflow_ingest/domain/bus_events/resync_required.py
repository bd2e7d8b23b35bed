"""``Resync Required``: the downstream event for records whose current values are not known here."""

from __future__ import annotations

from appflow_ingest.domain.bus_events.envelope import BusEvent
from appflow_ingest.domain.timestamps import to_iso

RESYNC_REQUIRED = "Resync Required"


def resync_required_event(
    object_name: str, record_id: str | None, *, reason: str, change_type: str, commit_timestamp: int, source: str
) -> BusEvent:
    """One event per record (``record_id`` None: the whole object), with a deterministic id."""
    event_id = f"resync:{object_name}:{record_id or '*'}:{commit_timestamp}:{change_type}"
    return BusEvent(
        event_id=event_id,
        detail_type=RESYNC_REQUIRED,
        detail={
            "event_id": event_id,
            "object": object_name,
            "id": record_id,
            "scope": "RECORD" if record_id else "OBJECT",
            "change_type": change_type,
            "reason": reason,
            "commit_time": to_iso(commit_timestamp),
            "source": source,
        },
    )
