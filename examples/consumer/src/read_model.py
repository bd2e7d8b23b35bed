"""The read model: one row per record, the newest version wins, whatever order events arrive in.

EventBridge delivers at least once and in no particular order, and a bootstrap (snapshot or
replay) overlaps the live stream. So a row is written only when its version is newer than the
stored one, in one conditional write (no read-then-write race between concurrent batches); an
equal or older version is a no-op, and a delete is kept as a tombstone so that an older upsert
arriving later cannot bring the record back. ``Record Changed`` and ``Record Snapshot`` carry the
same detail and take this same path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

RECORD_EVENTS = ("Record Changed", "Record Snapshot")
APPLIED = "applied"
STALE = "stale"


class InvalidEvent(ValueError):
    """Not a record event this consumer can apply: retrying will not help (it ends in the DLQ)."""


@dataclass(frozen=True)
class RecordVersion:
    """What a record event says about one record: its version, and its body or tombstone."""

    event_id: str
    object_name: str
    record_id: str
    version: str  # ISO-8601 UTC with milliseconds, fixed width: it sorts as time does
    deleted: bool
    record: dict[str, Any] | None
    record_ref: dict[str, Any] | None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> RecordVersion:
        detail_type = event.get("detail-type")
        if detail_type not in RECORD_EVENTS:
            raise InvalidEvent(f"detail-type {detail_type!r}: this consumer applies {', '.join(RECORD_EVENTS)}")
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            raise InvalidEvent("no detail object")
        missing = [k for k in ("event_id", "object", "id", "version", "change") if not detail.get(k)]
        if missing:
            raise InvalidEvent(f"detail lacks {', '.join(missing)}")
        if detail["change"] not in ("UPSERT", "DELETE"):
            raise InvalidEvent(f"detail.change {detail['change']!r}: expected UPSERT or DELETE")
        return cls(
            event_id=str(detail["event_id"]),
            object_name=str(detail["object"]),
            record_id=str(detail["id"]),
            version=str(detail["version"]),
            deleted=detail["change"] == "DELETE",
            record=detail.get("record"),
            # An event too large for the bus names the item to read instead (see docs/consuming.md).
            record_ref=detail.get("record_ref"),
        )


class ReadModel:
    """The read model's DynamoDB table (``pk`` = ``<object>#<id>``)."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def apply(self, version: RecordVersion) -> str:
        """Store ``version`` if it is newer than the stored one: ``applied``, else ``stale``."""
        item: dict[str, Any] = {
            "pk": {"S": f"{version.object_name}#{version.record_id}"},
            "object": {"S": version.object_name},
            "record_id": {"S": version.record_id},
            "version": {"S": version.version},
            "deleted": {"BOOL": version.deleted},
            "event_id": {"S": version.event_id},
        }
        if version.record is not None:
            item["record"] = {"S": json.dumps(version.record, separators=(",", ":"))}
        if version.record_ref is not None:
            item["record_ref"] = {"S": json.dumps(version.record_ref, separators=(",", ":"))}
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR #version < :version",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":version": {"S": version.version}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return STALE
            raise
        return APPLIED
