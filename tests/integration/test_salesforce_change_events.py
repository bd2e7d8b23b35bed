"""Salesforce change events applied on moto's server, side by side with file records.

The same entity table, the same stream and the same publisher as the file path: so these tests
also check that a change-event write publishes exactly like a file write.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from test_core_pipeline import Pipeline, account

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.entity_merge import DynamoEntityMerger
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.adapters.large_events import S3EventDocuments
from appflow_ingest.adapters.quarantine import S3Quarantine
from appflow_ingest.adapters.resync_marks import DynamoResyncMarks
from appflow_ingest.domain.records.versions import RecordVersion
from appflow_ingest.domain.rules import REDACT, REDACTED, Field, ObjectRules, RuleSet
from appflow_ingest.services.apply_changes import ChangeApplier
from appflow_local.stack.template import Template

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SOURCE = "aws.partner/appflow/salesforce.com/123456789012/sf-cdc"


def change_event(change_type: str, ids: list[str], commit: int, event_id: str = "e1", **values: Any) -> dict:
    header = {
        "commitNumber": 248197218874,
        "commitUser": "0056g000003XW7AAAW",
        "sequenceNumber": 1,
        "entityName": "Account",
        "changeType": change_type,
        "changedFields": [k for k in values if k != "nulledFields"],
        "changeOrigin": "com/salesforce/api/soap/49.0;client=SfdcInternalAPI/",
        "transactionKey": "000035af-b239-0581-9f14-461e4187de11",
        "commitTimestamp": commit,
        "recordIds": ids,
    }
    if "nulledFields" in values:
        header["nulledFields"] = values.pop("nulledFields")
    return {
        "version": "0", "id": event_id, "detail-type": "AccountChangeEvent", "source": SOURCE,
        "account": "123456789012", "time": "2024-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"ChangeEventHeader": header, **values},
    }  # fmt: skip


# 2024-01-0N as epoch millis
DAY = {n: 1704067200000 + (n - 1) * 86_400_000 for n in range(1, 10)}


class Changes:
    def __init__(self, stack) -> None:
        self.stack = stack
        clients = AwsClients(stack.endpoint)
        self.clients = clients
        ledger = Template.load(SCHEMAS.parent / "template.yaml").resources["LedgerTable"]["Properties"]
        self.ledger_table = f"ledger-{stack.entity_table}"
        clients.dynamodb.create_table(
            TableName=self.ledger_table,
            BillingMode=ledger["BillingMode"],
            AttributeDefinitions=ledger["AttributeDefinitions"],
            KeySchema=ledger["KeySchema"],
        )
        self.merger = DynamoEntityMerger(clients.dynamodb, stack.entity_table)
        self.applier = ChangeApplier(
            merger=self.merger,
            marks=DynamoResyncMarks(clients.dynamodb, self.ledger_table),
            publisher=EventBridgePublisher(clients.events, stack.bus_name),
            rejected=S3Quarantine(clients.s3, stack.quarantine_bucket, raw_bucket=stack.raw_quarantine_bucket),
            read_json=S3EventDocuments(clients.s3).read_json,
            event_source="appflow-ingest",
        )

    def resync_marks(self) -> dict[str, dict]:
        items = self.clients.dynamodb.scan(TableName=self.ledger_table)["Items"]
        return {i["pk"]["S"]: i for i in items if i["pk"]["S"].startswith("resync#")}


@pytest.fixture
def pipeline(core_stack) -> Pipeline:
    return Pipeline(core_stack)


@pytest.fixture
def changes(core_stack) -> Changes:
    return Changes(core_stack)


def record_changed_events(stack) -> list[dict]:
    return [e for e in stack.received_events() if e["detail-type"] == "Record Changed"]


def test_an_update_changes_only_its_fields_and_publishes_like_a_file_write(pipeline, changes):
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z", Name="Acme", Region__c="EMEA", Phone="1")])
    report = changes.applier.apply(
        change_event("UPDATE", ["A"], DAY[2] + 500, LastModifiedDate="2024-01-02T00:00:00.000Z", Region__c="America")
    )
    pipeline.publish()

    assert (report.written, report.stale) == (1, 0)
    stored = pipeline.stored("A")
    assert stored["record"]["Region__c"] == "America"
    assert stored["record"]["Name"] == "Acme" and stored["record"]["Phone"] == "1"  # untouched
    # Ordered by LastModifiedDate from the body, not by the later commitTimestamp.
    assert stored["version"] == "2024-01-02T00:00:00.000Z"
    schema = json.loads((SCHEMAS / "record-changed.schema.json").read_text())
    events = record_changed_events(pipeline.stack)
    assert [e["detail"]["version"] for e in events] == ["2024-01-01T00:00:00.000Z", "2024-01-02T00:00:00.000Z"]
    for event in events:
        jsonschema.validate(event, schema)
    assert events[1]["detail"]["source"] == "cdc://AccountChangeEvent/e1"
    assert events[1]["detail"]["previous_version"] == "2024-01-01T00:00:00.000Z"


def test_nulled_fields_are_cleared(pipeline, changes):
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z", Phone="555", Fax="556")])
    changes.applier.apply(
        change_event("UPDATE", ["A"], DAY[2], LastModifiedDate="2024-01-02T00:00:00Z", nulledFields=["Phone"])
    )
    record = pipeline.stored("A")["record"]
    assert record["Phone"] is None and record["Fax"] == "556"


def test_a_late_older_file_cannot_undo_a_newer_change_event(pipeline, changes):
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z", Name="v1")])
    changes.applier.apply(change_event("UPDATE", ["A"], DAY[3], LastModifiedDate="2024-01-03T00:00:00Z", Name="v3"))
    pipeline.land("late", [account("A", "2024-01-02T00:00:00Z", Name="v2")])  # an older run's file, landing late
    pipeline.publish()
    assert pipeline.stored("A")["record"]["Name"] == "v3"
    assert [e["detail"]["record"]["Name"] for e in record_changed_events(pipeline.stack)] == ["v1", "v3"]


def test_a_late_older_change_event_cannot_undo_a_newer_file(pipeline, changes):
    pipeline.land("f1", [account("A", "2024-01-03T00:00:00Z", Name="v3")])
    report = changes.applier.apply(
        change_event("UPDATE", ["A"], DAY[2], LastModifiedDate="2024-01-02T00:00:00Z", Name="v2")
    )
    assert (report.written, report.stale) == (0, 1)
    assert pipeline.stored("A")["record"]["Name"] == "v3"


def test_the_same_change_by_file_and_by_event_is_written_and_published_once(pipeline, changes):
    pipeline.land("f1", [account("A", "2024-01-02T00:00:00.000+0000", Name="same")])
    # The commit is stamped after LastModifiedDate: ordering by it would rewrite the same version.
    report = changes.applier.apply(
        change_event("UPDATE", ["A"], DAY[2] + 900, LastModifiedDate="2024-01-02T00:00:00.000Z", Name="same")
    )
    pipeline.publish()
    assert report.stale == 1
    assert len(record_changed_events(pipeline.stack)) == 1


def test_create_delete_then_late_older_file_then_undelete(pipeline, changes):
    changes.applier.apply(
        change_event("CREATE", ["A"], DAY[1], "c", Name="new", LastModifiedDate="2024-01-01T00:00:00Z")
    )
    changes.applier.apply(change_event("DELETE", ["A"], DAY[3], "d"))
    deleted = pipeline.stored("A")
    assert deleted["deleted"] is True and deleted["record"]["Name"] == "new"
    assert deleted["version"] == "2024-01-03T00:00:00.000Z"  # a DELETE has no fields: its commit time

    pipeline.land("late", [account("A", "2024-01-02T00:00:00Z", Name="resurrected?")])
    assert pipeline.stored("A")["deleted"] is True

    changes.applier.apply(
        change_event("UNDELETE", ["A"], DAY[4], "u", Name="back", LastModifiedDate="2024-01-04T00:00:00Z")
    )
    pipeline.publish()
    revived = pipeline.stored("A")
    assert revived["deleted"] is False and revived["record"]["Name"] == "back"
    assert revived["record"]["IsDeleted"] is False
    changes_seen = [e["detail"]["change"] for e in record_changed_events(pipeline.stack)]
    assert changes_seen == ["UPSERT", "DELETE", "UPSERT"]


def test_one_event_with_several_record_ids_updates_each(pipeline, changes):
    pipeline.land("f1", [account(i, "2024-01-01T00:00:00Z", Rating="Cold") for i in ("A", "B", "C")])
    report = changes.applier.apply(
        change_event("UPDATE", ["A", "B", "C"], DAY[2], LastModifiedDate="2024-01-02T00:00:00Z", Rating="Hot")
    )
    pipeline.publish()
    assert (report.records, report.written) == (3, 3)
    assert {pipeline.stored(i)["record"]["Rating"] for i in ("A", "B", "C")} == {"Hot"}
    assert len(record_changed_events(pipeline.stack)) == 6


def test_a_gap_event_writes_nothing_and_asks_for_a_resync(pipeline, changes):
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z", Name="v1")])
    pipeline.stack.received_events()
    report = changes.applier.apply(change_event("GAP_UPDATE", ["A", "B"], DAY[2], "gap-1"))
    pipeline.publish()

    assert (report.written, report.resync) == (0, 2)
    assert pipeline.stored("A")["record"]["Name"] == "v1" and pipeline.stored("B") is None
    marks = changes.resync_marks()
    assert set(marks) == {"resync#Account#A", "resync#Account#B"}
    assert marks["resync#Account#A"]["change_type"]["S"] == "GAP_UPDATE"
    events = pipeline.stack.received_events()
    assert {e["detail-type"] for e in events} == {"Resync Required"}  # and no Record Changed
    schema = json.loads((SCHEMAS / "resync-required.schema.json").read_text())
    for event in events:
        jsonschema.validate(event, schema)
    assert sorted(e["detail"]["id"] for e in events) == ["A", "B"]


def test_a_gap_overflow_without_record_ids_marks_the_whole_object(changes):
    report = changes.applier.apply(change_event("GAP_OVERFLOW", [], DAY[2], "overflow-1"))
    assert report.resync == 1
    assert set(changes.resync_marks()) == {"resync#Account#*"}
    (event,) = changes.stack.received_events()
    assert event["detail"]["scope"] == "OBJECT" and event["detail"]["id"] is None


def test_an_update_of_a_record_never_stored_is_written_and_marked_for_resync(pipeline, changes):
    report = changes.applier.apply(
        change_event("UPDATE", ["Z"], DAY[2], LastModifiedDate="2024-01-02T00:00:00Z", Name="z")
    )
    assert (report.written, report.resync) == (1, 1)
    assert pipeline.stored("Z")["record"] == {
        "Id": "Z",
        "Name": "z",
        "LastModifiedDate": "2024-01-02T00:00:00Z",
        "IsDeleted": False,
    }
    assert "resync#Account#Z" in changes.resync_marks()


def test_a_pointer_event_is_read_from_s3(pipeline, changes):
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z", Description="short")])
    big = change_event(
        "UPDATE", ["A"], DAY[2], "big-1", LastModifiedDate="2024-01-02T00:00:00Z", Description="x" * 300_000
    )
    key = "appflow-large-events/sf-cdc/big-1.json"
    changes.clients.s3.put_object(Bucket=pipeline.stack.landing_bucket, Key=key, Body=json.dumps(big).encode())
    pointer = {**big, "detail": {"s3Bucket": pipeline.stack.landing_bucket, "s3Key": key}}

    report = changes.applier.apply(pointer)
    pipeline.publish()

    assert report.written == 1 and report.from_pointer == f"s3://{pipeline.stack.landing_bucket}/{key}"
    assert pipeline.stored("A")["record"]["Description"] == "x" * 300_000
    event = record_changed_events(pipeline.stack)[-1]
    assert event["detail"]["record"] is None and event["detail"]["record_ref"]["pk"] == "Account#A"


def test_a_malformed_change_event_is_quarantined_with_its_reason(changes):
    event = change_event("UPDATE", ["A"], DAY[2])
    event["detail"]["ChangeEventHeader"]["changeType"] = "MERGE"
    report = changes.applier.apply(event)
    assert report.quarantined and report.written == 0
    bucket, key = report.quarantined.removeprefix("s3://").split("/", 1)
    entry = json.loads(changes.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert entry["field"] == "ChangeEventHeader.changeType" and "MERGE" in entry["reason"]


def test_concurrent_merges_of_one_record_lose_no_written_field(pipeline, changes):
    # Given a stored record and eight change events, each changing its own field, applied at once
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z")])
    fields = [f"F{i}__c" for i in range(8)]
    barrier = threading.Barrier(len(fields))
    reports: dict[int, Any] = {}

    def writer(i: int) -> None:
        barrier.wait()
        reports[i] = changes.applier.apply(
            change_event("UPDATE", ["A"], DAY[2] + i, f"w{i}", **{"LastModifiedDate": DAY[2] + i, fields[i]: i})
        )

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(fields))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then the newest wins, and every merge that was written is still in the record: a writer that
    # read before another's write could not overwrite it blindly (older ones are stale, by rule).
    assert len(reports) == len(fields)
    record = pipeline.stored("A")["record"]
    assert pipeline.stored("A")["version"] == "2024-01-02T00:00:00.007Z"
    written = [i for i, r in reports.items() if r.written]
    assert 7 in written
    assert all(record.get(fields[i]) == i for i in written)
    assert sum(r.written + r.stale for r in reports.values()) == len(fields)


def test_a_file_write_between_read_and_write_is_merged_not_overwritten(pipeline, changes):
    # Given a change event that has read v1, when a file writes v2 before the event writes v3
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z", Name="v1 name", Phone="1")])
    real_read = changes.merger.read
    raced = []

    def read_then_race(object_name: str, record_id: str):
        stored = real_read(object_name, record_id)
        if not raced:
            raced.append(True)
            pipeline.land("f2", [account("A", "2024-01-02T00:00:00Z", Name="v2 name", Phone="2")])
        return stored

    changes.merger.read = read_then_race
    report = changes.applier.apply(
        change_event("UPDATE", ["A"], DAY[3], LastModifiedDate="2024-01-03T00:00:00Z", Phone="3")
    )

    # Then the event's guarded write fails, it reads v2 again and merges onto it
    assert (report.conflicts, report.written) == (1, 1)
    record = pipeline.stored("A")["record"]
    assert (record["Name"], record["Phone"]) == ("v2 name", "3")


def test_guarded_write_refuses_when_the_stored_version_moved(changes, pipeline):
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z")])
    stored = changes.merger.read("Account", "A")
    version = RecordVersion("Account", "A", stored.version + 1, False, {"Id": "A"})
    assert changes.merger.write_if_unchanged(version, "x", stored.version - 1) is False
    assert changes.merger.write_if_unchanged(version, "x", stored.version) is True


ACCOUNT_RULES = ObjectRules(
    {
        "Account": RuleSet(
            name="test-accounts",
            object="Account",
            fields={
                "Name": Field("string", required=True),
                "Phone": Field("string", mask=REDACT),
                "AnnualRevenue": Field("number"),
                "Rating": Field("string", allowed=("Hot", "Warm", "Cold")),
            },
        )
    }
)


def test_the_objects_rules_apply_to_the_fields_a_change_delivers(pipeline, changes):
    changes.applier._rules = ACCOUNT_RULES
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z", Name="v1", Phone=REDACTED, AnnualRevenue=1.0)])
    report = changes.applier.apply(
        change_event(
            "UPDATE", ["A"], DAY[2], LastModifiedDate="2024-01-02T00:00:00Z", Phone="555", AnnualRevenue="23.0"
        )
    )
    assert (report.written, report.resync, report.quarantined) == (1, 0, None)
    record = pipeline.stored("A")["record"]
    # Masked and coerced like a file record; the untouched fields stay as stored (not masked twice).
    assert (record["Name"], record["Phone"], record["AnnualRevenue"]) == ("v1", REDACTED, 23.0)


@pytest.mark.parametrize(
    ("values", "field", "expected"),
    [
        ({"nulledFields": ["Name"]}, "Name", "required"),
        ({"Rating": "Lukewarm"}, "Rating", "allowed values"),
        ({"AnnualRevenue": "lots"}, "AnnualRevenue", "type number"),
    ],
)
def test_a_change_breaking_a_rule_is_quarantined_and_changes_nothing(pipeline, changes, values, field, expected):
    changes.applier._rules = ACCOUNT_RULES
    pipeline.land("f1", [account("A", "2024-01-01T00:00:00Z", Name="v1", Rating="Hot", AnnualRevenue=1.0)])
    report = changes.applier.apply(
        change_event("UPDATE", ["A"], DAY[2], LastModifiedDate="2024-01-02T00:00:00Z", **values)
    )
    assert report.written == 0 and report.quarantined
    entry = json.loads(changes.clients.s3.get_object(**_bucket_key(report.quarantined))["Body"].read())
    assert entry["field"] == field and expected in entry["reason"]
    assert pipeline.stored("A")["record"] == account(
        "A", "2024-01-01T00:00:00Z", Name="v1", Rating="Hot", AnnualRevenue=1.0
    )


def test_a_create_missing_a_required_field_is_quarantined(pipeline, changes):
    changes.applier._rules = ACCOUNT_RULES
    report = changes.applier.apply(change_event("CREATE", ["B"], DAY[2], LastModifiedDate="2024-01-02T00:00:00Z"))
    assert report.written == 0 and report.quarantined
    assert pipeline.stored("B") is None


def _bucket_key(uri: str) -> dict[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return {"Bucket": bucket, "Key": key}
