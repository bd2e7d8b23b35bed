"""The ``read-first`` write strategy: learn what is stored, write only what is newer, 25 statements a request.

Most versions a full re-load or an overlapping incremental run delivers are already stored, and a
conditional ``PutItem`` that fails its condition still costs the write units of the larger of the
two items. Reading first costs half a read unit per item up to 4 KB (an eventually consistent
``BatchGetItem`` of 100 keys, projected to version and source; the projection saves transfer,
not units), about a tenth of the failed write it avoids. Then:

- stored version equal or newer: nothing is sent (stale). Sound on a stale read: a key's stored
  version never goes down (newest-wins), so what was read is at most what is stored now, and the
  skipped write would have failed its condition;
- key absent: ``INSERT`` (PartiQL), which fails with ``DuplicateItem`` if another writer got
  there first;
- stored version older: ``UPDATE ... WHERE pk = ? AND version < ?``, which fails if the item
  went newer meanwhile (its stored item comes back with ``ALL_OLD``) or does not exist;

25 statements per ``BatchExecuteStatement``, each conditioned on its own and billed as a
standard write (one unit per KB), where ``TransactWriteItems`` bills two. What was read is
only a hint: every statement carries its condition, and a statement whose hint proved wrong
(``DuplicateItem``, an ``UPDATE`` of a missing item) or whose read did not come back goes the
``conditional-put`` way, so a wrong hint costs a unit, never a lost or regressed version.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from appflow_ingest.domain.records import RecordVersion

MAX_READ_KEYS = 100  # DynamoDB's limit per BatchGetItem
MAX_STATEMENTS = 25  # DynamoDB's limit per BatchExecuteStatement
_MAX_ROUNDS = 6  # reads with unprocessed keys, statements refused for capacity: then the fallback
# Per-statement errors worth sending the statement again (capacity, a concurrent transaction).
_RETRYABLE = {"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded", "TransactionConflict",
              "InternalServerError"}  # fmt: skip
# Attributes an item has only sometimes: an UPDATE removes those its new version does not set.
OPTIONAL_ATTRIBUTES = ("codec",)

ABSENT = "absent"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class StoredVersion:
    """What the read found for a key: its version (and the source that wrote it)."""

    version: int
    source: str | None


Hint = StoredVersion | str  # a StoredVersion, ABSENT, or UNKNOWN (the read did not come back)


@dataclass
class Statement:
    """One conditioned PartiQL statement and the version it writes."""

    version: RecordVersion
    text: str
    parameters: list[dict[str, Any]]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ReadFirstWriter:
    """Writes a batch of newest-per-key versions: batched reads, then batched conditioned statements.

    ``to_item`` builds an item from a version and its source (the entity store's); ``put_if_newer``
    is the conditional-put path a statement falls back to, returning True (written), False
    (stale) or None (refused for its size).
    """

    def __init__(
        self,
        dynamodb: Any,
        table: str,
        *,
        pool: ThreadPoolExecutor,
        to_item: Callable[[RecordVersion, str], dict[str, Any]],
        put_if_newer: Callable[[RecordVersion, str], bool | None],
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._pool = pool
        self._to_item = to_item
        self._put_if_newer = put_if_newer
        self._insert_texts: dict[tuple[str, ...], str] = {}
        self._update_texts: dict[tuple[str, ...], str] = {}

    # ------------------------------------------------------------------ reads
    def read_hints(self, keys: Sequence[str]) -> dict[str, Hint]:
        """The stored version of each key (ABSENT, or UNKNOWN where the reads did not come back)."""
        groups = [keys[i : i + MAX_READ_KEYS] for i in range(0, len(keys), MAX_READ_KEYS)]
        hints: dict[str, Hint] = {}
        for found in self._pool.map(self._read_group, groups):
            hints.update(found)
        return hints

    def _read_group(self, keys: Sequence[str]) -> dict[str, Hint]:
        hints: dict[str, Hint] = dict.fromkeys(keys, ABSENT)
        request = {
            self._table: {
                "Keys": [{"pk": {"S": key}} for key in keys],
                "ProjectionExpression": "pk, version, #s",
                "ExpressionAttributeNames": {"#s": "source"},
                # A hint needs no strong consistency (a stale read only costs a failed statement)
                # and an eventually consistent read is half the units.
                "ConsistentRead": False,
            }
        }
        for attempt in range(_MAX_ROUNDS):
            response = self._dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                hints[item["pk"]["S"]] = StoredVersion(int(item["version"]["N"]), item.get("source", {}).get("S"))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return hints
            time.sleep(random.uniform(0, 0.05 * 2**attempt))  # jittered backoff, as botocore does
        for key in request[self._table]["Keys"]:
            hints[key["pk"]["S"]] = UNKNOWN
        return hints

    # ------------------------------------------------------------------ writes
    def write(self, versions: Sequence[RecordVersion], source: str) -> tuple[int, int, list[RecordVersion]]:
        """(written, stale, too large) for ``versions`` (one per key)."""
        hints = self.read_hints([version.key for version in versions])
        written = stale = 0
        statements: list[Statement] = []
        unknown: list[RecordVersion] = []
        for version in versions:
            hint = hints[version.key]
            if hint == UNKNOWN:
                unknown.append(version)
            elif hint == ABSENT:
                statements.append(self._insert(version, source))
            elif isinstance(hint, StoredVersion) and hint.version >= version.version:
                stale += 1  # the stored version never goes down: this write would fail its condition
            else:
                statements.append(self._update(version, source))
        groups = [statements[i : i + MAX_STATEMENTS] for i in range(0, len(statements), MAX_STATEMENTS)]
        fallback = unknown
        for group_written, group_stale, group_fallback in self._pool.map(self._execute, groups):
            written += group_written
            stale += group_stale
            fallback = fallback + group_fallback
        too_large: list[RecordVersion] = []
        for version, result in zip(
            fallback, self._pool.map(lambda v: self._put_if_newer(v, source), fallback), strict=True
        ):
            if result is None:
                too_large.append(version)
            elif result:
                written += 1
            else:
                stale += 1
        return written, stale, too_large

    def _insert(self, version: RecordVersion, source: str) -> Statement:
        item = self._to_item(version, source)
        names = tuple(item)
        text = self._insert_texts.get(names)
        if text is None:
            fields = ", ".join(f"'{name}': ?" for name in names)
            text = self._insert_texts.setdefault(names, f"INSERT INTO {_quoted(self._table)} VALUE {{{fields}}}")
        return Statement(version, text, list(item.values()))

    def _update(self, version: RecordVersion, source: str) -> Statement:
        item = self._to_item(version, source)
        key = item.pop("pk")
        names = tuple(item)
        text = self._update_texts.get(names)
        if text is None:
            sets = " ".join(f"SET {_quoted(name)} = ?" for name in names)
            removes = " ".join(f"REMOVE {_quoted(name)}" for name in OPTIONAL_ATTRIBUTES if name not in item)
            text = self._update_texts.setdefault(
                names,
                f'UPDATE {_quoted(self._table)} {sets} {removes} WHERE "pk" = ? AND "version" < ?'.replace("  ", " "),
            )
        return Statement(version, text, [*item.values(), key, item["version"]])

    def _execute(self, group: list[Statement]) -> tuple[int, int, list[RecordVersion]]:
        """One batch, its statements retried while refused for capacity: (written, stale, to fall back)."""
        written = stale = 0
        fallback: list[RecordVersion] = []
        pending = group
        for attempt in range(_MAX_ROUNDS):
            response = self._dynamodb.batch_execute_statement(
                Statements=[
                    {"Statement": s.text, "Parameters": s.parameters, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
                    for s in pending
                ]
            )
            retry: list[Statement] = []
            for statement, answer in zip(pending, response["Responses"], strict=True):
                error = answer.get("Error")
                if error is None:
                    written += 1
                    continue
                code = error.get("Code")
                if code in _RETRYABLE:
                    retry.append(statement)
                elif code == "ConditionalCheckFailed" and error.get("Item"):
                    # The item went newer (or equal) since it was read: stale, as a put would be.
                    stale += 1
                else:
                    # DuplicateItem (it appeared since it was read), an UPDATE of a missing item, or
                    # a refusal of this item: the conditional put decides, and reports a refusal.
                    fallback.append(statement.version)
            if not retry:
                return written, stale, fallback
            pending = retry
            time.sleep(random.uniform(0, 0.05 * 2**attempt))
        return written, stale, fallback + [statement.version for statement in pending]
