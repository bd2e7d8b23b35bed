"""read-first's reads are only hints: stale, wrong or missing, they cost money, never a version.

The conditional statement is the guard: an INSERT fails on a key another writer created since the
read, an UPDATE fails on an item that went newer or does not exist, and those go the
conditional-put way. These tests make the hint wrong on purpose, against moto over HTTP with
local mode's PartiQL (appflow_local/emulator/moto_partiql.py), and check the table against the model and
every version counted once.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from appflow_ingest.adapters.entity_store import (
    ABSENT,
    UNKNOWN,
    DynamoEntityStore,
    StoredVersion,
)
from appflow_ingest.domain.records.versions import RecordVersion
from appflow_ingest.ports.entities import CONDITIONAL_PUT, READ_FIRST

pytestmark = pytest.mark.integration
SOURCE = "s3://landing/file"


def version(record_id: int, millis: int) -> RecordVersion:
    return RecordVersion("Account", f"001{record_id:015d}", millis, False, {"Id": record_id, "v": millis})


def stored(core_stack) -> dict[str, tuple[int, Any]]:
    ddb, found = core_stack.client("dynamodb"), {}
    for page in ddb.get_paginator("scan").paginate(TableName=core_stack.entity_table):
        for item in page["Items"]:
            found[item["pk"]["S"]] = int(item["version"]["N"])
    return found


def calls(client: Any) -> list[str]:
    seen: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: seen.append(model.name))
    return seen


def test_a_concurrent_writer_between_read_and_write_loses_nothing(core_stack):
    # Given ids 0-9 stored at 1000, and a rival that, right after our read, writes 0-4 at 3000
    # and creates 10-14 at 3000 (keys our read found absent)
    ddb, rival_ddb = core_stack.client("dynamodb"), core_stack.client("dynamodb")
    table = core_stack.entity_table
    DynamoEntityStore(ddb, table, strategy=CONDITIONAL_PUT).write_newest([version(n, 1000) for n in range(10)], SOURCE)
    rival = DynamoEntityStore(rival_ddb, table, strategy=CONDITIONAL_PUT)
    fired = threading.Event()

    def race(**_: Any) -> None:
        if not fired.is_set():
            fired.set()
            rival.write_newest([version(n, 3000) for n in [*range(5), *range(10, 15)]], "s3://landing/rival")

    ddb.meta.events.register("after-call.dynamodb.BatchGetItem", race)
    store = DynamoEntityStore(ddb, table, strategy=READ_FIRST)

    # When we write 0-14 at 2000, believing 0-9 older and 10-14 absent
    outcome = store.write_newest([version(n, 2000) for n in range(15)], SOURCE)

    # Then the rival's newer versions stand, ours land where they are newest, each counted once
    assert fired.is_set()
    assert stored(core_stack) == {version(n, 0).key: 3000 if n < 5 or n >= 10 else 2000 for n in range(15)}
    assert (outcome.written, outcome.stale) == (5, 10)


def test_a_hint_that_says_absent_for_stored_keys_costs_a_fallback_not_a_version(core_stack, monkeypatch):
    ddb = core_stack.client("dynamodb")
    store = DynamoEntityStore(ddb, core_stack.entity_table, strategy=READ_FIRST)
    store.write_newest([version(n, 2000) for n in range(6)], SOURCE)
    # A wrong hint: every key "absent" (newer 0-2, older 3-5 are stored)
    monkeypatch.setattr(store, "read_hints", lambda keys: dict.fromkeys(keys, ABSENT))
    seen = calls(ddb)
    outcome = store.write_newest([version(n, 3000 if n < 3 else 1000) for n in range(6)], SOURCE)
    assert stored(core_stack) == {version(n, 0).key: 3000 if n < 3 else 2000 for n in range(6)}
    assert (outcome.written, outcome.stale) == (3, 3)
    assert seen.count("PutItem") == 6  # every INSERT failed DuplicateItem and went the conditional-put way


def test_a_hint_that_says_older_for_newer_keys_counts_them_stale(core_stack, monkeypatch):
    ddb = core_stack.client("dynamodb")
    store = DynamoEntityStore(ddb, core_stack.entity_table, strategy=READ_FIRST)
    store.write_newest([version(n, 2000) for n in range(4)], SOURCE)
    monkeypatch.setattr(store, "read_hints", lambda keys: dict.fromkeys(keys, StoredVersion(0, None)))
    outcome = store.write_newest([version(n, 1000) for n in range(4)] + [version(9, 1000)], SOURCE)
    # 0-3: the UPDATE's condition fails with the stored item returned (stale); 9: an UPDATE of a
    # missing item fails without one, and the conditional put writes it
    assert stored(core_stack) == {**{version(n, 0).key: 2000 for n in range(4)}, version(9, 0).key: 1000}
    assert (outcome.written, outcome.stale) == (1, 4)


def test_reads_that_never_come_back_fall_back_to_conditional_puts(core_stack):
    ddb = core_stack.client("dynamodb")
    store = DynamoEntityStore(ddb, core_stack.entity_table, strategy=READ_FIRST)
    store.write_newest([version(n, 2000) for n in range(5)], SOURCE)

    def unprocessed(parsed: dict[str, Any], **_: Any) -> None:
        # DynamoDB may return any key unprocessed (capacity); here every key, every time
        for table, found in parsed.get("Responses", {}).items():
            left = parsed.setdefault("UnprocessedKeys", {}).setdefault(
                table,
                {"Keys": [], "ProjectionExpression": "pk, version, written_by"},
            )
            left["Keys"] += [{"pk": item["pk"]} for item in found]
            found.clear()

    ddb.meta.events.register("after-call.dynamodb.BatchGetItem", unprocessed)
    assert set(store.read_hints([version(0, 0).key])) == {version(0, 0).key}
    assert store.read_hints([version(0, 0).key])[version(0, 0).key] == UNKNOWN
    outcome = store.write_newest([version(n, 1000 if n % 2 else 3000) for n in range(5)], SOURCE)
    assert stored(core_stack) == {version(n, 0).key: 2000 if n % 2 else 3000 for n in range(5)}
    assert (outcome.written, outcome.stale) == (3, 2)


def test_concurrent_writers_with_files_out_of_order_end_at_the_newest(core_stack):
    """Four writers (three read-first, one conditional-put) race over shuffled versions of 40 records."""
    rng = random.Random(15)
    versions = [version(n, 1000 * k) for n in range(40) for k in range(1, 6)]
    rng.shuffle(versions)
    files = [versions[i::4] for i in range(4)]
    strategies = [READ_FIRST, READ_FIRST, READ_FIRST, CONDITIONAL_PUT]
    totals: list[tuple[int, int]] = []
    lock = threading.Lock()

    def ingest(file: list[RecordVersion], strategy: str) -> None:
        store = DynamoEntityStore(
            core_stack.client("dynamodb"), core_stack.entity_table, strategy=strategy, concurrency=4
        )
        for first in range(0, len(file), 10):
            outcome = store.write_newest(file[first : first + 10], SOURCE)
            with lock:
                totals.append((outcome.written, outcome.stale))

    threads = [threading.Thread(target=ingest, args=pair) for pair in zip(files, strategies, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stored(core_stack) == {version(n, 0).key: 5000 for n in range(40)}
    assert sum(w + s for w, s in totals) == len(versions)
    assert sum(w for w, _ in totals) >= 40
