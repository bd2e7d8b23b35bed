"""A Salesforce change event merged into the stored record, under the same newest-wins rule as file records.

A change event carries only the fields that changed, so the stored record is the base the
change is applied to; GAP events carry no values and are never merged (the records are marked
for a resync instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from appflow_ingest.domain.records.versions import RecordVersion
from appflow_ingest.domain.salesforce.change_events import CREATE, DELETE, SalesforceChange


class StoredRecord(NamedTuple):
    """What the entity table holds for a record: the version the merge is guarded on."""

    version: int
    deleted: bool
    record: dict[str, Any]
    source: str | None = None  # who wrote it: a change event's own earlier write is told by it


class MergeResult(NamedTuple):
    """The version to write, and why the record needs a resync even so (None when it does not)."""

    version: RecordVersion
    resync_reason: str | None


def _merge_values(base: dict[str, Any], values: Mapping[str, Any]) -> None:
    """Changed values over the stored ones; compound fields (Name, BillingAddress) merge one level down."""
    for name, value in values.items():
        current = base.get(name)
        if isinstance(value, dict) and isinstance(current, dict):
            base[name] = {**current, **value}
        else:
            base[name] = value


def _clear(record: dict[str, Any], names: tuple[str, ...]) -> None:
    """``nulledFields`` name fields set to null; a compound part comes as ``BillingAddress.City``."""
    for name in names:
        parent, _, part = name.partition(".")
        if part and isinstance(record.get(parent), dict):
            record[parent] = {**record[parent], part: None}
        else:
            record[name] = None


def merge_change(stored: StoredRecord | None, change: SalesforceChange, record_id: str) -> MergeResult | None:
    """The record version a (non-gap) change makes of the stored record, or None when it is stale.

    Stale means not newer than what is stored (the newest-wins rule of file records): an older
    or repeated event changes nothing.
    """
    if change.is_gap:
        raise ValueError("gap events carry no values: mark the records for a resync instead")
    if stored is not None and change.version <= stored.version:
        return None
    resync_reason = None
    if change.change_type == CREATE:
        # A CREATE carries every non-null field: it is the whole record, not a patch.
        record: dict[str, Any] = {"Id": record_id}
        _merge_values(record, change.values)
        deleted = False
    else:
        record = dict(stored.record) if stored is not None else {"Id": record_id}
        _merge_values(record, change.values)
        # A DELETE keeps the last known values in its tombstone; anything else means the record lives.
        deleted = change.change_type == DELETE
        if stored is None and change.change_type != DELETE:
            resync_reason = f"{change.change_type} of a record never stored: only its changed fields are known"
    _clear(record, change.nulled_fields)
    if change.diff_fields:
        # Large text fields sent as a diff cannot be applied without the full previous text.
        resync_reason = f"fields sent as diffs cannot be applied: {', '.join(change.diff_fields)}"
    record.setdefault("Id", record_id)
    record["IsDeleted"] = deleted
    return MergeResult(RecordVersion(change.object, record_id, change.version, deleted, record), resync_reason)
