"""The run ledger on moto's server: AppFlow's reports and the files, in every order AppFlow allows.

Reports arrive before the files are processed, after, twice, or never; chunks are retried and
handed over; a run can fail. Each case must end in a correct ledger and publish one FlowRun
event per settled state (validated against the schemas in schemas/).
"""

from __future__ import annotations

import json
import time
import uuid
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
from appflow_ingest.adapters.run_ledger import DynamoRunLedger
from appflow_ingest.domain.landing.chunks import Chunk, LandedObject
from appflow_ingest.domain.records.versions import ObjectConfig
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_ingest.services.plan_file import FilePlanner
from appflow_ingest.services.track_runs import RunTracker
from appflow_local.stack.template import Template

REPO = Path(__file__).resolve().parents[2]
FLOW = "sf-accounts"
SCHEMAS = {
    name: json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())
    for name in ("flow-run-completed", "flow-run-incomplete")
}


def end_report(bucket: str, execution_id: str, processed: int | str, *, status: str = "Execution Successful",
               slash: bool = False, prefix: str = "salesforce") -> dict[str, Any]:  # fmt: skip
    """An End Flow Run Report as AppFlow writes it: counts as strings, times with [UTC]."""
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "AppFlow End Flow Run Report",
        "source": "aws.appflow", "account": "123456789012", "time": "2024-04-16T19:06:21Z", "region": "us-east-1",
        "resources": ["12816f196abcfb429e2ab7d71a8b3493"],
        "detail": {
            "flow-name": FLOW, "created-by": "arn:aws:sts::123456789012:assumed-role/Admin/Admin-Role",
            "flow-arn": f"arn:aws:appflow:us-east-1:123456789012:flow/{FLOW}",
            "source": "SALESFORCE/sf-connection", "destination": "S3", "source-object": "Account",
            "destination-object": f"s3://{bucket}/{prefix}" + ("/" if slash else ""),
            "trigger-type": "SCHEDULED", "num-of-records-processed": str(processed), "execution-id": execution_id,
            "num-of-records-filtered": "0", "start-time": "2024-04-16T19:02:47.643Z[UTC]",
            "num-of-documents-processed": "0", "end-time": "2024-04-16T19:06:20.871Z[UTC]",
            "num-of-record-failures": "0", "data-processed": "36406", "status": status,
        },
    }  # fmt: skip


class Runs:
    """Planner, ingester and run tracker wired to moto, driven one step at a time."""

    def __init__(self, stack, chunk_size: int = 200) -> None:
        self.stack = stack
        clients = AwsClients(stack.endpoint)
        self.clients = clients
        props = Template.load(REPO / "template.yaml").resources["LedgerTable"]["Properties"]
        self.ledger_table = f"ledger-{stack.entity_table}"
        clients.dynamodb.create_table(
            TableName=self.ledger_table, BillingMode=props["BillingMode"],
            AttributeDefinitions=props["AttributeDefinitions"], KeySchema=props["KeySchema"],
        )  # fmt: skip
        self.ledger = DynamoRunLedger(clients.dynamodb, self.ledger_table)
        self.tracker = RunTracker(
            self.ledger,
            EventBridgePublisher(clients.events, stack.bus_name),
            event_source="appflow-ingest",
            landing_bucket=stack.landing_bucket,
        )
        objects = S3LandingObjects(clients.s3)
        queue = SqsChunkQueue(clients.sqs, stack.chunk_queue_url)
        self.planner = FilePlanner(objects, queue, chunk_size=chunk_size, runs=self.tracker)
        self.ingester = ChunkIngester(
            objects=objects,
            store=DynamoEntityStore(clients.dynamodb, stack.entity_table, concurrency=4),
            quarantine=S3Quarantine(clients.s3, stack.quarantine_bucket, raw_bucket=stack.raw_quarantine_bucket),
            queue=queue,
            objects_by_flow={FLOW: ObjectConfig("Account")},
            batch_size=3,
            runs=self.tracker,
        )
        self.execution_id = str(uuid.uuid4())

    def land(self, name: str, count: int, *, first: int = 0, bad: int = 0) -> list[str]:
        """Land a file of ``count`` records (``bad`` of them malformed) and plan it; return its chunk messages."""
        lines = [
            orjson.dumps({"Id": f"A{i:04d}", "Name": f"n{i}", "LastModifiedDate": "2024-04-16T19:00:00Z"})
            for i in range(first, first + count - bad)
        ] + [b'{"Id": "broken"'] * bad
        key = f"salesforce/{FLOW}/2024/04/16/{self.execution_id}/{name}"
        body = b"\n".join(lines) + b"\n"
        self.clients.s3.put_object(Bucket=self.stack.landing_bucket, Key=key, Body=body)
        head = self.clients.s3.head_object(Bucket=self.stack.landing_bucket, Key=key)
        self.planner.plan(LandedObject(self.stack.landing_bucket, key, head["ContentLength"], head["ETag"]))
        return self.stack.chunk_messages()

    def ingest(self, messages: list[str], remaining_ms=None) -> None:
        for body in messages:
            self.ingester.ingest(Chunk.from_json(body), remaining_ms=remaining_ms)

    def report(self, processed: int | str, **kwargs: Any) -> dict[str, Any]:
        return self.tracker.record_report(
            end_report(self.stack.landing_bucket, self.execution_id, processed, **kwargs)
        ).as_dict()

    def state(self):
        return self.ledger.read(self.execution_id)

    def flow_run_events(self) -> list[dict[str, Any]]:
        events = [e for e in self.stack.received_events() if e["detail-type"].startswith("FlowRun")]
        for event in events:
            name = "flow-run-completed" if event["detail-type"] == "FlowRun Completed" else "flow-run-incomplete"
            jsonschema.validate(event, SCHEMAS[name])
        return events


@pytest.fixture
def runs(core_stack) -> Runs:
    return Runs(core_stack)


def test_report_after_the_files_settles_the_run_as_completed(runs):
    runs.ingest(runs.land("part-0", 10) + runs.land("part-1", 5, first=10))
    assert runs.flow_run_events() == []  # no report yet: nothing to reconcile with

    outcome = runs.report("15")

    assert outcome["settled"] == "COMPLETED"
    state = runs.state()
    assert (state.files_seen, state.chunks_finished, state.chunks_planned) == (
        2,
        state.chunks_planned,
        state.chunks_planned,
    )
    assert (state.read, state.written, state.records_processed, state.status) == (15, 15, 15, "SUCCEEDED")
    assert state.trigger_type == "SCHEDULED" and state.flow_name == FLOW
    (event,) = runs.flow_run_events()
    assert event["detail-type"] == "FlowRun Completed"
    assert event["detail"]["ingested"]["read"] == 15 and event["detail"]["appflow"]["records_processed"] == 15
    assert event["detail"]["appflow"]["start_time"] == "2024-04-16T19:02:47.643Z"


def test_report_before_the_files_settles_when_the_last_chunk_finishes(runs):
    messages = runs.land("part-0", 12)
    assert len(messages) > 1
    assert runs.report(12, slash=True)["settled"] is None  # chunks still pending

    runs.ingest(messages[:-1])
    assert runs.flow_run_events() == []
    runs.ingest(messages[-1:])

    (event,) = runs.flow_run_events()
    assert event["detail-type"] == "FlowRun Completed" and runs.state().outcome == "COMPLETED"


def test_a_report_delivered_twice_publishes_once(runs):
    runs.ingest(runs.land("part-0", 4))
    runs.report(4)
    runs.report(4)  # EventBridge's at-least-once: the same report again
    assert len(runs.flow_run_events()) == 1


def test_a_run_without_a_report_is_ingested_and_shows_as_unreported(runs):
    runs.ingest(runs.land("part-0", 6))
    state = runs.state()
    assert state.status == "UNREPORTED" and state.read == 6 and state.written == 6
    assert state.chunks_pending == 0 and state.outcome is None
    assert runs.flow_run_events() == []


def test_a_mismatch_is_published_with_what_is_missing_and_corrected_by_late_files(runs):
    runs.ingest(runs.land("part-0", 8, bad=1))
    runs.report(10)

    (incomplete,) = runs.flow_run_events()
    assert incomplete["detail-type"] == "FlowRun Incomplete"
    assert incomplete["detail"]["missing"] == 2 and incomplete["detail"]["ingested"]["quarantined"] == 1
    assert "2 of the 10 records" in incomplete["detail"]["reasons"][0]
    assert runs.state().outcome == "INCOMPLETE"

    # A file whose notification came late lands the rest: the run settles again, now reconciled.
    runs.ingest(runs.land("part-1", 2, first=100))
    (completed,) = runs.flow_run_events()
    assert completed["detail-type"] == "FlowRun Completed" and runs.state().outcome == "COMPLETED"


def test_a_retried_chunk_is_counted_once(runs):
    messages = runs.land("part-0", 9)
    runs.ingest(messages)
    before = runs.state()
    runs.ingest(messages[:1])  # SQS redelivers a chunk whose success was not acknowledged
    after = runs.state()
    assert (after.chunks_finished, after.read, after.written) == (before.chunks_finished, before.read, before.written)
    assert after.read == 9
    # The markers that make this exactly-once outlive any SQS retry (14 days), then expire (TTL).
    items = runs.clients.dynamodb.scan(TableName=runs.ledger_table)["Items"]
    markers = [i for i in items if i["pk"]["S"].startswith(("chunk#", "file#"))]
    assert markers and all(int(i["expires_at"]["N"]) > time.time() + 15 * 86400 for i in markers)


def test_a_duplicate_notification_plans_its_chunks_but_counts_the_file_once(runs):
    first = runs.land("part-0", 9)
    again = runs.land("part-0", 9)  # the same object version, notified twice
    runs.ingest(first + again)
    state = runs.state()
    assert state.files_seen == 1 and state.chunks_planned == len(first) and state.read == 9
    runs.report(9)
    assert [e["detail-type"] for e in runs.flow_run_events()] == ["FlowRun Completed"]


def test_a_handed_over_chunk_adds_its_remainder_to_the_planned_chunks(core_stack):
    runs = Runs(core_stack, chunk_size=10_000)  # one chunk for the whole file
    (message,) = runs.land("part-0", 12)
    runs.report(12)
    runs.ingest([message], remaining_ms=lambda: 0)  # out of time after the first batch: hands over
    state = runs.state()
    assert (state.chunks_planned, state.chunks_finished) == (2, 1) and 0 < state.read < 12
    assert runs.flow_run_events() == []

    (remainder,) = core_stack.chunk_messages()
    runs.ingest([remainder])
    state = runs.state()
    assert (state.chunks_planned, state.chunks_finished, state.read) == (2, 2, 12)
    assert [e["detail-type"] for e in runs.flow_run_events()] == ["FlowRun Completed"]


def test_a_failed_run_is_recorded_and_what_it_wrote_is_ingested(runs):
    runs.ingest(runs.land("part-0", 3))
    runs.report(3, status="Execution Failed")
    state = runs.state()
    assert state.status == "FAILED" and state.written == 3
    (event,) = runs.flow_run_events()
    assert event["detail-type"] == "FlowRun Incomplete"
    assert "Execution Failed" in event["detail"]["reasons"][0] and event["detail"]["missing"] == 0


def test_a_start_report_after_the_end_report_changes_nothing_it_said(runs):
    runs.ingest(runs.land("part-0", 2))
    runs.report(2)
    start = end_report(runs.stack.landing_bucket, runs.execution_id, 0)
    start["detail-type"] = "AppFlow Start Flow Run Report"
    for field in ("num-of-records-processed", "end-time", "status"):
        start["detail"].pop(field)
    runs.tracker.record_report(start)
    state = runs.state()
    assert state.status == "SUCCEEDED" and state.records_processed == 2 and state.started


def test_a_report_for_another_bucket_is_ignored(runs):
    outcome = runs.tracker.record_report(end_report("someone-elses-bucket", runs.execution_id, 5)).as_dict()
    assert outcome["recorded"] is False and "someone-elses-bucket" in outcome["ignored"]
    assert runs.state().reported is False
