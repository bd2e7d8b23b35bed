"""The entity table: newest-wins conditional writes, issued concurrently.

``BatchWriteItem`` cannot carry conditions, so each version is a conditional write: written only
if the item does not exist or holds an older version. Equal or older is a no-op (the condition
fails), so duplicates, retries and out-of-order files cannot regress data, and a tombstone
(``deleted``) keeps an older upsert from resurrecting a deleted record.

Three write strategies (``WRITE_STRATEGY``), the same condition on every item:

- ``read-first`` (default): read the stored versions of the batch first (``BatchGetItem``, 100
  keys a request, projected to version and writer), send nothing for a version that is not newer,
  and write the rest as individually conditioned PartiQL statements, 25 a
  ``BatchExecuteStatement``, at the standard price. What was read is only a hint; the statement's
  condition is the guard (below; docs/cost.md has the measurements).
- ``conditional-put``: one conditional ``PutItem`` per version, many in flight. One request and
  one standard write per version, paid in full even when the condition fails.
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

A record over ``INLINE_RECORD_MAX_BYTES`` is stored with its body in S3 (``record_bodies.py``); a
smaller one over ``compress_over`` bytes is stored gzip-compressed in its item
(domain/records/body_codec.py). ``EntityItems.prepare`` decides both, for every strategy and the change path.

read-first, in detail. Reading costs half a read unit per item up to 4 KB (eventually consistent),
about a tenth of the failed conditional write it avoids on a re-load. Then, per version:

- stored version newer, or equal from another writer: nothing is sent (stale). Sound on a stale
  read: a key's stored version never goes down (newest-wins), so the skipped write would have
  failed its condition. Equal and written by this writer: a retry meeting its own write (``ours``);
- key absent: ``INSERT``, which fails with ``DuplicateItem`` if another writer got there first;
- stored version older: ``UPDATE ... WHERE pk = ? AND version < ?``, which fails if the item went
  newer meanwhile (the stored item comes back with ``ALL_OLD``) or does not exist. It sets every
  attribute of the new item and removes the body attributes the new item lacks (an inline version
  after an S3 one, a plain one after a compressed one);

A version refused for its own sake (key, size, ceiling) is refused before any read, as in the
other strategies, and its S3 body is written only once the read says it will be sent. A statement
whose hint proved wrong (``DuplicateItem``, an ``UPDATE`` of a missing item), whose read did not
come back, or that DynamoDB refused (a per-statement ``ValidationError``, or the whole request)
goes the ``conditional-put`` way: a wrong hint costs a write, never a lost or regressed version.

Every item carries ``written_by``, a digest of the writer (the chunk); with
``ReturnValuesOnConditionCheckFailure=ALL_OLD`` a failed condition shows what won, so a retry that
meets its own earlier write (same version, same writer) counts it written, not stale.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import ClientError

from appflow_ingest.domain.records.body_codec import DEFAULT_COMPRESS_OVER, json_body_attributes, record_of_item
from appflow_ingest.domain.records.versions import MAX_KEY_BYTES, RecordRejected, RecordVersion
from appflow_ingest.ports.entities import (
    MAX_ITEM_BYTES,
    OURS,
    READ_FIRST,
    STALE,
    TRANSACT,
    WRITE_STRATEGIES,
    WRITTEN,
    RecordBodies,
    WriteFailed,
    WriteOutcome,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        BatchStatementRequestTypeDef,
        KeysAndAttributesOutputTypeDef,
        KeysAndAttributesUnionTypeDef,
        TransactWriteItemTypeDef,
    )

NEWER_THAN_STORED = "attribute_not_exists(pk) OR version < :version"

TRANSACT_MAX_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
MAX_READ_KEYS = 100  # DynamoDB's limit per BatchGetItem
MAX_STATEMENTS = 25  # DynamoDB's limit per BatchExecuteStatement
# Cancellation reasons (and per-statement errors) worth another round (another writer holds the
# item, or capacity); any other reason raises (transactions) or goes the conditional-put way.
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
_MAX_TRANSACT_ROUNDS = 8
_MAX_READ_FIRST_ROUNDS = 6  # reads with unprocessed keys, statements refused for capacity: then the fallback
# The attributes that hold a record's body; an UPDATE removes those its new item lacks.
BODY_ATTRIBUTES = ("record", "codec", "record_ref", "record_bytes")
# DynamoDB refuses an item over 400 KB (attribute names and values).
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


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: attribute names plus values (strings in UTF-8)."""
    size = 0
    for name, value in item.items():
        ((kind, data),) = value.items()
        size += len(name.encode()) + (1 if kind == "BOOL" else len(data) if kind == "B" else len(str(data).encode()))
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


def returned_item(item: object) -> dict[str, Any] | None:
    """The stored item a failed condition sent back (``ReturnValuesOnConditionCheckFailure``), or None.

    It is the item's attribute map; botocore's stubs call it ``object`` in ``ClientError.response``
    and a key/value pair in a cancellation reason, hence the check rather than a cast.
    """
    return item if isinstance(item, dict) else None


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
    record_json: str | bytes | None = None,
    record_ref: str | None = None,
    compress_over: int = DEFAULT_COMPRESS_OVER,
) -> dict[str, Any]:
    """DynamoDB item for a record version; the record travels as JSON text (exact, cheap to encode).

    The body is gzip above ``compress_over`` bytes of JSON (domain/records/body_codec.py). With
    ``record_ref`` the record is not in the item: it is the S3 object that URI names.
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
    body = record_json.encode() if isinstance(record_json, str) else record_json
    if record_ref is None:
        item.update(json_body_attributes(body if body is not None else orjson.dumps(version.record), compress_over))
    else:
        item["record_ref"] = {"S": record_ref}
        if body is not None:
            item["record_bytes"] = {"N": str(len(body))}
    return item


@dataclass
class PreparedWrite:
    """A version ready to write: its item, and the body written to S3 first when it is too large to inline."""

    version: RecordVersion
    item: dict[str, Any]
    body_ref: str | None = None
    pending_body: bytes | None = None  # drafted, not yet in S3 (EntityItems.store_body)


class EntityItems:
    """Builds entity items (inline, compressed, or with the body in S3 first) and reads their records back."""

    def __init__(self, bodies: RecordBodies | None = None, *, compress_over: int = DEFAULT_COMPRESS_OVER) -> None:
        self._bodies = bodies
        self._compress_over = compress_over

    def draft(self, version: RecordVersion, source: str, writer: str | None = None) -> PreparedWrite | RecordRejected:
        """The item to write, nothing written yet (``store_body`` writes a large body to S3); or why it cannot be stored.

        Every refusal ``prepare`` makes is made here, before any request.
        """
        body = orjson.dumps(version.record)
        if len(body) > RECORD_CEILING_BYTES:
            return RecordRejected(
                None,
                f"a record of at most {RECORD_CEILING_BYTES // 2**20} MiB of JSON (the ingest function's ceiling), "
                f"this one is {len(body)} bytes",
            )
        if self._bodies is not None and len(body) > INLINE_RECORD_MAX_BYTES:
            # Decided on the JSON's size, not the compressed one: a body kept inline always fits
            # its Record Changed event in plain JSON, so an event too large names an S3 body.
            return _for_s3(self._bodies, version, source, writer, body)
        item = to_item(version, source, writer=writer, record_json=body, compress_over=self._compress_over)
        if self._bodies is not None and item_size(item) > MAX_ITEM_BYTES:
            return _for_s3(self._bodies, version, source, writer, body)
        return refusal(item) or PreparedWrite(version, item)

    def store_body(self, prepared: PreparedWrite) -> PreparedWrite:
        """Write the prepared version's S3 body, if it has one waiting, and point its item at it."""
        if prepared.pending_body is None:
            return prepared
        if self._bodies is None:  # only _for_s3 leaves a body pending, and only with a body store
            raise RuntimeError(f"{prepared.version.key}: a body to store in S3 but no body store")
        prepared.body_ref = self._bodies.put(prepared.version, prepared.pending_body)
        prepared.pending_body = None
        return prepared

    def prepare(self, version: RecordVersion, source: str, writer: str | None = None) -> PreparedWrite | RecordRejected:
        """The item to write, the large body already in S3; or why the record cannot be stored."""
        drafted = self.draft(version, source, writer)
        return drafted if isinstance(drafted, RecordRejected) else self.store_body(drafted)

    def release(self, prepared: PreparedWrite, stored: dict[str, Any] | None = None) -> None:
        """The write did not land: tag its S3 body superseded unless the stored item points at that very body."""
        if prepared.body_ref is None or self._bodies is None:
            return
        if stored is not None and stored.get("record_ref", {}).get("S") == prepared.body_ref:
            return
        self._bodies.mark_superseded(prepared.body_ref)

    def record_of(self, item: dict[str, Any]) -> Any:
        """The record an item holds: inline (JSON text or gzip), or read from the S3 body it points at."""
        return record_of_item(item, self._bodies.read if self._bodies is not None else None)


def _newest_of_each_key(versions: Sequence[RecordVersion]) -> list[RecordVersion]:
    newest: dict[str, RecordVersion] = {}
    for version in versions:
        current = newest.get(version.key)
        if current is None or version.version > current.version:
            newest[version.key] = version
    return list(newest.values())


@dataclass(frozen=True)
class StoredVersion:
    """What read-first's read found for a key: its version and the digest of the writer that wrote it."""

    version: int
    written_by: str | None


ABSENT, UNKNOWN = "absent", "unknown"  # the read found no item; the read did not come back
Hint = StoredVersion | str


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _for_s3(
    bodies: RecordBodies, version: RecordVersion, source: str, writer: str | None, body: bytes
) -> PreparedWrite | RecordRejected:
    """The item pointing at the record's S3 body (written later, by ``store_body``), or why the item is refused."""
    ref = bodies.uri_for(version, body)
    item = to_item(version, source, writer=writer, record_json=body, record_ref=ref)
    refused = refusal(item)  # a key DynamoDB refuses: no body for an item that cannot be
    return refused or PreparedWrite(version, item, pending_body=body)


def _is_own_write(prepared: PreparedWrite, stored: dict[str, Any] | None) -> bool:
    """Whether the stored item is this very write, made earlier by the same writer (a retry met it)."""
    return (
        stored is not None
        and stored.get("version", {}).get("N") == prepared.item["version"]["N"]
        and stored.get("written_by", {}).get("S") == prepared.item["written_by"]["S"]
    )


class DynamoEntityStore:
    """The entity table in DynamoDB (``ports.entities.EntityStore``): newest-wins writes by the configured strategy."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        table: str,
        *,
        concurrency: int = 32,
        strategy: str = READ_FIRST,
        bodies: RecordBodies | None = None,
        compress_over: int = DEFAULT_COMPRESS_OVER,
    ) -> None:
        if strategy not in WRITE_STRATEGIES:
            raise ValueError(f"write strategy: expected one of {', '.join(WRITE_STRATEGIES)}, got {strategy!r}")
        self._dynamodb = dynamodb
        self._table = table
        self._strategy = strategy
        self.items = EntityItems(bodies, compress_over=compress_over)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ddb-write")
        self._statement_texts: dict[tuple[str, ...], str] = {}

    def write_newest(
        self, versions: Sequence[RecordVersion], source: str, *, writer: str | None = None
    ) -> WriteOutcome:
        """Write each version that is newer than the stored one. Other errors raise (after botocore retries).

        ``writer`` (the chunk id; ``source`` when omitted) marks the items written, so that a retry
        of the same writer recognizes its own earlier writes.
        """
        if self._strategy == TRANSACT:
            return self._write_transactions(versions, source, writer)
        if self._strategy == READ_FIRST:
            return self._write_read_first(versions, source, writer)
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
                return self._lost(prepared, returned_item(error.response.get("Item")))
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

    # ------------------------------------------------------------------ read-first
    def _write_read_first(self, versions: Sequence[RecordVersion], source: str, writer: str | None) -> WriteOutcome:
        # A BatchGetItem may not name a key twice: the newest version of each key, the others stale.
        unique = _newest_of_each_key(versions)
        outcome = WriteOutcome(stale=len(versions) - len(unique))
        drafts: list[PreparedWrite] = []
        for version in unique:
            drafted = self.items.draft(version, source, writer)
            if isinstance(drafted, RecordRejected):
                outcome.add(version, drafted)  # refused before any read, as the other strategies do
            else:
                drafts.append(drafted)
        hints = self.read_hints([d.item["pk"]["S"] for d in drafts])
        statements: list[PreparedWrite] = []
        fallback: list[PreparedWrite] = []
        for drafted in drafts:
            hint = hints[drafted.item["pk"]["S"]]
            if isinstance(hint, StoredVersion) and hint.version >= drafted.version.version:
                # The stored version never goes down: this write would fail its condition.
                own = hint.version == drafted.version.version and hint.written_by == drafted.item["written_by"]["S"]
                outcome.add(drafted.version, OURS if own else STALE)
            elif hint == UNKNOWN:
                fallback.append(drafted)
            else:
                statements.append(drafted)
        # Bodies too large for an item go to S3 only now, for the versions that will be sent.
        sent = [p for p in (statements + fallback) if p.pending_body is not None]
        list(self._pool.map(self.items.store_body, sent))
        groups = [statements[i : i + MAX_STATEMENTS] for i in range(0, len(statements), MAX_STATEMENTS)]
        for group_outcome, group_fallback in self._pool.map(lambda g: self._execute(g, hints), groups):
            outcome += group_outcome
            fallback += group_fallback
        for prepared, result in zip(fallback, self._pool.map(self._put_if_newer, fallback), strict=True):
            outcome.add(prepared.version, result)
        return outcome

    def read_hints(self, keys: Sequence[str]) -> dict[str, Hint]:
        """The stored version of each key: a StoredVersion, ABSENT, or UNKNOWN where the reads did not come back."""
        groups = [keys[i : i + MAX_READ_KEYS] for i in range(0, len(keys), MAX_READ_KEYS)]
        hints: dict[str, Hint] = {}
        for found in self._pool.map(self._read_group, groups):
            hints.update(found)
        return hints

    def _read_group(self, keys: Sequence[str]) -> dict[str, Hint]:
        hints: dict[str, Hint] = dict.fromkeys(keys, ABSENT)
        request: Mapping[str, KeysAndAttributesUnionTypeDef] = {
            self._table: {
                "Keys": [{"pk": {"S": key}} for key in keys],
                "ProjectionExpression": "pk, version, written_by",
                # A hint needs no strong consistency (a stale read costs a failed statement, never
                # a version) and an eventually consistent read is half the units.
                "ConsistentRead": False,
            }
        }
        unprocessed: dict[str, KeysAndAttributesOutputTypeDef] = {}
        for attempt in range(_MAX_READ_FIRST_ROUNDS):
            response = self._dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                hints[item["pk"]["S"]] = StoredVersion(int(item["version"]["N"]), item.get("written_by", {}).get("S"))
            request = unprocessed = response.get("UnprocessedKeys") or {}
            if not unprocessed:
                return hints
            time.sleep(random.uniform(0, 0.05 * 2**attempt))  # jittered backoff, as botocore does
        for key in unprocessed[self._table]["Keys"]:
            hints[key["pk"]["S"]] = UNKNOWN
        return hints

    def _statement(self, prepared: PreparedWrite, hint: Hint) -> BatchStatementRequestTypeDef:
        """The conditioned PartiQL statement for a version: INSERT where the read found no item, else UPDATE."""
        item = prepared.item
        names = tuple(item)
        insert = hint == ABSENT
        text = self._statement_texts.get((str(insert), *names))
        if text is None:
            table = _quoted(self._table)
            if insert:
                fields = ", ".join(f"'{name}': ?" for name in names)
                text = f"INSERT INTO {table} VALUE {{{fields}}}"
            else:
                sets = " ".join(f"SET {_quoted(name)} = ?" for name in names if name != "pk")
                removes = "".join(f" REMOVE {_quoted(name)}" for name in BODY_ATTRIBUTES if name not in item)
                text = f'UPDATE {table} {sets}{removes} WHERE "pk" = ? AND "version" < ?'
            self._statement_texts[(str(insert), *names)] = text
        if insert:
            parameters = list(item.values())
        else:
            parameters = [value for name, value in item.items() if name != "pk"] + [item["pk"], item["version"]]
        return {"Statement": text, "Parameters": parameters, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}

    def _execute(self, group: list[PreparedWrite], hints: dict[str, Hint]) -> tuple[WriteOutcome, list[PreparedWrite]]:
        """One BatchExecuteStatement, statements refused for capacity sent again: (its outcome, those to put instead)."""
        outcome, pending = WriteOutcome(), group
        fallback: list[PreparedWrite] = []
        for attempt in range(_MAX_READ_FIRST_ROUNDS):
            try:
                response = self._dynamodb.batch_execute_statement(
                    Statements=[self._statement(p, hints[p.item["pk"]["S"]]) for p in pending]
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ValidationException":
                    raise
                # The request as a whole refused (DynamoDB does not always say for which
                # statement): each goes alone, so only a bad one is refused.
                return outcome, fallback + pending
            retry: list[PreparedWrite] = []
            for prepared, answer in zip(pending, response["Responses"], strict=True):
                failure = answer.get("Error")
                if failure is None:
                    outcome.add(prepared.version, WRITTEN)
                elif failure.get("Code") in _RETRYABLE_REASONS:
                    retry.append(prepared)
                elif failure.get("Code") == "ConditionalCheckFailed" and failure.get("Item"):
                    # The item went newer (or equal) since it was read, or holds this writer's own write.
                    outcome.add(prepared.version, self._lost(prepared, failure["Item"]))
                else:
                    # DuplicateItem (created since the read), an UPDATE of a missing item, or a
                    # refusal of this item: the conditional put decides, and names a refusal.
                    fallback.append(prepared)
            if not retry:
                return outcome, fallback
            pending = retry
            time.sleep(random.uniform(0, 0.05 * 2**attempt))  # jittered backoff, as botocore does
        return outcome, fallback + pending

    # ------------------------------------------------------------------ transactions
    def _write_transactions(self, versions: Sequence[RecordVersion], source: str, writer: str | None) -> WriteOutcome:
        # A transaction may not touch one item twice: keep the newest version of each key, and
        # count the others as stale (they would lose the condition anyway).
        unique = _newest_of_each_key(versions)
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
                        outcome.add(prepared.version, self._lost(prepared, returned_item(reason.get("Item"))))
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

    def _conditional_put(self, prepared: PreparedWrite) -> TransactWriteItemTypeDef:
        return {
            "Put": {
                "TableName": self._table,
                "Item": prepared.item,
                "ConditionExpression": NEWER_THAN_STORED,
                "ExpressionAttributeValues": {":version": prepared.item["version"]},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
