"""The entity table: newest-wins conditional writes, issued concurrently.

``BatchWriteItem`` cannot carry conditions, so each version is a conditional write: written only
if the item does not exist or holds an older version. Equal or older is a no-op (the condition
fails), so duplicates, retries and out-of-order files cannot regress data, and a tombstone
(``deleted``) keeps an older upsert from resurrecting a deleted record.

Three write strategies (``WRITE_STRATEGY``), the same condition on every item:

- ``read-first`` (default): read the stored versions of the batch (100 keys a request), skip
  what is not newer, and write the rest as conditioned PartiQL statements, 25 a request, at the
  standard price (adapters/read_first_writes.py; docs/cost.md has the measurements).
- ``conditional-put``: one conditional ``PutItem`` per version, many in flight. One
  request and one standard write per version.
- ``transact``: ``TransactWriteItems`` of up to 100 conditional puts. A transaction is all or
  nothing, so when some conditions fail it is cancelled; its ``CancellationReasons`` say which
  (``ConditionalCheckFailed``: stale, counted) and the others are sent again. About 1/100th of
  the requests, but every item costs two write units (a transactional write), and a batch with
  stale versions costs extra rounds. ``bench/run.py`` measures both.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from appflow_ingest.adapters.read_first_writes import ReadFirstWriter
from appflow_ingest.domain.body_codec import DEFAULT_COMPRESS_OVER, body_attributes
from appflow_ingest.domain.records import RecordVersion

NEWER_THAN_STORED = "attribute_not_exists(pk) OR version < :version"

CONDITIONAL_PUT = "conditional-put"
TRANSACT = "transact"
READ_FIRST = "read-first"
WRITE_STRATEGIES = (READ_FIRST, CONDITIONAL_PUT, TRANSACT)
TRANSACT_MAX_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
# Cancellation reasons worth another round (another writer holds the item, or capacity); any
# other reason (ValidationError, ...) is a bug or a bad item and raises.
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
_MAX_TRANSACT_ROUNDS = 8
# DynamoDB refuses an item over 400 KB. Salesforce records with several long text areas (131,072
# characters each, multi-byte) exceed it: such a version is reported, not written, so that one
# record is quarantined instead of its whole chunk failing on every retry until the DLQ.
MAX_ITEM_BYTES = 400 * 1024


class WriteFailed(RuntimeError):
    """Writes that could not be made after retries; the chunk fails and its message is retried."""


@dataclass
class WriteOutcome:
    written: int = 0
    stale: int = 0  # equal (duplicate) or older than what is stored
    too_large: list[RecordVersion] = field(default_factory=list)  # over DynamoDB's item limit: not written

    def __iadd__(self, other: WriteOutcome) -> WriteOutcome:
        self.written += other.written
        self.stale += other.stale
        self.too_large += other.too_large
        return self


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8)."""
    size = 0
    for name, value in item.items():
        ((kind, data),) = value.items()
        size += len(name.encode()) + (1 if kind == "BOOL" else len(data) if kind == "B" else len(str(data).encode()))
    return size


def _too_large(version: RecordVersion, source: str, compress_over: int = DEFAULT_COMPRESS_OVER) -> bool:
    return item_size(to_item(version, source, compress_over=compress_over)) > MAX_ITEM_BYTES


def to_item(version: RecordVersion, source: str, *, compress_over: int = DEFAULT_COMPRESS_OVER) -> dict[str, Any]:
    """DynamoDB item for a record version: the record as JSON text, gzip above ``compress_over`` bytes (domain/body_codec.py)."""
    return {
        "pk": {"S": version.key},
        "object": {"S": version.object},
        "record_id": {"S": version.id},
        "version": {"N": str(version.version)},
        "version_iso": {"S": version.version_iso},
        "deleted": {"BOOL": version.deleted},
        **body_attributes(version.record, compress_over),
        "source": {"S": source},
    }


def _newest_of_each_key(versions: Sequence[RecordVersion]) -> list[RecordVersion]:
    newest: dict[str, RecordVersion] = {}
    for version in versions:
        current = newest.get(version.key)
        if current is None or version.version > current.version:
            newest[version.key] = version
    return list(newest.values())


class DynamoEntityStore:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        concurrency: int = 32,
        strategy: str = READ_FIRST,
        compress_over: int = DEFAULT_COMPRESS_OVER,
    ) -> None:
        if strategy not in WRITE_STRATEGIES:
            raise ValueError(f"write strategy: expected one of {', '.join(WRITE_STRATEGIES)}, got {strategy!r}")
        self._compress_over = compress_over
        self._dynamodb = dynamodb
        self._table = table
        self._strategy = strategy
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ddb-write")
        self._read_first = ReadFirstWriter(
            dynamodb,
            table,
            pool=self._pool,
            to_item=lambda version, source: to_item(version, source, compress_over=compress_over),
            put_if_newer=self._put_if_newer,
        )

    def write_newest(self, versions: Sequence[RecordVersion], source: str) -> WriteOutcome:
        """Write each version that is newer than the stored one. Other errors raise (after botocore retries)."""
        if self._strategy == TRANSACT:
            return self._write_transactions(versions, source)
        if self._strategy == READ_FIRST:
            unique = _newest_of_each_key(versions)  # a BatchGetItem may not name a key twice
            written, stale, too_large = self._read_first.write(unique, source)
            return WriteOutcome(written=written, stale=stale + len(versions) - len(unique), too_large=too_large)
        results = list(self._pool.map(lambda v: self._put_if_newer(v, source), versions))
        too_large = [version for version, result in zip(versions, results, strict=True) if result is None]
        written = results.count(True)
        return WriteOutcome(written=written, stale=results.count(False), too_large=too_large)

    def _put_if_newer(self, version: RecordVersion, source: str) -> bool | None:
        """True: written; False: stale; None: too large for DynamoDB (sized only after it was refused)."""
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=to_item(version, source, compress_over=self._compress_over),
                ConditionExpression=NEWER_THAN_STORED,
                ExpressionAttributeValues={":version": {"N": str(version.version)}},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            if error.response["Error"]["Code"] == "ValidationException" and _too_large(
                version, source, self._compress_over
            ):
                return None
            raise
        return True

    def _write_transactions(self, versions: Sequence[RecordVersion], source: str) -> WriteOutcome:
        # A transaction may not touch one item twice: keep the newest version of each key, and
        # count the others as stale (they would lose the condition anyway).
        unique = _newest_of_each_key(versions)
        groups = [unique[i : i + TRANSACT_MAX_ITEMS] for i in range(0, len(unique), TRANSACT_MAX_ITEMS)]
        outcome = WriteOutcome(stale=len(versions) - len(unique))
        for group_outcome in self._pool.map(lambda group: self._transact_if_newer(group, source), groups):
            outcome += group_outcome
        return outcome

    def _transact_if_newer(self, group: list[RecordVersion], source: str) -> WriteOutcome:
        """One transaction per round; stale items leave it, the rest go again until it commits."""
        outcome, pending = WriteOutcome(), group
        for attempt in range(_MAX_TRANSACT_ROUNDS):
            if not pending:
                return outcome
            try:
                self._dynamodb.transact_write_items(TransactItems=[self._conditional_put(v, source) for v in pending])
            except ClientError as error:
                code = error.response["Error"]["Code"]
                reasons = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]
                if code == "ValidationException" or "ValidationError" in reasons:
                    # An item over the size limit refuses the whole transaction: set it aside, send the rest.
                    oversized = {id(v) for v in pending if _too_large(v, source, self._compress_over)}
                    if not oversized:
                        raise
                    outcome.too_large += [v for v in pending if id(v) in oversized]
                    pending = [v for v in pending if id(v) not in oversized]
                    continue
                if code != "TransactionCanceledException":
                    raise
                if len(reasons) != len(pending):
                    raise
                unexpected = set(reasons) - {"None", "ConditionalCheckFailed"} - _RETRYABLE_REASONS
                if unexpected:
                    raise WriteFailed(f"transaction cancelled for {sorted(unexpected)}: {error}") from error
                outcome.stale += reasons.count("ConditionalCheckFailed")
                pending = [v for v, reason in zip(pending, reasons, strict=True) if reason != "ConditionalCheckFailed"]
                if any(reason in _RETRYABLE_REASONS for reason in reasons):
                    time.sleep(random.uniform(0, 0.05 * 2**attempt))  # jittered backoff, as botocore does
                continue
            outcome.written += len(pending)
            return outcome
        if pending:
            raise WriteFailed(f"{len(pending)} versions not written after {_MAX_TRANSACT_ROUNDS} transaction rounds")
        return outcome

    def _conditional_put(self, version: RecordVersion, source: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item(version, source, compress_over=self._compress_over),
                "ConditionExpression": NEWER_THAN_STORED,
                "ExpressionAttributeValues": {":version": {"N": str(version.version)}},
            }
        }
