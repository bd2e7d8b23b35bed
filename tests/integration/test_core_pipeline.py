"""The core services wired to real adapters on moto's server: plan -> ingest -> stream -> publish.

Covers the newest-wins invariants (out of order, duplicates, tombstones, equal versions), bad
input (quarantined with reasons, the rest ingested) and publishing (one event per real change).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.chunk_queue import SqsChunkQueue
from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.adapters.quarantine import S3Quarantine
from appflow_ingest.domain.landing.chunks import Chunk, LandedObject
from appflow_ingest.domain.records.body_codec import record_of_item
from appflow_ingest.domain.records.versions import ObjectConfig
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_ingest.services.plan_file import FilePlanner
from appflow_ingest.services.publish_events import publish_record_events

FLOW = "sf-accounts"
EXECUTION = "9aa00099-9943-449a-9c7a-488dbc801242"


class Pipeline:
    """Drives the three services the way Lambda would, one step at a time."""

    def __init__(self, stack, chunk_size: int = 64) -> None:
        self.stack = stack
        clients = AwsClients(stack.endpoint)
        self.s3 = clients.s3
        objects = S3LandingObjects(clients.s3, block_size=50)
        queue = SqsChunkQueue(clients.sqs, stack.chunk_queue_url)
        self.planner = FilePlanner(objects, queue, chunk_size=chunk_size, flows={FLOW})
        self.ingester = ChunkIngester(
            objects=objects,
            store=DynamoEntityStore(clients.dynamodb, stack.entity_table, concurrency=8),
            quarantine=S3Quarantine(clients.s3, stack.quarantine_bucket, raw_bucket=stack.raw_quarantine_bucket),
            queue=queue,
            objects_by_flow={FLOW: ObjectConfig("Account")},
            batch_size=7,
        )
        self.publisher = EventBridgePublisher(clients.events, stack.bus_name)
        self.streams = stack.client("dynamodbstreams")
        self.stream_arn = clients.dynamodb.describe_table(TableName=stack.entity_table)["Table"]["LatestStreamArn"]
        self.after_sequence: str | None = None
        self.reports: list[dict[str, Any]] = []

    def land(self, name: str, lines: list[Any], raw: bytes | None = None, key: str | None = None) -> None:
        key = key or f"{FLOW}/{EXECUTION}/{name}"
        body = (
            raw
            if raw is not None
            else b"".join((line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines)
        )
        self.s3.put_object(Bucket=self.stack.landing_bucket, Key=key, Body=body)
        head = self.s3.head_object(Bucket=self.stack.landing_bucket, Key=key)
        self.planner.plan(LandedObject(self.stack.landing_bucket, key, head["ContentLength"], head["ETag"]))
        for body in self.stack.chunk_messages():
            self.reports.append(self.ingester.ingest(Chunk.from_json(body)).as_dict())
        self.publish()

    def publish(self) -> None:
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
        position = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.after_sequence}
            if self.after_sequence
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard, **position)
        records = self.streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        if not records:
            return
        for record in records:
            record["dynamodb"]["ApproximateCreationDateTime"] = record["dynamodb"][
                "ApproximateCreationDateTime"
            ].timestamp()
        response = publish_record_events(
            {"Records": records}, publisher=self.publisher, source="appflow-ingest", table=self.stack.entity_table
        )
        assert response == {"batchItemFailures": []}
        self.after_sequence = records[-1]["dynamodb"]["SequenceNumber"]

    def stored(self, record_id: str) -> dict[str, Any] | None:
        item = self.s3 and AwsClients(self.stack.endpoint).dynamodb.get_item(
            TableName=self.stack.entity_table, Key={"pk": {"S": f"Account#{record_id}"}}
        ).get("Item")
        if not item:
            return None
        return {
            "version": item["version_iso"]["S"],
            "deleted": item["deleted"]["BOOL"],
            "record": record_of_item(item),  # JSON text, or gzip above the compression threshold
        }

    def totals(self) -> dict[str, int]:
        keys = ("read", "written", "stale", "quarantined")
        return {k: sum(r[k] for r in self.reports) for k in keys}


def account(record_id: str, modified: str, **fields: Any) -> dict[str, Any]:
    return {"Id": record_id, "Name": f"Account {record_id}", "LastModifiedDate": modified, **fields}


@pytest.fixture
def pipeline(core_stack) -> Pipeline:
    return Pipeline(core_stack)


def test_files_landing_out_of_order_leave_each_record_at_its_newest_version(pipeline):
    newer = [account("A", "2024-01-02T00:00:00.000Z", Name="new A"), account("B", "2024-01-01T00:00:00.000+0000")]
    older = [account("A", "2024-01-01T00:00:00.000+0000", Name="old A"), account("C", "2024-01-01T00:00:00.000Z")]
    pipeline.land("run2-file", newer)
    pipeline.land("run1-file", older)

    assert pipeline.stored("A")["record"]["Name"] == "new A"
    assert pipeline.stored("A")["version"] == "2024-01-02T00:00:00.000Z"
    assert pipeline.stored("C") is not None
    assert pipeline.totals() == {"read": 4, "written": 3, "stale": 1, "quarantined": 0}
    events = pipeline.stack.received_events()
    assert sorted((e["detail"]["id"], e["detail"]["version"]) for e in events) == [
        ("A", "2024-01-02T00:00:00.000Z"),
        ("B", "2024-01-01T00:00:00.000Z"),
        ("C", "2024-01-01T00:00:00.000Z"),
    ]


def test_the_same_file_delivered_twice_changes_nothing_and_publishes_nothing(pipeline):
    records = [account(str(i), f"2024-01-01T00:00:{i:02d}.000Z") for i in range(20)]
    pipeline.land("file", records)
    first_events = pipeline.stack.received_events()
    before = [pipeline.stored(str(i)) for i in range(20)]

    pipeline.land("file", records)  # the same key and content again: a duplicate notification

    assert [pipeline.stored(str(i)) for i in range(20)] == before
    assert len(first_events) == 20
    assert pipeline.stack.received_events() == []
    # The same object gives the same chunks (same ids): the repeat is a duplicate delivery of a
    # chunk, which meets its own writes and counts them as it did the first time (the run ledger
    # counts the chunk once); stale would be wrong for a retry after a crash.
    assert (pipeline.totals()["written"], pipeline.totals()["stale"]) == (40, 0)


def test_an_older_version_cannot_resurrect_a_deleted_record(pipeline):
    pipeline.land("run1", [account("A", "2024-01-01T00:00:00Z")])
    pipeline.land("run3", [account("A", "2024-01-03T00:00:00Z", IsDeleted=True)])
    pipeline.land("run2-late", [account("A", "2024-01-02T00:00:00Z", Name="resurrected?")])

    stored = pipeline.stored("A")
    assert stored["deleted"] is True and stored["version"] == "2024-01-03T00:00:00.000Z"
    changes = [e["detail"]["change"] for e in pipeline.stack.received_events()]
    assert changes == ["UPSERT", "DELETE"]


def test_equal_versions_are_no_ops_even_in_another_offset_form(pipeline):
    pipeline.land("f1", [account("A", "2024-01-01T10:00:00.000Z", Name="first")])
    pipeline.land("f2", [account("A", "2024-01-01T10:00:00.000+0000", Name="same instant")])
    assert pipeline.stored("A")["record"]["Name"] == "first"
    assert len(pipeline.stack.received_events()) == 1


def test_a_newer_version_in_another_offset_form_wins(pipeline):
    pipeline.land("f1", [account("A", "2024-01-01T10:00:00.000Z", Name="first")])
    pipeline.land("f2", [account("A", "2024-01-01T12:00:00.000+0100", Name="an hour later")])
    assert pipeline.stored("A")["record"]["Name"] == "an hour later"


def test_bad_input_is_quarantined_with_reasons_and_the_rest_is_ingested(pipeline):
    lines = [
        account("A", "2024-01-01T00:00:00Z"),
        b'{"Id": "broken", "LastModifiedDate": ',
        {"Name": "no id", "LastModifiedDate": "2024-01-01T00:00:00Z"},
        account("B", "the day before yesterday"),
        account("C", "2024-01-01T00:00:00Z"),
    ]
    pipeline.land("mixed", lines)

    assert pipeline.totals() == {"read": 5, "written": 2, "stale": 0, "quarantined": 3}
    assert pipeline.stored("A") and pipeline.stored("C")
    quarantined = []
    s3 = pipeline.s3
    for obj in s3.list_objects_v2(Bucket=pipeline.stack.quarantine_bucket).get("Contents", []):
        body = s3.get_object(Bucket=pipeline.stack.quarantine_bucket, Key=obj["Key"])["Body"].read()
        quarantined += [json.loads(line) for line in body.splitlines()]
    by_field = {entry["field"]: entry for entry in quarantined}
    assert set(by_field) == {None, "Id", "LastModifiedDate"}
    source = f"s3://{pipeline.stack.landing_bucket}/{FLOW}/{EXECUTION}/mixed"
    assert all(entry["source"] == source for entry in quarantined)
    offsets = {entry["offset"] for entry in quarantined}
    assert len(offsets) == 3 and all(isinstance(o, int) and o > 0 for o in offsets)
    # The line that did not parse is kept as it arrived only in the raw quarantine, which its entry names
    assert "line" not in by_field[None] and by_field[None]["raw_location"].startswith(
        f"s3://{pipeline.stack.raw_quarantine_bucket}/"
    )
    (raw,) = pipeline.stack.raw_quarantined()
    assert raw["line"].startswith('{"Id": "broken"') and raw["offset"] == by_field[None]["offset"]
    assert "expected" in by_field["LastModifiedDate"]["reason"] and source in by_field["LastModifiedDate"]["reason"]
    assert by_field["Id"]["record"]["Name"] == "no id"


def test_many_small_chunks_ingest_every_record_exactly_once(core_stack):
    pipeline = Pipeline(core_stack, chunk_size=100)
    records = [account(f"R{i:03d}", "2024-01-01T00:00:00Z", Description="x" * (i % 150)) for i in range(120)]
    pipeline.land("big", records)
    assert pipeline.totals() == {"read": 120, "written": 120, "stale": 0, "quarantined": 0}
    assert len(pipeline.reports) > 50
    assert len(pipeline.stack.received_events()) == 120


def test_folder_markers_and_empty_objects_are_skipped(pipeline):
    s3 = pipeline.s3
    for key in (f"{FLOW}/{EXECUTION}/", f"{FLOW}/{EXECUTION}/empty"):
        s3.put_object(Bucket=pipeline.stack.landing_bucket, Key=key, Body=b"")
        plan = pipeline.planner.plan(LandedObject(pipeline.stack.landing_bucket, key, 0))
        assert plan.skipped and not plan.chunks
    assert pipeline.stack.chunk_messages() == []


def test_an_object_overwritten_after_its_notification_is_not_mixed(pipeline):
    bucket, key = pipeline.stack.landing_bucket, f"{FLOW}/{EXECUTION}/rewritten"
    s3 = pipeline.s3
    first = s3.put_object(Bucket=bucket, Key=key, Body=b'{"Id":"A","LastModifiedDate":"2024-01-01T00:00:00Z"}\n')
    s3.put_object(Bucket=bucket, Key=key, Body=b'{"Id":"B","LastModifiedDate":"2024-01-01T00:00:00Z"}\n')
    plan = pipeline.planner.plan(LandedObject(bucket, key, 52, first["ETag"]))
    assert plan.skipped and "changed since notified" in plan.skipped


def test_published_events_follow_the_documented_contract(pipeline):
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "record-changed.schema.json").read_text())
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z"), account("B", "2024-01-01T00:00:00Z")])
    pipeline.land("f2", [account("A", "2024-01-02T00:00:00+0000", IsDeleted=True, attributes={"type": "Account"})])
    events = pipeline.stack.received_events()
    assert len(events) == 3
    for event in events:
        jsonschema.validate(event, schema)
    delete = next(e for e in events if e["detail"]["change"] == "DELETE")
    assert delete["detail"]["event_id"] == "Account:A:1704153600000:DELETE"
    assert delete["detail"]["previous_version"] == "2024-01-01T00:00:00.000Z"
    assert "attributes" not in delete["detail"]["record"]


def test_a_gzipped_file_is_read_as_one_stream(pipeline):
    records = [account(f"G{i}", "2024-01-01T00:00:00Z") for i in range(50)]
    body = gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"not json\n")
    pipeline.land("part.gz", [], raw=body)
    assert pipeline.totals() == {"read": 51, "written": 50, "stale": 0, "quarantined": 1}


def test_a_single_json_array_is_accepted(pipeline):
    body = orjson.dumps([account("J1", "2024-01-01T00:00:00Z"), account("J2", "2024-01-01T00:00:00Z")])
    pipeline.land("array", [], raw=b"  " + body)  # no trailing newline either
    assert pipeline.totals() == {"read": 2, "written": 2, "stale": 0, "quarantined": 0}


def test_a_configured_flow_is_recognised_in_a_key_without_an_execution_folder(pipeline):
    # Ids without a standard key prefix and no attributes: only the flow's configuration says Account.
    pipeline.land(
        "part-0", [], raw=b'{"Id": "X1", "LastModifiedDate": "2024-01-01T00:00:00Z"}\n', key=f"exports/{FLOW}/part-0"
    )
    assert pipeline.totals() == {"read": 1, "written": 1, "stale": 0, "quarantined": 0}
    assert pipeline.stored("X1")["version"] == "2024-01-01T00:00:00.000Z"


def test_a_version_that_only_touched_volatile_fields_is_stored_and_publishes_nothing(pipeline):
    # Given A stored and its event consumed
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z", Phone="1", SystemModstamp="2024-01-01T00:00:00Z")])
    assert [e["detail"]["changed_fields"] for e in pipeline.stack.received_events()] == [
        ["Id", "LastModifiedDate", "Name", "Phone", "SystemModstamp"]
    ]
    # When Salesforce bumps its timestamps (a field the flow does not map changed), then a real edit lands
    touched = account("A", "2024-01-02T00:00:00Z", Phone="1", SystemModstamp="2024-01-02T00:00:00Z")
    pipeline.land("f2", [touched])
    # Then the newer version is stored (newest-wins needs it) and nobody is woken
    assert pipeline.stored("A")["version"] == "2024-01-02T00:00:00.000Z"
    assert pipeline.stack.received_events() == []
    pipeline.land("f3", [account("A", "2024-01-03T00:00:00Z", Phone="2", SystemModstamp="2024-01-03T00:00:00Z")])
    (event,) = pipeline.stack.received_events()
    assert event["detail"]["changed_fields"] == ["LastModifiedDate", "Phone", "SystemModstamp"]
    assert event["detail"]["previous_version"] == "2024-01-02T00:00:00.000Z"


def test_a_wide_record_is_stored_compressed_and_published_as_plain_json(pipeline):
    wide = account("W", "2024-01-01T00:00:00Z", Description="renewal contract regional office " * 60)
    pipeline.land("f1", [wide])
    item = AwsClients(pipeline.stack.endpoint).dynamodb.get_item(
        TableName=pipeline.stack.entity_table, Key={"pk": {"S": "Account#W"}}
    )["Item"]
    # What a consumer reading the table does, with nothing but the standard library
    assert item["codec"] == {"S": "gzip"}
    assert json.loads(gzip.decompress(item["record"]["B"])) == wide
    assert len(item["record"]["B"]) < len(orjson.dumps(wide)) / 4
    (event,) = pipeline.stack.received_events()
    assert event["detail"]["record"] == wide
