"""Snapshot events: the current stored state of a record or pass, told as an event to bootstrap a consumer.

A snapshot event's detail is built by the very function that builds the change event for the same
item seen for the first time (no old image), so ``Record Snapshot`` carries exactly what ``Record
Changed`` carries, today and after any change to it, and one consumer code path handles both.
Only the detail-type and the ``event_id`` differ: a consumer never mistakes a snapshot for a
change, and two snapshots of the same version are two events (a consumer that re-bootstraps is not
told "already seen"), while one snapshot resumed or retried repeats its ids exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from appflow_ingest.domain.change_events import DETAIL_TYPE as RECORD_CHANGED
from appflow_ingest.domain.change_events import ChangeEvent, change_event_for
from appflow_ingest.domain.derived_events import MEMBER_PASS_CHANGED

RECORD_SNAPSHOT = "Record Snapshot"
MEMBER_PASS_SNAPSHOT = "MemberPass Snapshot"
# The detail-type of a snapshot event, by the detail-type of the change event it mirrors.
SNAPSHOT_OF = {RECORD_CHANGED: RECORD_SNAPSHOT, MEMBER_PASS_CHANGED: MEMBER_PASS_SNAPSHOT}
SNAPSHOT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class InvalidSnapshotId(ValueError):
    """A snapshot id must fit in an event_id: 1-64 of letters, digits, '.', '_' and '-'."""


def check_snapshot_id(snapshot_id: str) -> str:
    if not SNAPSHOT_ID.match(snapshot_id):
        raise InvalidSnapshotId(
            f"snapshot id {snapshot_id!r}: expected 1-64 letters, digits, '.', '_' or '-' (it becomes part of event ids)"
        )
    return snapshot_id


def snapshot_event_for(
    image: dict[str, Any], *, table: str, snapshot_id: str, read_body: Callable[[str], Any] | None = None
) -> ChangeEvent | None:
    """The snapshot event of one stored item (a deserialized entity or derived item), or None.

    None where the change path would publish nothing for a first sighting either: an item that is
    not a record version, a pass nobody holds (no member record), a field sighting (not state).
    """
    # Derived items (passes) are mapped there too; ``read_body`` reads a body kept in S3, for changed_fields.
    change = change_event_for(None, image, table=table, read_body=read_body)
    if change is None or change.detail_type not in SNAPSHOT_OF:
        return None
    event_id = f"snapshot:{check_snapshot_id(snapshot_id)}:{change.event_id}"
    return replace(
        change,
        event_id=event_id,
        detail_type=SNAPSHOT_OF[change.detail_type],
        detail={**change.detail, "event_id": event_id},
    )
