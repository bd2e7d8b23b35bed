"""Salesforce change events (Change Data Capture, via an AppFlow event-triggered flow): read and checked.

A change event carries only the fields that changed (docs/appflow.md §4), so it is merged into the
stored record instead of replacing it (``merge.py``). It obeys the same newest-wins rule as file records, with
the same version: the record's ``LastModifiedDate`` (the flow's configured version field), read
from the event body. Why that and not the header's ``commitTimestamp``: a file record and a change
event describing the same change then carry the *same* version, so whichever arrives second is a
no-op; ``commitTimestamp`` is stamped at commit, after ``LastModifiedDate``, and would make every
change event look newer than the file record of the very same version. ``commitTimestamp`` is
used only when the body has no version field: a DELETE (``changedFields: []``), or a flow that
does not map the field.

GAP events carry no values at all: nothing is written, the records are marked for a resync.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appflow_ingest.domain.records.salesforce_ids import canonical_id
from appflow_ingest.domain.records.versions import RecordRejected, check_id_characters, check_key_size
from appflow_ingest.domain.timestamps import InvalidTimestamp, to_epoch_millis, to_iso

CREATE, UPDATE, DELETE, UNDELETE = "CREATE", "UPDATE", "DELETE", "UNDELETE"
GAP_PREFIX = "GAP_"
GAP_OVERFLOW = "GAP_OVERFLOW"
CHANGE_TYPES = (
    {CREATE, UPDATE, DELETE, UNDELETE} | {GAP_PREFIX + t for t in (CREATE, UPDATE, DELETE, UNDELETE)} | {GAP_OVERFLOW}
)
HEADER = "ChangeEventHeader"
COMMIT_TIMESTAMP = "commitTimestamp"


class ChangeEventRejected(ValueError):
    """A change event that cannot be applied as it is; the message names the field and what was expected."""

    def __init__(self, event_id: str, field: str, expected: str, got: Any = None, *, masked: bool = False) -> None:
        self.event_id, self.field, self.expected = event_id, field, expected
        # A masked field's value never goes into a reason (as RecordRejected).
        self.got = None if masked else got
        if masked and got is not None:
            shown = " (the value is not shown: the field is masked)"
        else:
            shown = "" if got is None else f", got {got!r}"
        super().__init__(f"change event {event_id}: field {field!r}: expected {expected}{shown}")

    def without_value(self) -> ChangeEventRejected:
        """The same rejection with the value left out: the field is masked."""
        if self.got is None:
            return self
        return ChangeEventRejected(self.event_id, self.field, self.expected, self.got, masked=True)


@dataclass(frozen=True)
class SalesforceChange:
    """One change event, header read, values separated from it."""

    event_id: str  # the EventBridge event id
    channel: str  # detail-type, e.g. AccountChangeEvent
    object: str  # entityName
    change_type: str
    record_ids: tuple[str, ...]
    values: dict[str, Any]  # the changed fields' values (the body without the header)
    changed_fields: tuple[str, ...]
    nulled_fields: tuple[str, ...]
    diff_fields: tuple[str, ...]
    commit_timestamp: int  # epoch milliseconds
    version: int  # epoch milliseconds: the version field from the body, else commit_timestamp
    version_from: str  # which field gave the version

    @property
    def is_gap(self) -> bool:
        """Whether Salesforce sent a gap event (the values are not in it: the record needs a resync)."""
        return self.change_type.startswith(GAP_PREFIX)

    @property
    def source(self) -> str:
        """Where a written version came from, as the ``source`` of downstream events."""
        return f"cdc://{self.channel}/{self.event_id}"


def _names(header: Mapping[str, Any], field: str, event_id: str) -> tuple[str, ...]:
    value = header.get(field) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ChangeEventRejected(event_id, f"{HEADER}.{field}", "a list of field names", value)
    return tuple(value)


def _record_ids(record_ids: list[str], object_name: str, event_id: str) -> tuple[str, ...]:
    """The ids as the file path keys them: trimmed, canonical (15 lengthened, 18 re-cased), no control characters."""
    field = f"{HEADER}.recordIds"
    ids = []
    for raw in record_ids:
        record_id = raw.strip()
        try:
            if not record_id:
                raise RecordRejected(field, "a non-empty record id", raw)
            check_id_characters(field, record_id)
            record_id = canonical_id(record_id)
            check_key_size(field, object_name, record_id)
        except RecordRejected as error:
            raise ChangeEventRejected(event_id, field, error.expected, error.got) from None
        ids.append(record_id)
    return tuple(dict.fromkeys(ids))


def parse_change_event(
    detail: Mapping[str, Any],
    *,
    event_id: str,
    channel: str,
    version_field: str = "LastModifiedDate",
    not_after: int | None = None,
) -> SalesforceChange:
    """Read an event's detail (header + changed values); raise ChangeEventRejected naming what is wrong.

    ``not_after`` (epoch ms): a version later than this is rejected (clock sanity, as on the file path).
    """
    header = detail.get(HEADER)
    if not isinstance(header, Mapping):
        raise ChangeEventRejected(event_id, HEADER, "an object (the Salesforce change event header)", None)
    change_type = header.get("changeType")
    if change_type not in CHANGE_TYPES:
        raise ChangeEventRejected(event_id, f"{HEADER}.changeType", f"one of {sorted(CHANGE_TYPES)}", change_type)
    object_name = header.get("entityName")
    if not isinstance(object_name, str) or not object_name:
        raise ChangeEventRejected(event_id, f"{HEADER}.entityName", "the Salesforce object name", object_name)
    record_ids = header.get("recordIds") or []
    if not isinstance(record_ids, list) or not all(isinstance(i, str) and i for i in record_ids):
        raise ChangeEventRejected(event_id, f"{HEADER}.recordIds", "a list of record ids", record_ids)
    if not record_ids and change_type != GAP_OVERFLOW:
        raise ChangeEventRejected(event_id, f"{HEADER}.recordIds", "at least one record id", record_ids)
    ids = _record_ids(record_ids, object_name, event_id)
    try:
        commit_timestamp = to_epoch_millis(header.get(COMMIT_TIMESTAMP))
    except InvalidTimestamp:
        raise ChangeEventRejected(
            event_id, f"{HEADER}.{COMMIT_TIMESTAMP}", "epoch milliseconds", header.get(COMMIT_TIMESTAMP)
        ) from None
    values = {name: value for name, value in detail.items() if name != HEADER}
    version, version_from = commit_timestamp, f"{HEADER}.{COMMIT_TIMESTAMP}"
    if values.get(version_field) not in (None, ""):
        try:
            version, version_from = to_epoch_millis(values[version_field]), version_field
        except InvalidTimestamp:
            raise ChangeEventRejected(event_id, version_field, "an ISO-8601 timestamp", values[version_field]) from None
    if not_after is not None and version > not_after and not change_type.startswith(GAP_PREFIX):
        raise ChangeEventRejected(
            event_id,
            version_from,
            f"a version no later than {to_iso(not_after)} (the time it was ingested plus the allowed clock skew, "
            "MAX_VERSION_SKEW_SECONDS): a version in the future would hold back every real update until then",
            values.get(version_field) if version_from == version_field else header.get(COMMIT_TIMESTAMP),
        )
    return SalesforceChange(
        event_id=event_id,
        channel=channel,
        object=object_name,
        change_type=change_type,
        record_ids=ids,
        values=values,
        changed_fields=_names(header, "changedFields", event_id),
        nulled_fields=_names(header, "nulledFields", event_id),
        diff_fields=_names(header, "diffFields", event_id),
        commit_timestamp=commit_timestamp,
        version=version,
        version_from=version_from,
    )


_BUCKET_FIELDS = ("s3Bucket", "bucketName", "bucket", "s3BucketName")
_KEY_FIELDS = ("s3Key", "objectKey", "key", "s3ObjectKey")


def s3_pointer(detail: Mapping[str, Any]) -> tuple[str, str] | None:
    """Where an event too large for EventBridge was put, if this detail is such a pointer.

    The pointer's shape is not documented (docs/appflow.md §4, [U]), so every plausible form is read:
    an ``s3://bucket/key`` URI in any top-level string field, or a bucket field and a key field
    side by side (at the top level or one level down). A detail with a change event header is a
    change event, never a pointer.
    """
    if HEADER in detail:
        return None
    for candidate in (detail, *(v for v in detail.values() if isinstance(v, Mapping))):
        for value in candidate.values():
            if isinstance(value, str) and value.startswith("s3://") and "/" in value[5:]:
                bucket, _, key = value[5:].partition("/")
                return bucket, key
        named_bucket = next((v for f in _BUCKET_FIELDS if isinstance(v := candidate.get(f), str)), None)
        named_key = next((v for f in _KEY_FIELDS if isinstance(v := candidate.get(f), str)), None)
        if named_bucket and named_key:
            return named_bucket, named_key
    return None


def unwrap_pointed_event(document: Any) -> Mapping[str, Any]:
    """The change event detail in an object a pointer names: a whole EventBridge event, or its detail."""
    if isinstance(document, Mapping):
        detail = document.get("detail")
        return detail if isinstance(detail, Mapping) else document
    raise ValueError(f"expected a JSON object (an event or its detail), got {type(document).__name__}")
