"""CSV, Parquet and JSON Lines through plan -> ingest on moto's server, with hand-over.

An ingest invocation whose time budget runs out stops at a record boundary, queues the rest of
its range and reports success; across the resulting chain of messages every record must be
ingested exactly once (read once, written once, never stale), whatever the point it stopped at.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.chunk_queue import SqsChunkQueue
from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.adapters.quarantine import S3Quarantine
from appflow_ingest.domain.landing.chunks import Chunk, LandedObject
from appflow_ingest.domain.records.body_codec import record_of_item
from appflow_ingest.domain.records.versions import ObjectConfig
from appflow_ingest.domain.rules import RULE_SETS, ObjectRules
from appflow_ingest.reading.parquet import row_group_start
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_ingest.services.plan_file import FilePlanner

FLOW = "sf-accounts"
EXECUTION = "5e0c6b8e-2f8a-4c52-9d7e-0c1d2e3f4a5b"
FIELDS = ["Id", "Name", "Description", "AnnualRevenue", "IsDeleted", "LastModifiedDate"]


class Budget:
    """A fake ``remaining_ms``: plenty of time for the first ``checks`` looks at the clock, then none."""

    def __init__(self, checks: int | None) -> None:
        self.checks = checks
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return 0 if self.checks is not None and self.calls > self.checks else 10**9


class Run:
    """Plan a landed file, then drain the chunk queue through the ingester, each message with its own budget."""

    def __init__(self, stack, *, chunk_size: int, block_size: int = 64, batch_size: int = 3, rules=None) -> None:
        self.stack = stack
        clients = AwsClients(stack.endpoint)
        self.s3, self.dynamodb = clients.s3, clients.dynamodb
        objects = S3LandingObjects(clients.s3, block_size=block_size)
        queue = SqsChunkQueue(clients.sqs, stack.chunk_queue_url)
        self.planner = FilePlanner(objects, queue, chunk_size=chunk_size)
        self.ingester = ChunkIngester(
            objects=objects,
            store=DynamoEntityStore(clients.dynamodb, stack.entity_table, concurrency=8),
            quarantine=S3Quarantine(clients.s3, stack.quarantine_bucket, raw_bucket=stack.raw_quarantine_bucket),
            queue=queue,
            objects_by_flow={FLOW: ObjectConfig("Account")},
            rules=rules,
            batch_size=batch_size,
        )
        self.planned: list[Chunk] = []
        self.received: list[Chunk] = []
        self.reports: list[dict[str, Any]] = []

    def land(self, name: str, body: bytes, *, checks: int | None = None) -> None:
        key = f"{FLOW}/{EXECUTION}/{name}"
        self.s3.put_object(Bucket=self.stack.landing_bucket, Key=key, Body=body)
        head = self.s3.head_object(Bucket=self.stack.landing_bucket, Key=key)
        plan = self.planner.plan(LandedObject(self.stack.landing_bucket, key, head["ContentLength"], head["ETag"]))
        self.planned += plan.chunks
        while bodies := self.stack.chunk_messages():
            for message in bodies:
                chunk = Chunk.from_json(message)
                self.received.append(chunk)
                self.reports.append(self.ingester.ingest(chunk, Budget(checks)).as_dict())

    def totals(self) -> dict[str, int]:
        return {k: sum(r[k] for r in self.reports) for k in ("read", "written", "stale", "quarantined")}

    def handed_over_at(self) -> list[int]:
        return [r["handed_over_at"] for r in self.reports if r["handed_over_at"] is not None]

    def stored(self) -> dict[str, dict[str, Any]]:
        items = self.dynamodb.scan(TableName=self.stack.entity_table)["Items"]
        return {item["record_id"]["S"]: record_of_item(item) for item in items}

    def quarantined(self) -> list[dict[str, Any]]:
        entries = []
        for obj in self.s3.list_objects_v2(Bucket=self.stack.quarantine_bucket).get("Contents", []):
            body = self.s3.get_object(Bucket=self.stack.quarantine_bucket, Key=obj["Key"])["Body"].read()
            entries += [json.loads(line) for line in body.splitlines()]
        return entries


def accounts(count: int) -> list[dict[str, Any]]:
    """Salesforce-like Accounts; descriptions hold commas, doubled quotes and newlines (LF and CRLF)."""
    return [
        {
            "Id": f"001{i:015d}",
            "Name": f"Account {i}, Inc." if i % 3 else f'The "{i}" Company',
            "Description": ('Line one\nline two, "quoted"\r\nend' if i % 4 == 0 else f"plain {i}") + "x" * (i % 23),
            "AnnualRevenue": f"{1000.0 * i}",
            "IsDeleted": "false",
            "LastModifiedDate": f"2024-04-16T19:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        }
        for i in range(count)
    ]


def to_csv(records: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")  # AppFlow writes LF
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue().encode()


def to_json_lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def to_parquet(table: pa.Table, row_group_size: int = 5) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=row_group_size)
    return out.getvalue()


def record_starts(file_format: str, body: bytes) -> set[int]:
    """Where a record (a row group, for Parquet) starts: the only places a hand-over may cut."""
    if file_format == "parquet":
        metadata = pq.ParquetFile(io.BytesIO(body)).metadata
        return {row_group_start(metadata, index) for index in range(metadata.num_row_groups)}
    first_field = '{{"Id":"{}"' if file_format == "jsonl" else "{},"
    return {body.index(first_field.format(record["Id"]).encode()) for record in RECORDS}


RECORDS = accounts(40)
# AppFlow's Parquet with preserveSourceDataTyping=false: every value a string, like these records.
BODIES = {"jsonl": to_json_lines(RECORDS), "csv": to_csv(RECORDS), "parquet": to_parquet(pa.Table.from_pylist(RECORDS))}
FORMATS = list(BODIES)


@pytest.mark.parametrize("file_format", FORMATS)
def test_a_file_larger_than_the_chunk_size_is_ingested_exactly_once(core_stack, file_format):
    run = Run(core_stack, chunk_size=512, block_size=37)  # blocks cut inside quoted fields
    body = BODIES[file_format]
    assert len(body) > 4 * 512
    run.land(f"part-00000-{file_format}", body)

    assert run.planned[0].format == file_format
    # JSON Lines and Parquet are cut into byte ranges; a CSV byte range cannot be aligned: one chunk.
    assert len(run.planned) == (1 if file_format == "csv" else -(-len(body) // 512))
    assert run.totals() == {"read": 40, "written": 40, "stale": 0, "quarantined": 0}
    assert run.stored() == {r["Id"]: r for r in RECORDS}


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("checks", [1, 2, 3, 4])
def test_hand_over_at_any_point_ingests_every_record_exactly_once(core_stack, file_format, checks):
    body = BODIES[file_format]
    # Parquet: one range owning all 8 row groups, so the clock is looked at between each of them.
    run = Run(core_stack, chunk_size=len(body) if file_format == "parquet" else 4000, block_size=1024, batch_size=3)
    run.land(f"handover-{file_format}", body, checks=checks)

    handed = run.handed_over_at()
    assert handed, "the budget ran out, so the chunk must have been handed over"
    # Each hand-over point is the exact byte offset where a record (Parquet: a row group) starts.
    assert set(handed) <= record_starts(file_format, body)
    if file_format == "parquet":
        # Row groups of 5 rows read in batches of 3 (rows 0-2, 3-4): with an even number of clock
        # looks allowed, the budget runs out before a batch that starts inside a row group.
        resumed_at_rows = {chunk.first_row for chunk in run.received}
        assert resumed_at_rows == ({0, 3} if checks % 2 == 0 else {0})
    # Every invocation reported success for its part, and together they read each record once.
    assert run.totals() == {"read": 40, "written": 40, "stale": 0, "quarantined": 0}
    assert run.stored() == {r["Id"]: r for r in RECORDS}


def test_csv_rows_with_the_wrong_number_of_fields_are_quarantined_with_their_offset(core_stack):
    run = Run(core_stack, chunk_size=100, block_size=16)
    good = to_csv(accounts(3))
    bad_row = b'001BAD,"too, few",fields\n'
    body = good + bad_row + to_csv(accounts(5)[3:]).split(b"\n", 1)[1]
    run.land("with-bad-row.csv", body)

    assert run.totals() == {"read": 6, "written": 5, "stale": 0, "quarantined": 1}
    (entry,) = run.quarantined()
    assert entry["offset"] == body.index(b"001BAD")
    (raw,) = core_stack.raw_quarantined()  # the row could not be parsed: kept as it came, apart
    assert raw["line"] == bad_row.decode().rstrip("\n") and raw["offset"] == entry["offset"]
    assert "line" not in entry and entry["raw_location"].startswith(f"s3://{core_stack.raw_quarantine_bucket}/")
    assert "expected 6 comma-separated fields as in the header row, got 3" in entry["reason"]
    assert entry["source"].endswith("with-bad-row.csv") and str(entry["offset"]) in entry["reason"]


def test_typed_and_all_string_parquet_store_the_same_records(core_stack):
    typed_schema = pa.schema(
        [
            ("Id", pa.string()),
            ("Name", pa.string()),
            ("Description", pa.string()),
            ("AnnualRevenue", pa.float64()),
            ("IsDeleted", pa.bool_()),
            ("LastModifiedDate", pa.timestamp("ms", tz="UTC")),
        ]
    )
    typed_rows = [
        {
            **record,
            "AnnualRevenue": float(record["AnnualRevenue"]),
            "IsDeleted": False,
            "LastModifiedDate": datetime.fromisoformat(record["LastModifiedDate"]),
        }
        for record in RECORDS
    ]
    typed = to_parquet(pa.Table.from_pylist(typed_rows, schema=typed_schema), row_group_size=7)
    rules = ObjectRules({"Account": RULE_SETS["account-member"]})

    run = Run(core_stack, chunk_size=600, block_size=1024, batch_size=10, rules=rules)
    run.land("typed", typed)
    from_typed = run.stored()
    assert run.totals() == {"read": 40, "written": 40, "stale": 0, "quarantined": 0}

    run.land("all-string", BODIES["parquet"])  # the same versions again, values as strings
    assert run.totals() == {"read": 80, "written": 40, "stale": 40, "quarantined": 0}
    assert run.stored() == from_typed
    assert from_typed[RECORDS[2]["Id"]]["AnnualRevenue"] == 2000 and from_typed[RECORDS[2]["Id"]]["IsDeleted"] is False
