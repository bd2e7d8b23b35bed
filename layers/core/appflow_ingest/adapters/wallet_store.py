"""The wallet's state in the derived table: one contribution item per source record, one pass item per member.

``contrib#<Object>#<Id>``: the contribution of the latest version of that record already counted
(``version``, ``contribution`` as JSON). ``pass#<member>``: the member's aggregate (exact
decimals as JSON text), the pass derived from it, and a ``revision`` bumped by every change.

Each commit is one ``TransactWriteItems``: the contribution items conditioned on the version they
were read at, the pass items on the revision they were read at. Either all of it happened or
none did, so a delta is counted exactly once however often a stream record is delivered, and two
workers that read the same member cannot both write (the second one's condition fails; it reads
again and recomputes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zlib import crc32

import orjson
from botocore.exceptions import ClientError

from appflow_ingest.domain.wallet import Aggregate, Contribution
from appflow_ingest.ports.wallet import ContributionWrite, PassWrite, StoredContribution, StoredPass

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        KeysAndAttributesUnionTypeDef,
        PutTypeDef,
        QueryInputTypeDef,
        TransactWriteItemTypeDef,
    )

_BATCH_GET_MAX = 100
# The passes due for re-derivation are found through a sparse index (pass items with a next_change)
# whose partition key is spread over this many values: one value would take every pass write.
REDERIVE_INDEX = "rederive-due"
REDERIVE_SHARDS = 16


def rederive_shard(member: str) -> str:
    """The sparse-index partition a member's due pass is spread to."""
    return f"due#{crc32(member.encode()) % REDERIVE_SHARDS}"


def contribution_key(source_key: str) -> str:
    """The derived-table key of a source record's contribution."""
    return f"contrib#{source_key}"


def pass_key(member: str) -> str:
    """The derived-table key of a member's pass."""
    return f"pass#{member}"


class DynamoWalletStore:
    """The wallet's contributions and passes in the derived table, committed in one transaction."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    # ------------------------------------------------------------------ reads (strongly consistent)
    def read_contributions(self, source_keys: Iterable[str]) -> dict[str, StoredContribution]:
        """The stored contribution of each source key that has one (strongly consistent)."""
        items = self._get([contribution_key(k) for k in source_keys])
        return {
            pk.removeprefix("contrib#"): StoredContribution(
                int(item["version"]["N"]), Contribution.from_json(orjson.loads(item["contribution"]["S"]))
            )
            for pk, item in items.items()
        }

    def read_passes(self, members: Iterable[str]) -> dict[str, StoredPass]:
        """The stored pass of each member that has one (strongly consistent)."""
        items = self._get([pass_key(m) for m in members])
        return {pk.removeprefix("pass#"): _stored_pass(item) for pk, item in items.items()}

    def _get(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _BATCH_GET_MAX):
            request: Mapping[str, KeysAndAttributesUnionTypeDef] = {
                self._table: {
                    "Keys": [{"pk": {"S": k}} for k in unique[start : start + _BATCH_GET_MAX]],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._dynamodb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["pk"]["S"]] = item
                request = response.get("UnprocessedKeys") or {}
        return found

    def due_members(self, today: date) -> Iterator[str]:
        """Members whose pass may change by ``today`` (next_change on or before it), from the sparse index.

        The index is eventually consistent: the caller reads each pass again, strongly, before acting.
        """
        for shard in range(REDERIVE_SHARDS):
            request: QueryInputTypeDef = {
                "TableName": self._table,
                "IndexName": REDERIVE_INDEX,
                "KeyConditionExpression": "due_shard = :shard AND next_change <= :today",
                "ExpressionAttributeValues": {":shard": {"S": f"due#{shard}"}, ":today": {"S": today.isoformat()}},
                "ProjectionExpression": "member_id",
            }
            while True:
                response = self._dynamodb.query(**request)
                for item in response.get("Items", []):
                    yield item["member_id"]["S"]
                if "LastEvaluatedKey" not in response:
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # ------------------------------------------------------------------ the exactly-once commit
    def commit(self, contributions: Sequence[ContributionWrite], passes: Sequence[PassWrite]) -> bool:
        """All of it, or nothing and False when another writer got there first (read again and retry)."""
        actions = [self._put_contribution(c) for c in contributions] + [self._put_pass(p) for p in passes]
        try:
            self._dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("TransactionCanceledException", "TransactionConflictException"):
                return False
            raise
        return True

    def _put_contribution(self, write: ContributionWrite) -> TransactWriteItemTypeDef:
        item = {
            "pk": {"S": contribution_key(write.source_key)},
            "kind": {"S": "contribution"},
            "version": {"N": str(write.version)},
            "contribution": {"S": orjson.dumps(write.contribution.to_json()).decode()},
        }
        return _put_unless_changed(self._table, item, "version", write.read_version)

    def _put_pass(self, write: PassWrite) -> TransactWriteItemTypeDef:
        aggregate = {
            "sums": {k: str(v) for k, v in sorted(write.aggregate.sums.items())},
            "facts": write.aggregate.facts,
        }
        item = {
            "pk": {"S": pass_key(write.member)},
            "kind": {"S": "pass"},
            "member_id": {"S": write.member},
            "revision": {"N": str(write.revision)},
            "aggregate": {"S": orjson.dumps(aggregate, option=orjson.OPT_SORT_KEYS).decode()},
            "pass": {"S": orjson.dumps(write.derived, option=orjson.OPT_SORT_KEYS).decode()},
        }
        if write.next_change is not None:
            item["due_shard"] = {"S": rederive_shard(write.member)}
            item["next_change"] = {"S": write.next_change.isoformat()}
        return _put_unless_changed(self._table, item, "revision", write.read_revision or None)


def _put_unless_changed(
    table: str, item: dict[str, Any], attribute: str, read_value: int | None
) -> TransactWriteItemTypeDef:
    """A transactional Put of ``item`` that fails if ``attribute`` moved since it was read (or, unread, if it exists)."""
    put: PutTypeDef = {"TableName": table, "Item": item}
    if read_value is None:
        put["ConditionExpression"] = "attribute_not_exists(pk)"
    else:
        put["ConditionExpression"] = "#a = :read"
        put["ExpressionAttributeNames"] = {"#a": attribute}
        put["ExpressionAttributeValues"] = {":read": {"N": str(read_value)}}
    return {"Put": put}


def _stored_pass(item: dict[str, Any]) -> StoredPass:
    aggregate = orjson.loads(item["aggregate"]["S"])
    return StoredPass(
        Aggregate(
            item["member_id"]["S"],
            {k: Decimal(v) for k, v in aggregate.get("sums", {}).items()},
            dict(aggregate.get("facts", {})),
        ),
        int(item["revision"]["N"]),
        orjson.loads(item["pass"]["S"]) if "pass" in item else None,
        item["next_change"]["S"] if "next_change" in item else None,
    )
