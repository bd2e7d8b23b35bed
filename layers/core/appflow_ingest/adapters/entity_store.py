"""The entity table: newest-wins conditional writes, issued concurrently.

``BatchWriteItem`` cannot carry conditions, so each version is a conditional write: written only
if the item does not exist or holds an older version. Equal or older is a no-op (the condition
fails), so duplicates, retries and out-of-order files cannot regress data, and a tombstone
(``deleted``) keeps an older upsert from resurrecting a deleted record.

Two write strategies (``WRITE_STRATEGY``), the same condition on every item:

- ``conditional-put`` (default): one conditional ``PutItem`` per version, many in flight. One
  request and one standard write per version.
- ``transact``: ``TransactWriteItems`` of up to 100 conditional puts. A transaction is all or
  nothing, so when some conditions fail it is cancelled; its ``CancellationReasons`` say which
  (``ConditionalCheckFailed``: stale, counted) and the others are sent again. About 1/100th of
  the requests, but every item costs two write units (a transactional write), and a batch with
  stale versions costs extra rounds. ``bench/run.py`` measures both.

A record is refused alone, never with its batch (``refusal`` and ``refusal_from_error``: the one
place that decides "this item is refused for its own sake"). What is cheap is checked before the
request (an empty or over-2,048-byte key, an item over 400 KB, a record over the ceiling); what
is not is isolated after it: a per-item ``ValidationException`` of a conditional put refuses that
item, and one that cancels a transaction sends that transaction's items again one conditional put
each, so the 99 good ones are written and the bad one is named. Refused versions are returned
with the field and the limit, for quarantine.

A record over ``INLINE_RECORD_MAX_BYTES`` is stored with its body in S3 (``record_bodies.py``).

Every item carries ``written_by``, a digest of the writer (the chunk); with
``ReturnValuesOnConditionCheckFailure=ALL_OLD`` a failed condition shows what won, so a retry that
meets its own earlier write (same version, same writer) counts it written, not stale.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from botocore.exceptions import ClientError

from appflow_ingest.adapters.record_bodies import S3RecordBodies
from appflow_ingest.domain.records import MAX_KEY_BYTES, RecordRejected, RecordVersion

NEWER_THAN_STORED = "attribute_not_exists(pk) OR version < :version"

CONDITIONAL_PUT = "conditional-put"
TRANSACT = "transact"
WRITE_STRATEGIES = (CONDITIONAL_PUT, TRANSACT)
TRANSACT_MAX_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
# Cancellation reasons worth another round (another writer holds the item, or capacity); any
# other reason raises.
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
_MAX_TRANSACT_ROUNDS = 8
# DynamoDB refuses an item over 400 KB (attribute names and values).
MAX_ITEM_BYTES = 400 * 1024
# A record whose JSON is larger goes to S3 and its item keeps a pointer. Below DynamoDB's item
# limit with room for the other attributes, and below EventBridge's 256 KB: a record kept inline
# always fits its Record Changed event, so every event too large for the bus names an exact,
# immutable body in S3. (It is also cheaper: 240 KB inline is 240 write units a write, an S3 PUT
# costs about the price of eight.)
INLINE_RECORD_MAX_BYTES = 240 * 1024
# The ceiling: a record larger than this is quarantined, not stored. Salesforce caps an object's
# long and rich text areas at 1.6 million characters in total, so a real record stays under ~7 MB
# even in 4-byte UTF-8; 32 MiB is that four times over, and a record is held in memory a few times
# over while it is decoded, ruled and encoded (the ingest function has 1,769 MB).
RECORD_CEILING_BYTES = 32 * 1024 * 1024

WRITTEN, STALE, OURS = "written", "stale", "ours"


class WriteFailed(RuntimeError):
    """Writes that could not be made after retries; the chunk fails and its message is retried."""


@dataclass
class WriteOutcome:
    """What became of a batch: every version is exactly one of written, stale or refused."""

    written: int = 0
    stale: int = 0  # equal (duplicate) or older than what is stored
    refused: list[tuple[RecordVersion, RecordRejected]] = field(default_factory=list)  # not written: quarantine
    # The versions counted written, and among them those whose condition failed on this writer's own
    # earlier write of the same version (a retry): a caller that tracks what it wrote itself may
    # count a repeat of one within its own input as stale instead.
    written_versions: list[RecordVersion] = field(default_factory=list)
    ours: list[RecordVersion] = field(default_factory=list)

    def add(self, version: RecordVersion, result: str | RecordRejected) -> None:
        if isinstance(result, RecordRejected):
            self.refused.append((version, result))
        elif result == STALE:
            self.stale += 1
        else:
            self.written += 1
            self.written_versions.append(version)
            if result == OURS:
                self.ours.append(version)

    def __iadd__(self, other: WriteOutcome) -> WriteOutcome:
        self.written += other.written
        self.stale += other.stale
        self.refused += other.refused
        self.written_versions += other.written_versions
        self.ours += other.ours
        return self

    @property
    def too_large(self) -> list[RecordVersion]:
        """The refused versions (kept for callers of the first version of this API)."""
        return [version for version, _ in self.refused]


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8)."""
    size = 0
    for name, value in item.items():
        ((kind, data),) = value.items()
        size += len(name.encode()) + (1 if kind == "BOOL" else len(str(data).encode()))
    return size


def refusal(item: dict[str, Any]) -> RecordRejected | None:
    """Why DynamoDB would refuse this item for its own sake, checked before any request; None if it would not."""
    key = item["pk"]["S"]
    if not key:
        return RecordRejected("pk", "a non-empty key (DynamoDB refuses an empty partition key)", key)
    key_bytes = len(key.encode())
    if key_bytes > MAX_KEY_BYTES:
        return RecordRejected(
            "pk", f"a key of at most {MAX_KEY_BYTES} bytes in UTF-8 (DynamoDB's partition key limit), got {key_bytes}"
        )
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        return RecordRejected(
            None, f"an item of at most {MAX_ITEM_BYTES // 1024} KB (DynamoDB's item limit), this one is {size} bytes"
        )
    return None


def refusal_from_error(error: ClientError) -> RecordRejected | None:
    """A refusal DynamoDB gave one item after the fact (a ``ValidationException`` of a single-item write)."""
    if error.response.get("Error", {}).get("Code") != "ValidationException":
        return None
    message = error.response["Error"].get("Message", "")
    return RecordRejected(None, f"an item DynamoDB accepts; it refused this one: {message}")


def writer_tag(writer: str) -> str:
    """A short, stable digest of a writer (a chunk id): 12 characters on every item, not the whole id."""
    return base64.urlsafe_b64encode(hashlib.blake2b(writer.encode(), digest_size=9).digest()).decode()


def to_item(
    version: RecordVersion,
    source: str,
    *,
    writer: str | None = None,
    record_json: str | None = None,
    record_ref: str | None = None,
) -> dict[str, Any]:
    """DynamoDB item for a record version; the record travels as JSON text (exact, cheap to encode).

    With ``record_ref`` the record is not in the item: it is the S3 object that URI names.
    """
    item = {
        "pk": {"S": version.key},
        "object": {"S": version.object},
        "record_id": {"S": version.id},
        "version": {"N": str(version.version)},
        "version_iso": {"S": version.version_iso},
        "deleted": {"BOOL": version.deleted},
        "source": {"S": source},
        "written_by": {"S": writer_tag(writer or source)},
    }
    if record_ref is None:
        item["record"] = {"S": record_json if record_json is not None else orjson.dumps(version.record).decode()}
    else:
        item["record_ref"] = {"S": record_ref}
        if record_json is not None:
            item["record_bytes"] = {"N": str(len(record_json.encode()))}
    return item


@dataclass
class PreparedWrite:
    """A version ready to write: its item, and the body written to S3 first when it is too large to inline."""

    version: RecordVersion
    item: dict[str, Any]
    body_ref: str | None = None


class EntityItems:
    """Builds entity items (inline, or with the body in S3 first) and reads their records back."""

    def __init__(self, bodies: S3RecordBodies | None = None) -> None:
        self._bodies = bodies

    def prepare(self, version: RecordVersion, source: str, writer: str | None = None) -> PreparedWrite | RecordRejected:
        """The item to write, the large body already in S3; or why the record cannot be stored."""
        body = orjson.dumps(version.record)
        if len(body) > RECORD_CEILING_BYTES:
            return RecordRejected(
                None,
                f"a record of at most {RECORD_CEILING_BYTES // 2**20} MiB of JSON (the ingest function's ceiling), "
                f"this one is {len(body)} bytes",
            )
        text = body.decode()
        item = to_item(version, source, writer=writer, record_json=text)
        ref = None
        if (len(body) > INLINE_RECORD_MAX_BYTES or item_size(item) > MAX_ITEM_BYTES) and self._bodies is not None:
            refused = refusal({"pk": item["pk"]})  # a key DynamoDB refuses: no body for an item that cannot be
            if refused is not None:
                return refused
            ref = self._bodies.put(version, body)
            item = to_item(version, source, writer=writer, record_json=text, record_ref=ref)
        refused = refusal(item)
        if refused is not None and ref is not None:
            self._bodies.mark_superseded(ref)  # type: ignore[union-attr]
        return refused or PreparedWrite(version, item, ref)

    def release(self, prepared: PreparedWrite, stored: dict[str, Any] | None = None) -> None:
        """The write did not land: tag its S3 body superseded unless the stored item points at that very body."""
        if prepared.body_ref is None or self._bodies is None:
            return
        if stored is not None and stored.get("record_ref", {}).get("S") == prepared.body_ref:
            return
        self._bodies.mark_superseded(prepared.body_ref)

    def record_of(self, item: dict[str, Any]) -> Any:
        """The record an item holds: inline, or read from the S3 body it points at."""
        if "record" in item:
            return orjson.loads(item["record"]["S"])
        if "record_ref" in item and self._bodies is not None:
            return self._bodies.read(item["record_ref"]["S"])
        return None


def _is_own_write(prepared: PreparedWrite, stored: dict[str, Any] | None) -> bool:
    """Whether the stored item is this very write, made earlier by the same writer (a retry met it)."""
    return (
        stored is not None
        and stored.get("version", {}).get("N") == prepared.item["version"]["N"]
        and stored.get("written_by", {}).get("S") == prepared.item["written_by"]["S"]
    )


class DynamoEntityStore:
    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        concurrency: int = 32,
        strategy: str = CONDITIONAL_PUT,
        bodies: S3RecordBodies | None = None,
    ) -> None:
        if strategy not in WRITE_STRATEGIES:
            raise ValueError(f"write strategy: expected one of {', '.join(WRITE_STRATEGIES)}, got {strategy!r}")
        self._dynamodb = dynamodb
        self._table = table
        self._strategy = strategy
        self.items = EntityItems(bodies)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ddb-write")

    def write_newest(
        self, versions: Sequence[RecordVersion], source: str, *, writer: str | None = None
    ) -> WriteOutcome:
        """Write each version that is newer than the stored one. Other errors raise (after botocore retries).

        ``writer`` (the chunk id; ``source`` when omitted) marks the items written, so that a retry
        of the same writer recognizes its own earlier writes.
        """
        if self._strategy == TRANSACT:
            return self._write_transactions(versions, source, writer)
        outcome = WriteOutcome()
        results = self._pool.map(lambda v: self._prepare_and_put(v, source, writer), versions)
        for version, result in zip(versions, results, strict=True):
            outcome.add(version, result)
        return outcome

    # ------------------------------------------------------------------ conditional puts
    def _prepare_and_put(self, version: RecordVersion, source: str, writer: str | None) -> str | RecordRejected:
        prepared = self.items.prepare(version, source, writer)
        if isinstance(prepared, RecordRejected):
            return prepared
        return self._put_if_newer(prepared)

    def _put_if_newer(self, prepared: PreparedWrite) -> str | RecordRejected:
        """WRITTEN, OURS (a retry met its own write), STALE, or why DynamoDB refused this item."""
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=prepared.item,
                ConditionExpression=NEWER_THAN_STORED,
                ExpressionAttributeValues={":version": prepared.item["version"]},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return self._lost(prepared, error.response.get("Item"))
            refused = refusal_from_error(error)
            if refused is None:
                raise
            self.items.release(prepared)
            return refused
        return WRITTEN

    def _lost(self, prepared: PreparedWrite, stored: dict[str, Any] | None) -> str:
        if _is_own_write(prepared, stored):
            return OURS
        self.items.release(prepared, stored)
        return STALE

    # ------------------------------------------------------------------ transactions
    def _write_transactions(self, versions: Sequence[RecordVersion], source: str, writer: str | None) -> WriteOutcome:
        # A transaction may not touch one item twice: keep the newest version of each key, and
        # count the others as stale (they would lose the condition anyway).
        newest: dict[str, RecordVersion] = {}
        for version in versions:
            current = newest.get(version.key)
            if current is None or version.version > current.version:
                newest[version.key] = version
        unique = list(newest.values())
        groups = [unique[i : i + TRANSACT_MAX_ITEMS] for i in range(0, len(unique), TRANSACT_MAX_ITEMS)]
        outcome = WriteOutcome(stale=len(versions) - len(unique))
        for group_outcome in self._pool.map(lambda group: self._transact_if_newer(group, source, writer), groups):
            outcome += group_outcome
        return outcome

    def _transact_if_newer(self, group: list[RecordVersion], source: str, writer: str | None) -> WriteOutcome:
        """One transaction per round; stale items leave it, the rest go again until it commits."""
        outcome, pending = WriteOutcome(), []
        for version in group:
            prepared = self.items.prepare(version, source, writer)
            if isinstance(prepared, RecordRejected):
                outcome.add(version, prepared)
            else:
                pending.append(prepared)
        for attempt in range(_MAX_TRANSACT_ROUNDS):
            if not pending:
                return outcome
            try:
                self._dynamodb.transact_write_items(TransactItems=[self._conditional_put(p) for p in pending])
            except ClientError as error:
                code = error.response["Error"]["Code"]
                reasons = error.response.get("CancellationReasons") or []
                if code == "ValidationException" or any(r.get("Code") == "ValidationError" for r in reasons):
                    # One item refuses the whole transaction and DynamoDB does not always say which:
                    # each goes alone, so only that one is refused and the others are written.
                    for prepared in pending:
                        outcome.add(prepared.version, self._put_if_newer(prepared))
                    return outcome
                if code != "TransactionCanceledException" or len(reasons) != len(pending):
                    raise
                codes = [reason.get("Code", "None") for reason in reasons]
                unexpected = set(codes) - {"None", "ConditionalCheckFailed"} - _RETRYABLE_REASONS
                if unexpected:
                    raise WriteFailed(f"transaction cancelled for {sorted(unexpected)}: {error}") from error
                still = []
                for prepared, reason in zip(pending, reasons, strict=True):
                    if reason.get("Code") == "ConditionalCheckFailed":
                        outcome.add(prepared.version, self._lost(prepared, reason.get("Item")))
                    else:
                        still.append(prepared)
                pending = still
                if any(code in _RETRYABLE_REASONS for code in codes):
                    time.sleep(random.uniform(0, 0.05 * 2**attempt))  # jittered backoff, as botocore does
                continue
            for prepared in pending:
                outcome.add(prepared.version, WRITTEN)
            return outcome
        if pending:
            raise WriteFailed(f"{len(pending)} versions not written after {_MAX_TRANSACT_ROUNDS} transaction rounds")
        return outcome

    def _conditional_put(self, prepared: PreparedWrite) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": prepared.item,
                "ConditionExpression": NEWER_THAN_STORED,
                "ExpressionAttributeValues": {":version": prepared.item["version"]},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
