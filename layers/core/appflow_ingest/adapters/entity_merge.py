"""Read-modify-write of one entity item, guarded on the version that was read (no lost updates).

Change events carry only the changed fields, so applying one needs the stored record: read it
(strongly consistent), merge, and write only if the item still holds the version that was read.
A concurrent writer (a file chunk, another change event) makes the condition fail and the caller
reads again. The item layout is the entity store's (``to_item``), so the table's stream and the
publisher see no difference between the two paths.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from appflow_ingest.adapters.entity_store import to_item
from appflow_ingest.domain.body_codec import DEFAULT_COMPRESS_OVER, record_of_item
from appflow_ingest.domain.records import RecordVersion, entity_key
from appflow_ingest.domain.salesforce_changes import StoredRecord


class DynamoEntityMerger:
    def __init__(self, dynamodb: Any, table: str, *, compress_over: int = DEFAULT_COMPRESS_OVER) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._compress_over = compress_over

    def read(self, object_name: str, record_id: str) -> StoredRecord | None:
        item = self._dynamodb.get_item(
            TableName=self._table,
            Key={"pk": {"S": entity_key(object_name, record_id)}},
            ConsistentRead=True,
            ProjectionExpression="version, deleted, #r, codec",
            ExpressionAttributeNames={"#r": "record"},
        ).get("Item")
        if not item:
            return None
        record = record_of_item(item) or {}
        return StoredRecord(int(item["version"]["N"]), bool(item.get("deleted", {}).get("BOOL")), record)

    def write_if_unchanged(self, version: RecordVersion, source: str, read_version: int | None) -> bool:
        """Put ``version`` if the item still holds ``read_version`` (None: still absent); False if it moved."""
        if read_version is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(read_version)}},
            }
        try:
            item = to_item(version, source, compress_over=self._compress_over)
            self._dynamodb.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
