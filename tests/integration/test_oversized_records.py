"""Records too large for one DynamoDB item: body in S3 first, the item points at it; refusals isolated per item.

Against moto's server over HTTP: the entity store with both write strategies, the publisher that
tags replaced bodies, the change-event merge that reads and writes bodies.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import orjson
import pytest

from appflow_ingest.adapters.entity_merge import DynamoEntityMerger
from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.adapters.record_bodies import S3RecordBodies
from appflow_ingest.domain.records.versions import RecordVersion
from appflow_ingest.domain.wallet import WalletConfig
from appflow_ingest.ports.entities import CONDITIONAL_PUT, READ_FIRST, WRITE_STRATEGIES
from appflow_ingest.services.aggregate_wallet import source_version
from appflow_ingest.services.publish_events import publish_record_events
from appflow_local.stack.template import load_yaml

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
BIG = "é" * 150_000  # 300 KB of UTF-8: over the 240 KB kept inline, under DynamoDB's 400 KB


def account(n: int, millis: int, **fields) -> RecordVersion:
    record_id = f"001{n:015d}"
    return RecordVersion("Account", record_id, millis, False, {"Id": record_id, "LastModifiedDate": millis, **fields})


@pytest.fixture
def bodies(core_stack) -> S3RecordBodies:
    s3 = core_stack.client("s3")
    bucket = f"bodies-{core_stack.entity_table[-8:]}"
    s3.create_bucket(Bucket=bucket)
    return S3RecordBodies(s3, bucket)


def item(core_stack, version: RecordVersion) -> dict:
    return core_stack.client("dynamodb").get_item(TableName=core_stack.entity_table, Key={"pk": {"S": version.key}})[
        "Item"
    ]


def tags(core_stack, uri: str) -> dict[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    tag_set = core_stack.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def stream_event(core_stack) -> dict:
    """Every record of the entity table's stream so far, as Lambda delivers them."""
    ddb, streams = core_stack.client("dynamodb"), core_stack.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=core_stack.entity_table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    # As Lambda's JSON event holds them: binary attributes (compressed bodies) base64-encoded
    as_lambda = json.loads(
        json.dumps(records, default=lambda o: base64.b64encode(o).decode() if isinstance(o, bytes) else str(o))
    )
    return {"Records": [{**r, "eventSourceARN": arn} for r in as_lambda]}


@pytest.mark.parametrize("strategy", WRITE_STRATEGIES)
def test_a_large_record_is_stored_with_its_body_in_s3_and_its_item_points_at_it(core_stack, bodies, strategy):
    store = DynamoEntityStore(core_stack.client("dynamodb"), core_stack.entity_table, strategy=strategy, bodies=bodies)
    big, small = account(1, 1000, Description=BIG), account(2, 1000)
    outcome = store.write_newest([big, small], source="s3://landing/f", writer="chunk-a")
    assert (outcome.written, outcome.stale, outcome.refused) == (2, 0, [])

    stored = item(core_stack, big)
    assert "record" not in stored and stored["version"]["N"] == "1000" and stored["deleted"]["BOOL"] is False
    assert bodies.read(stored["record_ref"]["S"]) == big.record  # the whole record, from S3
    assert store.items.record_of(stored) == big.record
    assert "record" in item(core_stack, small)  # a small record stays inline

    # A retry of the same chunk meets its own write: written, not stale, and the body is the same object
    again = store.write_newest([big], source="s3://landing/f", writer="chunk-a")
    assert (again.written, again.stale, [v.id for v in again.ours]) == (1, 0, [big.id])
    assert tags(core_stack, stored["record_ref"]["S"]) == {}  # in use: never tagged


def test_a_losing_large_write_tags_its_own_body_and_a_replaced_body_is_tagged_by_the_publisher(core_stack, bodies):
    store = DynamoEntityStore(
        core_stack.client("dynamodb"), core_stack.entity_table, strategy=CONDITIONAL_PUT, bodies=bodies
    )
    v1, v2, late = account(1, 1000, Description=BIG), account(1, 2000, Description="small now"), None
    store.write_newest([v1], source="s3://landing/f1")
    first_body = item(core_stack, v1)["record_ref"]["S"]
    store.write_newest([v2], source="s3://landing/f2")

    # An older, large version arriving late loses: its body, just written, is tagged at once
    late = account(1, 1500, Description=BIG + "x")
    assert store.write_newest([late], source="s3://landing/f3").stale == 1
    late_body = f"s3://{bodies._bucket}/{bodies.key_for(late, orjson.dumps(late.record))}"
    assert tags(core_stack, late_body) == {"superseded": "true"}
    # read-first reads first: an older version it will not send never has its body written at all
    later = account(1, 1600, Description=BIG + "y")
    reader = DynamoEntityStore(
        core_stack.client("dynamodb"), core_stack.entity_table, strategy=READ_FIRST, bodies=bodies
    )
    assert reader.write_newest([later], source="s3://landing/f4").stale == 1
    never = bodies.key_for(later, orjson.dumps(later.record))
    assert core_stack.client("s3").list_objects_v2(Bucket=bodies._bucket, Prefix=never)["KeyCount"] == 0

    # The publisher sends v1's event with its reference, then tags v1's body (v2 replaced it)
    assert tags(core_stack, first_body) == {}
    publisher = EventBridgePublisher(core_stack.client("events"), core_stack.bus_name)
    result = publish_record_events(
        stream_event(core_stack), publisher=publisher, source="appflow-ingest", table="t", bodies=bodies
    )
    assert result == {"batchItemFailures": []}
    assert tags(core_stack, first_body) == {"superseded": "true"}
    events = [e["detail"] for e in core_stack.received_events()]
    (first,) = [e for e in events if e["version"] == "1970-01-01T00:00:01.000Z"]
    assert first["record"] is None and first["record_ref"]["s3"] == first_body
    assert first["record_ref"]["bytes"] == len(orjson.dumps(v1.record))


@pytest.mark.parametrize("strategy", WRITE_STRATEGIES)
def test_s3_bodies_and_compressed_bodies_compose_and_the_publisher_tells_their_changed_fields(
    core_stack, bodies, strategy
):
    # Given one record written four times: large (S3), large with a real change (S3), the same
    # data with only LastModifiedDate newer (S3), then small enough to be kept inline, compressed
    ddb = core_stack.client("dynamodb")
    store = DynamoEntityStore(ddb, core_stack.entity_table, strategy=strategy, bodies=bodies)
    v1, v2 = account(1, 1000, Description=BIG, Name="a"), account(1, 2000, Description=BIG, Name="b")
    v3, v4 = account(1, 3000, Description=BIG, Name="b"), account(1, 4000, Description="short " * 200, Name="b")
    refs = []
    for n, version in enumerate([v1, v2, v3, v4]):
        assert store.write_newest([version], source=f"s3://landing/f{n}").written == 1
        refs.append(item(core_stack, version).get("record_ref", {}).get("S"))
    # The last is inline and gzip: the write removed record_ref and record_bytes
    last = item(core_stack, v4)
    assert last["codec"] == {"S": "gzip"} and "record_ref" not in last and "record_bytes" not in last
    assert store.items.record_of(last) == v4.record

    # When the stream is published
    publisher = EventBridgePublisher(core_stack.client("events"), core_stack.bus_name)
    result = publish_record_events(
        stream_event(core_stack), publisher=publisher, source="appflow-ingest", table="t", bodies=bodies
    )
    assert result == {"batchItemFailures": []}

    # Then changed_fields are read from the S3 bodies, the touch publishes nothing, and every
    # replaced body (the touched one's too) is tagged superseded
    events = {e["detail"]["version"]: e["detail"] for e in core_stack.received_events()}
    assert sorted(events) == ["1970-01-01T00:00:01.000Z", "1970-01-01T00:00:02.000Z", "1970-01-01T00:00:04.000Z"]
    assert events["1970-01-01T00:00:01.000Z"]["changed_fields"] == sorted(v1.record)
    assert events["1970-01-01T00:00:02.000Z"]["changed_fields"] == ["LastModifiedDate", "Name"]
    assert events["1970-01-01T00:00:02.000Z"]["record_ref"]["s3"] == refs[1]
    assert events["1970-01-01T00:00:04.000Z"]["changed_fields"] == ["Description", "LastModifiedDate"]
    assert events["1970-01-01T00:00:04.000Z"]["record"] == v4.record  # plain JSON, never gzip
    assert refs[3] is None and all(tags(core_stack, ref) == {"superseded": "true"} for ref in refs[:3])


@pytest.mark.parametrize("strategy", WRITE_STRATEGIES)
def test_an_item_dynamodb_refuses_is_refused_alone_and_the_others_are_written(core_stack, strategy):
    # moto refuses items over 405,000 bytes where DynamoDB's limit is 409,600: this one passes the
    # check made before the request, so only DynamoDB's own ValidationException can refuse it,
    # inside a transaction of 100 with the transact strategy, inside a BatchExecuteStatement with
    # read-first. Uncompressed (compress_over=0): gzip would take these x's far under the limit.
    store = DynamoEntityStore(
        core_stack.client("dynamodb"), core_stack.entity_table, strategy=strategy, compress_over=0
    )
    refused = account(500, 1000, Description="x" * 405_500)
    versions = [account(n, 1000) for n in range(99)] + [refused]
    outcome = store.write_newest(versions, source="s3://landing/f")
    assert outcome.written == 99 and outcome.stale == 0
    ((version, error),) = outcome.refused
    assert version is refused and "DynamoDB" in error.expected and "size" in error.expected.lower()


def test_a_key_over_2048_bytes_is_refused_before_any_request(core_stack):
    store = DynamoEntityStore(core_stack.client("dynamodb"), core_stack.entity_table)
    long_key = RecordVersion("Account", "x" * 2100, 1000, False, {})
    outcome = store.write_newest([long_key, account(1, 1000)], source="s3://landing/f")
    assert outcome.written == 1 and outcome.refused[0][1].field == "pk" and "2048" in outcome.refused[0][1].expected


def test_a_change_event_merges_into_a_large_record_and_writes_its_body_first(core_stack, bodies):
    store = DynamoEntityStore(core_stack.client("dynamodb"), core_stack.entity_table, bodies=bodies)
    big = account(1, 1000, Description=BIG, Name="before")
    store.write_newest([big], source="s3://landing/f")
    merger = DynamoEntityMerger(core_stack.client("dynamodb"), core_stack.entity_table, bodies)
    stored = merger.read("Account", big.id)
    assert stored.record == big.record  # the merge sees the full record
    merged = RecordVersion("Account", big.id, 2000, False, {**stored.record, "Name": "after"})
    assert merger.write_if_unchanged(merged, "cdc://AccountChangeEvent/e1", read_version=stored.version)
    assert merger.read("Account", big.id).record["Name"] == "after"
    assert merger.read("Account", big.id).source == "cdc://AccountChangeEvent/e1"


def test_the_wallet_reads_the_full_record_of_an_item_whose_body_is_in_s3():
    config = WalletConfig.from_json("{}")
    image = {"pk": "Opportunity#0065g00000Pur01AAB", "object": "Opportunity", "record_id": "0065g00000Pur01AAB",
             "version": 1000, "deleted": False, "record_ref": "s3://bodies/records/x.json"}  # fmt: skip
    record = {"Id": "0065g00000Pur01AAB", "AccountId": "0015g00000AdaAAAAZ", "StageName": "Closed Won", "Amount": 10}
    change = source_version(image, config, read_body=lambda uri: record)
    assert change is not None and change.contribution.member == "0015g00000AdaAAAAZ"


def test_the_body_bucket_expires_only_superseded_bodies_after_the_grace_period():
    template = load_yaml(TEMPLATE)
    rules = template["Resources"]["RecordBodyBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (expire,) = [r for r in rules if "ExpirationInDays" in r]
    assert expire["TagFilters"] == [{"Key": "superseded", "Value": "true"}] and "Prefix" not in expire
    assert expire["ExpirationInDays"] == {"Ref": "SupersededBodyRetentionDays"}
    assert template["Parameters"]["SupersededBodyRetentionDays"]["Default"] == 14


def test_local_mode_provisions_the_body_bucket_with_its_lifecycle_rule(moto_endpoint, stack_name):
    from appflow_local.emulator.server import Emulator
    from appflow_local.stack.provision import provision
    from appflow_local.stack.template import Template

    emulator = Emulator(moto_endpoint)
    stack = provision(Template.load(TEMPLATE), emulator, stack_name=stack_name)
    rules = emulator.s3.get_bucket_lifecycle_configuration(Bucket=str(stack.attribute("RecordBodyBucket")))["Rules"]
    (expire,) = [r for r in rules if "Expiration" in r]
    assert expire["Filter"] == {"Tag": {"Key": "superseded", "Value": "true"}} and expire["Expiration"]["Days"] == 14
