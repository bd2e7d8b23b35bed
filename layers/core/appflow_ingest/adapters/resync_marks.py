"""Records that need a resync, one item each in the ledger table (``resync#<Object>#<Id>``).

A GAP event says "something changed, values unknown": the record cannot be written, so it is
marked here for an operator or a resync job (an on-demand AppFlow run of the object) to fetch.
Marks live in the ledger table, not the entity table, so the entity table's stream (the outbox)
carries record changes only. Marking is idempotent per event: the event ids are a string set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appflow_ingest.domain.timestamps import to_iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

WHOLE_OBJECT = "*"  # a GAP_OVERFLOW names no records: the whole object needs a resync


def resync_key(object_name: str, record_id: str) -> str:
    """The ledger-table key of a record's resync mark."""
    return f"resync#{object_name}#{record_id}"


class DynamoResyncMarks:
    """Resync marks in the ledger table: records a GAP event said changed, with unknown values."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def mark(self, object_name: str, record_id: str, *, reason: str, change_type: str, commit_timestamp: int,
             event_id: str) -> None:  # fmt: skip
        """Mark a record (or WHOLE_OBJECT) for resync, once per event id."""
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": {"S": resync_key(object_name, record_id)}},
            UpdateExpression=(
                "SET #o = :object, record_id = :id, reason = :reason, change_type = :type, "
                "first_marked = if_not_exists(first_marked, :iso), last_marked = :iso, "
                "resync_status = :pending ADD event_ids :event"
            ),
            ExpressionAttributeNames={"#o": "object"},
            ExpressionAttributeValues={
                ":object": {"S": object_name},
                ":id": {"S": record_id},
                ":reason": {"S": reason},
                ":type": {"S": change_type},
                ":iso": {"S": to_iso(commit_timestamp)},
                ":pending": {"S": "PENDING"},
                ":event": {"SS": [event_id]},
            },
        )
