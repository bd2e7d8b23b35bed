"""WalletAggregator against an in-memory wallet store: passes follow the newest version of every record, exactly."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from fakes import MemoryWalletStore

from appflow_ingest.domain.wallet import WalletConfig
from appflow_ingest.services.aggregate_wallet import WalletAggregator, aggregate_wallet, source_version

TODAY = date(2024, 6, 15)
MEMBER, OTHER = "0015g00000Mem0AAA", "0015g00000Mem1AAA"
PURCHASE = "0065g00000Pur0AAA"
_serializer = TypeSerializer()


def image(object_name: str, record_id: str, version: int, record: dict[str, Any], deleted: bool = False) -> dict:
    return {
        "pk": f"{object_name}#{record_id}",
        "object": object_name,
        "record_id": record_id,
        "version": version,
        "deleted": deleted,
        "record": json.dumps({"Id": record_id, **record}),
    }


def member(record_id: str, version: int = 1) -> dict:
    return image("Account", record_id, version, {"Name": "M"})


def purchase(version: int, amount: Any, member_id: str = MEMBER, stage: str = "Closed Won") -> dict:
    return image("Opportunity", PURCHASE, version, {"AccountId": member_id, "Amount": amount, "StageName": stage})


def batch(*images: dict) -> dict[str, Any]:
    """The entity table's stream as Lambda delivers it, one INSERT per new image (sequence numbers 1, 2, ...)."""
    records = []
    for number, new in enumerate(images, start=1):
        dynamodb = {
            "SequenceNumber": str(number),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "Keys": {"pk": {"S": new["pk"]}},
            "NewImage": {key: _serializer.serialize(value) for key, value in new.items()},
        }
        records.append({"eventID": str(number), "eventName": "INSERT", "dynamodb": dynamodb})
    return {"Records": records}


def aggregator(store: MemoryWalletStore, **kw: Any) -> WalletAggregator:
    return WalletAggregator(store, WalletConfig(), today=lambda: TODAY, backoff_seconds=0, **kw)


def spend(store: MemoryWalletStore, member_id: str) -> Decimal | None:
    stored = store.passes.get(member_id)
    return Decimal(stored.derived["lifetime_spend"]) if stored and stored.derived else None


def test_a_won_purchase_counts_for_its_member_once_whatever_the_delivery_order_and_repeats():
    store = MemoryWalletStore()
    wallet = aggregator(store)
    # A purchase before its member, then the member, then the purchase again (a duplicate delivery)
    assert aggregate_wallet(batch(purchase(1, 100), member(MEMBER), purchase(1, 100)), aggregator=wallet) == {
        "batchItemFailures": []
    }
    assert spend(store, MEMBER) == Decimal(100)
    assert store.passes[MEMBER].derived["status"] == "active"
    # An older version delivered late changes nothing; a newer one replaces the purchase's amount
    aggregate_wallet(batch(purchase(3, 250)), aggregator=wallet)
    aggregate_wallet(batch(purchase(2, 999)), aggregator=wallet)
    assert spend(store, MEMBER) == Decimal(250)


def test_a_purchase_moved_to_another_member_leaves_the_first_and_counts_for_the_second():
    store = MemoryWalletStore()
    wallet = aggregator(store)
    aggregate_wallet(batch(member(MEMBER), member(OTHER), purchase(1, 100)), aggregator=wallet)
    aggregate_wallet(batch(purchase(2, 100, member_id=OTHER)), aggregator=wallet)
    assert (spend(store, MEMBER), spend(store, OTHER)) == (Decimal(0), Decimal(100))


def test_the_report_counts_applied_stale_and_retried_changes():
    store = MemoryWalletStore()
    wallet = aggregator(store)
    aggregate_wallet(batch(member(MEMBER)), aggregator=wallet)
    store.conflicts = 1  # the next commit loses to another writer
    config = WalletConfig()
    changes = [source_version(purchase(2, 50), config), source_version(purchase(1, 10), config)]
    report = wallet.apply([change for change in changes if change is not None])
    # The older of two versions in one batch is stale; the newer is applied after one lost race
    assert (report.changes, report.applied, report.stale, report.retries) == (2, 1, 1, 1)
    assert report.passes_written == {MEMBER}
    assert spend(store, MEMBER) == Decimal(50)


def test_a_race_lost_every_time_fails_the_batch_from_its_first_record_for_a_retry():
    store = MemoryWalletStore(conflicts=100)
    wallet = aggregator(store, max_attempts=3)
    result = aggregate_wallet(batch(member(MEMBER), purchase(1, 100)), aggregator=wallet)
    assert result == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert store.commits == 0 and store.passes == {}


def test_an_unreadable_stream_record_is_reported_and_what_came_before_it_is_applied():
    store = MemoryWalletStore()
    broken = {**purchase(1, 100), "version": "not a number"}
    result = aggregate_wallet(batch(member(MEMBER), broken), aggregator=aggregator(store))
    assert result == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert MEMBER in store.passes and spend(store, MEMBER) == Decimal(0)
