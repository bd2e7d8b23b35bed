"""Snapshot events: the current stored state of a record or pass, told as an event to bootstrap a consumer.

A snapshot event's detail is built by the very function that builds the published event for the
same item seen for the first time (no old image), so ``Record Snapshot`` carries exactly what ``Record
Changed`` carries, today and after any change to it, and one consumer code path handles both.
Only the detail-type and the ``event_id`` differ: a consumer never mistakes a snapshot for a
new version, and two snapshots of the same version are two events (a consumer that re-bootstraps is not
told "already seen"), while one snapshot resumed or retried repeats its ids exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from appflow_ingest.domain.bus_events.derived_items import MEMBER_PASS_CHANGED, derived_item_event
from appflow_ingest.domain.bus_events.envelope import BusEvent
from appflow_ingest.domain.bus_events.record_changed import RECORD_CHANGED, record_changed_event

RECORD_SNAPSHOT = "Record Snapshot"
MEMBER_PASS_SNAPSHOT = "MemberPass Snapshot"
# The detail-type of a snapshot event, by the detail-type of the event it mirrors.
SNAPSHOT_OF = {RECORD_CHANGED: RECORD_SNAPSHOT, MEMBER_PASS_CHANGED: MEMBER_PASS_SNAPSHOT}
SNAPSHOT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class InvalidSnapshotId(ValueError):
    """A snapshot id must fit in an event_id: 1-64 of letters, digits, '.', '_' and '-'."""


def check_snapshot_id(snapshot_id: str) -> str:
    """The snapshot id, checked (raises ``InvalidSnapshotId``)."""
    if not SNAPSHOT_ID.match(snapshot_id):
        raise InvalidSnapshotId(
            f"snapshot id {snapshot_id!r}: expected 1-64 letters, digits, '.', '_' or '-' (it becomes part of event ids)"
        )
    return snapshot_id


def record_snapshot(
    image: dict[str, Any], *, table: str, snapshot_id: str, read_body: Callable[[str], Any] | None = None
) -> BusEvent | None:
    """The ``Record Snapshot`` of one stored entity item (deserialized), or None where it is no record version.

    ``read_body`` reads a body kept in S3, for changed_fields.
    """
    return _snapshot_of(record_changed_event(None, image, table=table, read_body=read_body), snapshot_id)


def member_pass_snapshot(image: dict[str, Any], *, snapshot_id: str) -> BusEvent | None:
    """The ``MemberPass Snapshot`` of one derived-table item (deserialized), or None.

    None where the change path would publish nothing for a first sighting either: a pass nobody
    holds (no member record), a contribution, a field sighting (history, not state).
    """
    return _snapshot_of(derived_item_event(None, image), snapshot_id)


def _snapshot_of(event: BusEvent | None, snapshot_id: str) -> BusEvent | None:
    """The snapshot that mirrors a first-sighting event, with its own detail-type and event id."""
    if event is None or event.detail_type not in SNAPSHOT_OF:
        return None
    event_id = f"snapshot:{check_snapshot_id(snapshot_id)}:{event.event_id}"
    return replace(
        event,
        event_id=event_id,
        detail_type=SNAPSHOT_OF[event.detail_type],
        detail={**event.detail, "event_id": event_id},
    )
