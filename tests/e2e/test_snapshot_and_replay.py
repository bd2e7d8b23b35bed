"""`appflow-ingest snapshot` and `replay-events` against a stack whose pipeline really ran (moto's server).

The snapshot's events are compared with `local dump` and with the Record Changed events the
pipeline published for the same versions; the replay's deliveries with what the archive holds.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from appflow_local.cli import main
from appflow_local.clients import Emulator
from appflow_local.consumers.snapshot import CheckpointFile, S3Target, SnapshotSource, take_snapshot
from appflow_local.stack.description import load_stack
from appflow_local.stack.readback import member_passes, published_events, stored_records

pytestmark = pytest.mark.integration
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


@pytest.fixture(scope="module")
def stack(sample_stack) -> dict[str, Any]:
    """The session's sample stack: records of three objects (two tombstones), passes, their events."""
    emulator = Emulator(sample_stack["endpoint"])
    description = load_stack(emulator, sample_stack["name"])
    return {**sample_stack, "emulator": emulator, "description": description}


def _cli(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, [line for line in captured.out.splitlines() if line.strip()], captured.err


def _listening_bus(emulator: Emulator, bus: str | None = None, pattern: dict | None = None) -> tuple[str, str, str]:
    """A bus (new unless given) with a rule that copies what it matches to a new queue: (bus, rule, queue url)."""
    suffix = uuid.uuid4().hex[:8]
    if bus is None:
        bus = f"consumer-bus-{suffix}"
        emulator.events.create_event_bus(Name=bus)
    queue = emulator.sqs.create_queue(QueueName=f"consumer-{suffix}")["QueueUrl"]
    arn = emulator.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"consumer-{suffix}"
    emulator.events.put_rule(
        Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern or {"source": ["appflow-ingest"]})
    )
    emulator.events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    return bus, rule, queue


def _drain(emulator: Emulator, queue_url: str) -> list[dict[str, Any]]:
    received = []
    while batch := emulator.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            received.append(json.loads(message["Body"]))
            emulator.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return received


def _published_changes(stack: dict[str, Any]) -> list[dict[str, Any]]:
    """What the pipeline itself published (the tap also saw replays and snapshots sent by earlier tests)."""
    return [
        e
        for e in published_events(stack["emulator"], stack["description"])
        if "replay-name" not in e and not e["detail-type"].endswith("Snapshot")
    ]


def _target_args(stack: dict[str, Any]) -> list[str]:
    return ["--endpoint-url", stack["endpoint"], "--stack", stack["name"]]


def _as_dump(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": detail["object"],
        "id": detail["id"],
        "version": detail["version"],
        "deleted": detail["change"] == "DELETE",
        "record": detail["record"],
    }


# ------------------------------------------------------------------------------------------ snapshot
def test_snapshot_publishes_every_stored_record_as_dump_shows_it(stack, capsys, tmp_path):
    # Given a bus a new consumer listens on
    emulator = stack["emulator"]
    bus, _, queue = _listening_bus(emulator)

    # When the Accounts are snapshotted to it in 3 segments of 2-item pages
    code, out, err = _cli(
        capsys, "snapshot", *_target_args(stack), "--object", "Account", "--to-bus", bus, "--segments", "3",
        "--page-size", "2", "--snapshot-id", "boot-1", "--checkpoint", str(tmp_path / "boot-1.json"),
    )  # fmt: skip

    # Then every stored Account arrives once, exactly as `local dump` shows it, as a Record Snapshot
    assert code == 0, err
    summary = json.loads(out[-1])
    events = _drain(emulator, queue)
    accounts = [r for r in stored_records(emulator, stack["description"]) if r["object"] == "Account"]
    assert any(r["deleted"] for r in accounts)  # tombstones are state too
    assert sorted((_as_dump(e["detail"]) for e in events), key=lambda r: r["id"]) == accounts
    assert summary["published"] == len(events) == len(accounts) and summary["complete"]
    assert summary["scanned"] > len(accounts)  # the scan read the other objects too, and skipped them
    assert Counter(e["detail-type"] for e in events) == {"Record Snapshot": len(accounts)}
    assert "snapshot boot-1" in err  # progress on stderr
    schema = _schema("record-snapshot")
    for event in events:
        jsonschema.validate(event, schema)
    # ... with the detail the pipeline published for that version, only the id and the history differ
    changed = {
        e["detail"]["event_id"]: e["detail"]
        for e in published_events(emulator, stack["description"])
        if e["detail-type"] == "Record Changed"
    }
    for event in events:
        detail = dict(event["detail"])
        original_id = detail["event_id"].removeprefix("snapshot:boot-1:")
        assert original_id in changed  # the version the pipeline announced
        assert detail == {**changed[original_id], "event_id": detail["event_id"], "previous_version": None}
    assert len({e["detail"]["event_id"] for e in events}) == len(events)


def test_snapshot_to_the_downstream_bus_reaches_consumers_but_not_the_archive(stack, capsys, tmp_path):
    # Given the stack's own bus, a consumer on it, and the archive's count
    emulator, description = stack["emulator"], stack["description"]
    bus = description.resources["DownstreamBus"]["Ref"]
    _, _, queue = _listening_bus(emulator, bus, {"detail-type": ["Record Snapshot"]})
    archive = description.resources["DownstreamArchive"]["Ref"]
    archived_before = emulator.events.describe_archive(ArchiveName=archive)["EventCount"]

    # When Opportunities are snapshotted with the defaults (to the downstream bus)
    code, out, err = _cli(
        capsys, "snapshot", *_target_args(stack), "--object", "Opportunity", "--checkpoint", str(tmp_path / "c.json")
    )

    # Then the consumer has them, and the archive kept none (a fresh snapshot can always be taken)
    assert code == 0, err
    opportunities = [r for r in stored_records(emulator, description) if r["object"] == "Opportunity"]
    assert len(_drain(emulator, queue)) == len(opportunities) == json.loads(out[-1])["published"]
    assert emulator.events.describe_archive(ArchiveName=archive)["EventCount"] == archived_before


def test_snapshot_of_member_passes_matches_the_derived_passes(stack, capsys, tmp_path):
    emulator, description = stack["emulator"], stack["description"]
    bus, _, queue = _listening_bus(emulator)

    code, _, err = _cli(
        capsys, "snapshot", *_target_args(stack), "--object", "MemberPass", "--to-bus", bus,
        "--checkpoint", str(tmp_path / "passes.json"),
    )  # fmt: skip

    assert code == 0, err
    events = _drain(emulator, queue)
    active = {member: p for member, p in member_passes(emulator, description).items() if p["status"] == "active"}
    assert active and {e["detail"]["member_id"]: e["detail"] for e in events}.keys() == active.keys()
    schema = _schema("member-pass-snapshot")
    for event in events:
        jsonschema.validate(event, schema)
        detail = event["detail"]
        assert {k: v for k, v in detail.items() if k not in ("event_id", "previous")} == active[detail["member_id"]]


def test_snapshot_to_s3_writes_json_lines_and_a_manifest(stack, capsys, tmp_path):
    emulator = stack["emulator"]
    bucket = f"bulk-{uuid.uuid4().hex[:8]}"
    emulator.s3.create_bucket(Bucket=bucket)

    code, out, err = _cli(
        capsys, "snapshot", *_target_args(stack), "--object", "Account", "--to-s3", f"s3://{bucket}/loads",
        "--snapshot-id", "bulk-1", "--segments", "2", "--page-size", "3", "--checkpoint", str(tmp_path / "b.json"),
    )  # fmt: skip

    assert code == 0, err
    lines = _s3_lines(emulator, bucket, "loads/bulk-1/")
    accounts = [r for r in stored_records(emulator, stack["description"]) if r["object"] == "Account"]
    assert sorted((_as_dump(line["detail"]) for line in lines), key=lambda r: r["id"]) == accounts
    manifest = json.loads(emulator.s3.get_object(Bucket=bucket, Key="loads/bulk-1/manifest.json")["Body"].read())
    assert manifest["published"] == len(accounts) and manifest["complete"] and json.loads(out[-1]) == manifest


def _s3_lines(emulator: Emulator, bucket: str, prefix: str) -> list[dict[str, Any]]:
    lines = []
    for item in emulator.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        if item["Key"].endswith(".jsonl"):
            body = emulator.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            lines.extend(json.loads(line) for line in body.splitlines())
    return lines


class _CrashingTarget:
    """Delivers through ``inner`` until ``crash_after`` deliveries, then fails like a lost connection."""

    def __init__(self, inner: S3Target, crash_after: int) -> None:
        self.inner, self.crash_after, self.delivered = inner, crash_after, 0
        self.description = inner.description

    def deliver(self, segment, part, events) -> None:
        if self.delivered >= self.crash_after:
            raise ConnectionError("connection reset")
        self.inner.deliver(segment, part, events)
        self.delivered += 1

    def finish(self, summary) -> None:
        self.inner.finish(summary)


def test_an_interrupted_snapshot_resumes_where_it_stopped_without_repeats(stack, tmp_path):
    # Given a snapshot to S3 that dies after three pages were written
    emulator, description = stack["emulator"], stack["description"]
    bucket = f"resume-{uuid.uuid4().hex[:8]}"
    emulator.s3.create_bucket(Bucket=bucket)
    source = SnapshotSource(table=description.resources["EntityTable"]["Ref"], object_name="Account")
    checkpoints = CheckpointFile(tmp_path / "resume.json")
    target = S3Target(emulator.s3, f"s3://{bucket}", "resume-1", "appflow-ingest")
    crashing = _CrashingTarget(target, crash_after=3)
    with pytest.raises(ConnectionError):
        take_snapshot(emulator.dynamodb, source, crashing, snapshot_id="resume-1", checkpoints=checkpoints,
                      segments=2, page_size=2)  # fmt: skip
    partial = checkpoints.load()
    assert partial is not None and not partial.complete
    assert sum(s.published for s in partial.segments) > 0

    # When the same snapshot is run again
    summary = take_snapshot(
        emulator.dynamodb, source, target, snapshot_id="resume-1", checkpoints=checkpoints, segments=2, page_size=2
    )

    # Then it completes, and S3 holds every Account exactly once (a re-delivered page rewrote its own object)
    assert summary["resumed"] and summary["complete"]
    lines = _s3_lines(emulator, bucket, "resume-1/")
    accounts = [r for r in stored_records(emulator, description) if r["object"] == "Account"]
    assert sorted((_as_dump(line["detail"]) for line in lines), key=lambda r: r["id"]) == accounts
    assert summary["published"] == len(accounts)


# ------------------------------------------------------------------------------------------ replay-events
def test_replay_events_sends_the_archived_events_to_the_rule(stack, capsys):
    # Given a consumer subscribed after the events were published (it missed them all)
    emulator, description = stack["emulator"], stack["description"]
    bus = description.resources["DownstreamBus"]["Ref"]
    _, rule, queue = _listening_bus(emulator, bus)
    published = _published_changes(stack)

    # When the last hour is replayed to its rule
    code, out, err = _cli(capsys, "replay-events", *_target_args(stack), "--since", "1h", "--to", rule)

    # Then it completed and the consumer has every event published, marked as replayed
    assert code == 0, err
    result = json.loads(out[-1])
    assert result["state"] == "COMPLETED" and result["to"] == rule and result["via_rule"] is None
    received = _drain(emulator, queue)
    assert {e["detail"]["event_id"] for e in received} == {e["detail"]["event_id"] for e in published}
    assert all(e.get("replay-name") == result["replay"] for e in received)
    assert result["archive_event_count"] == len(published)


def test_replay_events_of_one_detail_type_goes_through_a_temporary_narrowed_rule(stack, capsys):
    emulator, description = stack["emulator"], stack["description"]
    bus = description.resources["DownstreamBus"]["Ref"]
    _, rule, queue = _listening_bus(emulator, bus)
    published = Counter(e["detail-type"] for e in _published_changes(stack))

    code, out, err = _cli(
        capsys, "replay-events", *_target_args(stack), "--since", "1h", "--to", rule,
        "--detail-type", "MemberPass Changed", "--grace-seconds", "0", "--poll-seconds", "0.1",
    )  # fmt: skip

    assert code == 0, err
    result = json.loads(out[-1])
    assert result["via_rule"].startswith(f"{rule}-replay-")
    # The temporary rule is gone afterwards
    rules = emulator.events.list_rules(EventBusName=bus)["Rules"]
    assert not [r for r in rules if r["Name"] == result["via_rule"]]
    # moto ignores FilterArns (every rule of the bus gets the replay), so the consumer's own rule
    # delivered everything once; the temporary rule, narrowed to this replay and detail-type,
    # delivered the passes a second time. On AWS only the latter would arrive.
    received = Counter(e["detail-type"] for e in _drain(emulator, queue))
    assert received == published + Counter({"MemberPass Changed": published["MemberPass Changed"]})


def test_replay_of_a_detail_type_the_rule_never_receives_is_one_line_and_exit_2(stack, capsys):
    # (the other mistakes of both verbs: tests/e2e/test_cli_mistakes.py)
    emulator, description = stack["emulator"], stack["description"]
    bus = description.resources["DownstreamBus"]["Ref"]
    _, rule, _ = _listening_bus(emulator, bus, {"source": ["appflow-ingest"], "detail-type": ["Record Changed"]})
    argv = ["replay-events", *_target_args(stack), "--since", "1h", "--to", rule, "--detail-type", "MemberPass Changed"]
    code, out, err = _cli(capsys, *argv)
    assert code == 2 and out == [] and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "never receives" in err, err


def test_local_provision_creates_the_archive_as_the_template_declares_it(stack):
    archive = stack["emulator"].events.describe_archive(
        ArchiveName=stack["description"].resources["DownstreamArchive"]["Ref"]
    )
    bus_arn = stack["description"].resources["DownstreamBus"]["Arn"]
    assert archive["EventSourceArn"] == bus_arn and archive["RetentionDays"] == 30
    assert json.loads(archive["EventPattern"]) == {
        "source": ["appflow-ingest"],
        "detail-type": [{"anything-but": ["Record Snapshot", "MemberPass Snapshot"]}],
    }
    # What moto cannot host is said, not silently dropped
    skipped = stack["description"].skipped
    assert skipped["EventSchemaRegistry"] == "AWS::EventSchemas::Registry"
    assert skipped["RecordChangedEventSchema"] == "AWS::EventSchemas::Schema"
    # A rule of the template is created, but a target moto cannot have (the SNS topic) is named, not made
    assert "OperationsTopic" in skipped["FlowDeactivatedRule.Targets.operations-topic"]
    assert "FlowDeactivatedRule" in stack["description"].resources
