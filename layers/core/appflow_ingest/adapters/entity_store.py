"""The entity table: newest-wins conditional writes, issued concurrently.

``BatchWriteItem`` cannot carry conditions, so each version is a conditional ``PutItem``:
written only if the item does not exist or holds an older version. Equal or older is a no-op
(the condition fails), so duplicates, retries and out-of-order files cannot regress data, and a
tombstone (``deleted``) keeps an older upsert from resurrecting a deleted record.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.exceptions import ClientError

from appflow_ingest.domain.records import RecordVersion

NEWER_THAN_STORED = "attribute_not_exists(pk) OR version < :version"


@dataclass
class WriteOutcome:
    written: int = 0
    stale: int = 0  # equal (duplicate) or older than what is stored

    def __iadd__(self, other: WriteOutcome) -> WriteOutcome:
        self.written += other.written
        self.stale += other.stale
        return self


def to_item(version: RecordVersion, source: str) -> dict[str, Any]:
    """DynamoDB item for a record version; the record travels as JSON text (exact, cheap to encode)."""
    return {
        "pk": {"S": version.key},
        "object": {"S": version.object},
        "record_id": {"S": version.id},
        "version": {"N": str(version.version)},
        "version_iso": {"S": version.version_iso},
        "deleted": {"BOOL": version.deleted},
        "record": {"S": orjson.dumps(version.record).decode()},
        "source": {"S": source},
    }


class DynamoEntityStore:
    def __init__(self, dynamodb: Any, table: str, *, concurrency: int = 32) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ddb-write")

    def write_newest(self, versions: Sequence[RecordVersion], source: str) -> WriteOutcome:
        """Write each version that is newer than the stored one. Other errors raise (after botocore retries)."""
        results = list(self._pool.map(lambda v: self._put_if_newer(v, source), versions))
        written = sum(results)
        return WriteOutcome(written=written, stale=len(results) - written)

    def _put_if_newer(self, version: RecordVersion, source: str) -> bool:
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=to_item(version, source),
                ConditionExpression=NEWER_THAN_STORED,
                ExpressionAttributeValues={":version": {"N": str(version.version)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
