"""Both write strategies keep newest-wins exactly on moto over HTTP: out of order, duplicated, mixed batches."""

import random

import pytest

from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.domain.records.versions import RecordVersion
from appflow_ingest.ports.entities import CONDITIONAL_PUT, READ_FIRST, TRANSACT, WRITE_STRATEGIES
from appflow_ingest.settings import ConfigurationError, IngestSettings

pytestmark = pytest.mark.integration


def version(record_id: int, millis: int, deleted: bool = False) -> RecordVersion:
    return RecordVersion("Account", f"001{record_id:015d}", millis, deleted, {"Id": record_id, "v": millis})


def stored_versions(core_stack) -> dict[str, int]:
    ddb, stored = core_stack.client("dynamodb"), {}
    for page in ddb.get_paginator("scan").paginate(TableName=core_stack.entity_table):
        for item in page["Items"]:
            stored[item["pk"]["S"]] = int(item["version"]["N"])
    return stored


@pytest.mark.parametrize("strategy", WRITE_STRATEGIES)
def test_out_of_order_and_duplicate_versions_leave_every_record_at_its_newest(core_stack, strategy):
    # Given 50 records with 3 versions each, shuffled, in batches that mix new, stale and
    # repeated versions of one record (a transaction may not hold one item twice).
    rng = random.Random(5)
    versions = [version(n, 1_600_000_000_000 + k * 1000) for n in range(50) for k in range(3)]
    versions += rng.sample(versions, 30)  # exact duplicates
    rng.shuffle(versions)
    store = DynamoEntityStore(core_stack.client("dynamodb"), core_stack.entity_table, concurrency=8, strategy=strategy)

    # When they are written in batches of 120 (up to two transactions each: at most 100 items)
    written = stale = 0
    for first in range(0, len(versions), 120):
        outcome = store.write_newest(versions[first : first + 120], source="s3://landing/file")
        written, stale = written + outcome.written, stale + outcome.stale

    # Then each record holds its newest version, and every version is counted once
    newest = {v.key: max(w.version for w in versions if w.key == v.key) for v in versions}
    assert stored_versions(core_stack) == newest
    assert written + stale == len(versions)
    assert written >= len(newest)


def test_a_transaction_with_stale_items_writes_the_others(core_stack):
    ddb = core_stack.client("dynamodb")
    store = DynamoEntityStore(ddb, core_stack.entity_table, strategy=TRANSACT)
    store.write_newest([version(n, 2000) for n in range(0, 10, 2)], source="first")  # even ids at 2000
    calls = []
    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", lambda **_: calls.append(1))

    outcome = store.write_newest([version(n, 1000) for n in range(10)], source="second")

    # The evens are stale (1000 < 2000): the first round is cancelled naming them, the second commits the odds.
    assert (outcome.written, outcome.stale) == (5, 5)
    assert len(calls) == 2
    assert stored_versions(core_stack) == {version(n, 0).key: 2000 if n % 2 == 0 else 1000 for n in range(10)}


def test_the_strategy_is_configured_and_checked():
    env = {
        "ENTITY_TABLE": "t", "CHUNK_QUEUE_URL": "q", "QUARANTINE_BUCKET": "b", "EVENT_BUS_NAME": "e",
        "RAW_QUARANTINE_BUCKET": "r", "MASKING_KEY_SECRET": "k",
    }  # fmt: skip
    assert IngestSettings.from_env(env).write_strategy == READ_FIRST
    assert IngestSettings.from_env({**env, "WRITE_STRATEGY": "conditional-put"}).write_strategy == CONDITIONAL_PUT
    assert IngestSettings.from_env({**env, "WRITE_STRATEGY": "transact"}).write_strategy == TRANSACT
    with pytest.raises(ConfigurationError, match="WRITE_STRATEGY"):
        IngestSettings.from_env({**env, "WRITE_STRATEGY": "batch"})


def test_transactions_hold_at_most_100_items(core_stack):
    ddb = core_stack.client("dynamodb")
    sizes = []
    ddb.meta.events.register(
        "before-parameter-build.dynamodb.TransactWriteItems",
        lambda params, **_: sizes.append(len(params["TransactItems"])),
    )
    outcome = DynamoEntityStore(ddb, core_stack.entity_table, strategy=TRANSACT).write_newest(
        [version(n, 1000) for n in range(150)], source="s3://landing/file"
    )
    assert (outcome.written, outcome.stale) == (150, 0)
    assert sorted(sizes) == [50, 100]


@pytest.mark.parametrize("strategy", WRITE_STRATEGIES)
def test_a_version_over_dynamodb_s_item_limit_is_reported_and_the_others_written(core_stack, strategy):
    # Salesforce long text areas hold 131,072 characters each: a record can exceed 400 KB, even
    # gzip-compressed when its text is varied (random CJK characters: ~3x the limit, ~1.2x compressed).
    text = "".join(map(chr, random.Random(9).choices(range(0x4E00, 0x9FFF), k=3 * 131_072)))
    big = RecordVersion("Account", "001000000000000BIG", 1000, False, {"Description": text})
    store = DynamoEntityStore(core_stack.client("dynamodb"), core_stack.entity_table, strategy=strategy)
    outcome = store.write_newest([version(1, 1000), big, version(2, 1000)], source="s3://landing/file")
    assert outcome.too_large == [big]
    # moto validates item sizes while it applies a transaction, so the refused first round may
    # leave an item written that the next round then finds stale; AWS refuses it atomically.
    assert outcome.written + outcome.stale == 2 and outcome.written >= (2 if strategy == CONDITIONAL_PUT else 1)
    assert set(stored_versions(core_stack)) == {version(1, 0).key, version(2, 0).key}
