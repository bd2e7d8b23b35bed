"""Where "this field has been seen" lives: one item per object and field, written once per deployment.

A conditional put (``attribute_not_exists``) makes the first sighting win exactly once across every
concurrent ingest invocation; the item lands on the derived table's stream, and the publisher turns
its INSERT into one ``Schema Changed`` event (the table is the outbox, as for records).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SCHEMA_KIND = "schema"


def schema_key(object_name: str, field: str) -> str:
    """The derived-table key of one object's field sighting."""
    return f"schema#{object_name}#{field}"


class DynamoSchemaRegistry:
    """Field sightings in the derived table: the first sighting of each field wins exactly once."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def first_sighting(self, object_name: str, field: str) -> bool:
        """Record the field as seen; True only for the one call, deployment-wide, that saw it first."""
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": schema_key(object_name, field)},
                    "kind": {"S": SCHEMA_KIND},
                    "object": {"S": object_name},
                    "field": {"S": field},
                    "first_seen_at": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
