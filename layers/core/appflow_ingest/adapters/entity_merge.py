"""Read-modify-write of one entity item, guarded on the version that was read (no lost updates).

Change events carry only the changed fields, so applying one needs the stored record: read it
(strongly consistent), merge, and write only if the item still holds the version that was read.
A concurrent writer (a file chunk, another change event) makes the condition fail and the caller
reads again. The items are the entity store's (``EntityItems``: a record too large for one item
keeps its body in S3, read back here and written before its item), so the table's stream and the
publisher see no difference between the two paths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from appflow_ingest.adapters.entity_store import EntityItems, refusal_from_error, returned_item
from appflow_ingest.adapters.record_bodies import S3RecordBodies
from appflow_ingest.domain.records.body_codec import DEFAULT_COMPRESS_OVER
from appflow_ingest.domain.records.versions import RecordRejected, RecordVersion, entity_key
from appflow_ingest.domain.salesforce.merge import StoredRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutItemInputTypeDef


class DynamoEntityMerger:
    """Reads an entity item and writes its merged successor only if the item still holds the version read."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        bodies: S3RecordBodies | None = None,
        *,
        compress_over: int = DEFAULT_COMPRESS_OVER,
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._items = EntityItems(bodies, compress_over=compress_over)

    def read(self, object_name: str, record_id: str) -> StoredRecord | None:
        """The stored record of one key, read strongly consistent; None if there is none."""
        item = self._dynamodb.get_item(
            TableName=self._table,
            Key={"pk": {"S": entity_key(object_name, record_id)}},
            ConsistentRead=True,
            ProjectionExpression="version, deleted, #r, codec, record_ref, #s",
            ExpressionAttributeNames={"#r": "record", "#s": "source"},
        ).get("Item")
        if not item:
            return None
        record = self._items.record_of(item) or {}
        return StoredRecord(
            int(item["version"]["N"]),
            bool(item.get("deleted", {}).get("BOOL")),
            record,
            item.get("source", {}).get("S"),
        )

    def write_if_unchanged(self, version: RecordVersion, source: str, read_version: int | None) -> bool:
        """Put ``version`` if the item still holds ``read_version`` (None: still absent); False if it moved.

        Raises RecordRejected when DynamoDB refuses the item for its own sake (the event is quarantined).
        """
        prepared = self._items.prepare(version, source)
        if isinstance(prepared, RecordRejected):
            raise prepared
        request: PutItemInputTypeDef = {
            "TableName": self._table,
            "Item": prepared.item,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if read_version is None:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            request["ConditionExpression"] = "version = :read"
            request["ExpressionAttributeValues"] = {":read": {"N": str(read_version)}}
        try:
            self._dynamodb.put_item(**request)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                self._items.release(prepared, returned_item(error.response.get("Item")))
                return False
            refused = refusal_from_error(error)
            if refused is None:
                raise
            self._items.release(prepared)
            raise refused from error
        return True
