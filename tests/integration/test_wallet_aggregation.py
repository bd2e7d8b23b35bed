"""The wallet pass is exact under anything AppFlow and Lambda do, checked against a from-scratch oracle.

Histories of member, purchase and promotion versions (deletes, undeletes, re-parenting, purchases
before their member, amounts as numbers or strings) are written to the entity table through the
real newest-wins store in random order with duplicates; the table's real stream is then delivered
to the aggregator in random batches, out of order and with duplicates. Every member's aggregate
and pass must equal the oracle's, computed from the latest version of every record alone.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.adapters.wallet_store import DynamoWalletStore
from appflow_ingest.domain.records.versions import RecordVersion
from appflow_ingest.domain.wallet import WalletConfig
from appflow_ingest.services.aggregate_wallet import WalletAggregator, aggregate_wallet, source_version
from appflow_local.emulator import moto_dynamodb
from appflow_local.emulator.event_sources import stream_record

TODAY = date(2024, 6, 15)
CONFIG = WalletConfig()  # members: Account; purchases: Opportunity by AccountId; promotions: Promotion__c by Member__c
MEMBERS = [f"0015g00000Mem{n}AAA" for n in range(3)]
WON, LOST = "Closed Won", "Prospecting"


# ------------------------------------------------------------------------------------ moto
@pytest.fixture(scope="module")
def dynamodb(moto_endpoint):
    """A DynamoDB client on the session's moto server, made as atomic as DynamoDB.

    Without appflow_local.emulator.moto_dynamodb, moto loses concurrent writes whatever the client does
    (the concurrency test below then saw spend 591.25 / 854.75 / 787.50 instead of 894.00), so
    it would test moto's races, not our conditions.
    """
    moto_dynamodb.install()
    return boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")


def _tables(dynamodb) -> tuple[str, str, str]:
    """Fresh entity and derived tables (with streams); returns their names and the entity stream's ARN."""
    suffix = uuid.uuid4().hex[:8]
    names = (f"entities-{suffix}", f"derived-{suffix}")
    for name in names:
        dynamodb.create_table(
            TableName=name,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    stream_arn = dynamodb.describe_table(TableName=names[0])["Table"]["LatestStreamArn"]
    return names[0], names[1], stream_arn


def _stream(endpoint: str, stream_arn: str) -> list[dict[str, Any]]:
    """Every record of the entity table's stream, shaped as Lambda delivers them."""
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1")
    records = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return [stream_record(r, stream_arn) for r in records]


# ------------------------------------------------------------------------------------ histories
amounts = st.sampled_from([0, 100, 250.5, "23.0", "499.99", "1000", 1500.25, "", None, "12.345"])
members = st.sampled_from([*MEMBERS, None])
days = st.sampled_from(["2024-06-01", "2024-06-15", "2024-06-20", "2024-07-01"])


@st.composite
def histories(draw) -> list[RecordVersion]:
    """Versions of a few members, purchases and promotions; each record's versions have distinct times."""
    versions: list[RecordVersion] = []

    def times(count: int) -> list[int]:
        return sorted(draw(st.sets(st.integers(1, 50), min_size=count, max_size=count)))

    for member in draw(st.sets(st.sampled_from(MEMBERS), max_size=3)):
        for version in times(draw(st.integers(1, 3))):  # several versions: deleted and undeleted again
            deleted = draw(st.booleans())
            versions.append(RecordVersion("Account", member, version, deleted, {"Id": member, "Name": "M"}))
    for n in range(draw(st.integers(1, 4))):
        purchase = f"0065g00000Pur{n}AAA"
        for version in times(draw(st.integers(1, 4))):  # the member may change: re-parenting
            record = {"Id": purchase, "AccountId": draw(members), "Amount": draw(amounts)}
            record["StageName"] = draw(st.sampled_from([WON, WON, LOST]))
            versions.append(RecordVersion("Opportunity", purchase, version, draw(st.booleans()), record))
    for n in range(draw(st.integers(0, 2))):
        promotion = f"a0P5g00000Pro{n}AAA"
        for version in times(draw(st.integers(1, 3))):
            start, expiry = sorted([draw(days), draw(days)])
            record = {"Id": promotion, "Name": f"Promo {n}", "Member__c": draw(members)}
            record |= {"Start_Date__c": start, "Expiry_Date__c": expiry}
            versions.append(RecordVersion("Promotion__c", promotion, version, draw(st.booleans()), record))
    return versions


def oracle(history: list[RecordVersion]) -> dict[str, dict[str, Any]]:
    """From scratch: the latest version of every record, folded per member. Shares no code with the aggregator."""
    latest: dict[tuple[str, str], RecordVersion] = {}
    for version in history:
        key = (version.object, version.id)
        if key not in latest or version.version > latest[key].version:
            latest[key] = version
    passes: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"spend": Decimal(0), "purchases": 0, "member": False, "promotions": set()}
    )
    for version in latest.values():
        record = version.record
        if version.deleted:
            continue
        if version.object == "Account":
            passes[version.id]["member"] = True
        elif version.object == "Opportunity" and record["AccountId"] and record["StageName"] == WON:
            amount = record["Amount"]
            passes[record["AccountId"]]["spend"] += Decimal(str(amount)) if amount not in (None, "") else 0
            passes[record["AccountId"]]["purchases"] += 1
        elif version.object == "Promotion__c" and record["Member__c"]:
            passes[record["Member__c"]]["promotions"].add(
                (version.id, record["Start_Date__c"] <= TODAY.isoformat() <= record["Expiry_Date__c"])
            )
    return dict(passes)


def expected_tier(spend: Decimal) -> tuple[str, str | None]:
    for name, threshold, next_name, next_threshold in (
        ("Gold", 2000, None, None),
        ("Silver", 500, "Gold", 2000),
        ("Bronze", 0, "Silver", 500),
    ):
        if spend >= threshold:
            return name, (Decimal(next_threshold) - spend if next_name else None)
    return "Bronze", Decimal(500) - spend


def stored_passes(wallet: DynamoWalletStore) -> dict[str, Any]:
    return wallet.read_passes(MEMBERS)


def assert_matches_oracle(wallet: DynamoWalletStore, history: list[RecordVersion]) -> None:
    expected = oracle(history)
    stored = stored_passes(wallet)
    for member in MEMBERS:
        want = expected.get(member, {"spend": Decimal(0), "purchases": 0, "member": False, "promotions": set()})
        got = stored.get(member)
        if got is None:  # never touched: must be the empty aggregate
            assert want == {"spend": Decimal(0), "purchases": 0, "member": False, "promotions": set()}, member
            continue
        derived = got.derived
        assert Decimal(derived["lifetime_spend"]) == want["spend"], member
        assert got.aggregate.sums.get("spend", Decimal(0)) == want["spend"], member
        assert derived["purchases"] == want["purchases"], member
        assert derived["status"] == ("active" if want["member"] else "inactive"), member
        to_next = derived["to_next_tier"] and Decimal(derived["to_next_tier"])
        assert (derived["tier"], to_next) == expected_tier(want["spend"]), member
        assert {p["id"] for p in derived["active_promotions"]} == {p for p, active in want["promotions"] if active}
        assert {k.removeprefix("promotion:") for k in got.aggregate.facts if k.startswith("promotion:")} == {
            p for p, _ in want["promotions"]
        }


# ------------------------------------------------------------------------------------ the property
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories(), seed=st.integers(0, 2**32 - 1))
def test_aggregates_equal_the_oracle_whatever_the_order_and_duplicates(dynamodb, moto_endpoint, history, seed):
    rng = random.Random(seed)
    entity_table, derived_table, stream_arn = _tables(dynamodb)
    entities = DynamoEntityStore(dynamodb, entity_table, concurrency=4)
    wallet = DynamoWalletStore(dynamodb, derived_table)
    aggregator = WalletAggregator(wallet, CONFIG, today=lambda: TODAY)

    # Given the versions written newest-wins in a random order, some of them twice
    deliveries = history + rng.sample(history, k=len(history) // 3)
    rng.shuffle(deliveries)
    for start in range(0, len(deliveries), 3):
        entities.write_newest(deliveries[start : start + 3], source="s3://landing/test")

    # When the stream is delivered in random batches, out of order, some batches again
    records = _stream(moto_endpoint, stream_arn)
    records += rng.sample(records, k=len(records) // 3)
    rng.shuffle(records)
    while records:
        size = rng.randint(1, 6)
        batch, records = records[:size], records[size:]
        assert aggregate_wallet({"Records": batch}, aggregator=aggregator) == {"batchItemFailures": []}

    # Then every member's aggregate and pass is what the latest versions alone give
    assert_matches_oracle(wallet, history)


# ------------------------------------------------------------------------------------ concurrency
def test_parallel_writers_on_one_member_count_every_purchase_exactly_once(dynamodb, moto_endpoint):
    # Given 8 workers, each with its own purchases of the same member, all delivered twice
    _, derived_table, _ = _tables(dynamodb)
    wallet = DynamoWalletStore(dynamodb, derived_table)
    member = MEMBERS[0]
    history = [RecordVersion("Account", member, 1, False, {"Id": member})]
    for worker in range(8):
        for n in range(6):
            purchase = f"0065g0000{worker}Pur{n}AAA"
            amount = f"{worker * 10 + n}.25"
            history.append(
                RecordVersion(
                    "Opportunity", purchase, 1, False, {"AccountId": member, "Amount": amount, "StageName": WON}
                )
            )
            # ... and a later version that moves half of them to another member
            if n % 2:
                history.append(
                    RecordVersion(
                        "Opportunity", purchase, 2, False, {"AccountId": MEMBERS[1], "Amount": amount, "StageName": WON}
                    )
                )

    def source(version: RecordVersion):
        image = {"pk": version.key, "object": version.object, "record_id": version.id, "version": version.version}
        return source_version({**image, "deleted": version.deleted, "record": json.dumps(version.record)}, CONFIG)

    changes = [source(v) for v in history]
    errors: list[BaseException] = []
    retries: list[int] = []
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        aggregator = WalletAggregator(wallet, CONFIG, today=lambda: TODAY, backoff_seconds=0.005, max_attempts=40)
        mine = [c for c in changes if f"0065g0000{worker}" in c.source_key or c.source_key.startswith("Account#")]
        rng = random.Random(worker)
        mine = mine + mine  # every change delivered twice
        rng.shuffle(mine)
        barrier.wait()
        try:
            for start in range(0, len(mine), 2):
                retries.append(aggregator.apply(mine[start : start + 2]).retries)
        except BaseException as error:  # surfaced below, with the thread's failure
            errors.append(error)

    # When they all apply their changes at once, one or two at a time
    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then no delta was lost or counted twice, though the workers did collide
    assert errors == []
    assert sum(retries) > 0
    assert_matches_oracle(wallet, history)
    passes = stored_passes(wallet)
    assert passes[member].derived["purchases"] == 24 and passes[MEMBERS[1]].derived["purchases"] == 24
