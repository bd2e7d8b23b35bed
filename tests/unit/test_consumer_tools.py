"""Pure parts of the consumer tools: snapshot events, read pacing, replay arguments, the reference consumer's parsing."""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import orjson
import pytest

from appflow_ingest.domain.bus_events.record_changed import record_changed_event
from appflow_ingest.domain.bus_events.snapshots import InvalidSnapshotId, member_pass_snapshot, record_snapshot
from appflow_local.consumers.event_replay import ReplayError, narrowed_pattern, parse_instant
from appflow_local.consumers.snapshot import ReadPacer, SnapshotError

REPO = Path(__file__).resolve().parents[2]


def _schema(name: str) -> dict:
    return json.loads((REPO / "schemas" / f"{name}.schema.json").read_text())


def _entity(version: int = 1614592800000, deleted: bool = False) -> dict:
    return {
        "pk": "Account#001A",
        "object": "Account",
        "record_id": "001A",
        "version": version,
        "deleted": deleted,
        "record": orjson.dumps({"Id": "001A", "Name": "Acme"}).decode(),
        "source": "s3://landing/a.jsonl",
    }


# ------------------------------------------------------------------------------------------ snapshot events
@pytest.mark.parametrize("deleted", [False, True])
def test_a_record_snapshot_is_the_first_sighting_change_with_its_own_type_and_id(deleted: bool):
    item = _entity(deleted=deleted)
    change = record_changed_event(None, item, table="entities")
    snapshot = record_snapshot(item, table="entities", snapshot_id="boot-1")
    assert change is not None and snapshot is not None
    assert snapshot.detail_type == "Record Snapshot"
    assert snapshot.event_id == snapshot.detail["event_id"] == f"snapshot:boot-1:{change.event_id}"
    assert {**snapshot.detail, "event_id": change.event_id} == change.detail
    jsonschema.validate(
        {"source": "s", "detail-type": snapshot.detail_type, "detail": snapshot.detail}, _schema("record-snapshot")
    )


def test_snapshot_ids_are_deterministic_per_snapshot_and_differ_between_snapshots():
    item = _entity()
    first = record_snapshot(item, table="t", snapshot_id="a")
    assert first == record_snapshot(item, table="t", snapshot_id="a")
    assert first.event_id != record_snapshot(item, table="t", snapshot_id="b").event_id


def test_a_snapshot_of_a_record_too_large_for_the_bus_carries_the_reference_as_the_change_does():
    item = {**_entity(), "record": orjson.dumps({"Id": "001A", "Blob": "x" * 300_000}).decode()}
    snapshot = record_snapshot(item, table="entities", snapshot_id="s")
    assert snapshot.detail["record"] is None and snapshot.detail["record_ref"] == {
        "table": "entities",
        "pk": "Account#001A",
    }


def test_pass_snapshots_mirror_member_pass_changed_and_skip_passes_nobody_holds():
    active = {"status": "active", "member_id": "001A", "lifetime_spend": "10.00", "purchases": 1, "tier": "Bronze",
              "next_tier": "Silver", "to_next_tier": "490.00", "active_promotions": [], "upcoming_promotions": []}  # fmt: skip
    item = {"pk": "pass#001A", "kind": "pass", "member_id": "001A", "revision": 3, "pass": json.dumps(active)}
    snapshot = member_pass_snapshot(item, snapshot_id="p")
    assert snapshot.detail_type == "MemberPass Snapshot" and snapshot.event_id.startswith(
        "snapshot:p:MemberPass:001A:3:"
    )
    jsonschema.validate(
        {"source": "s", "detail-type": snapshot.detail_type, "detail": snapshot.detail}, _schema("member-pass-snapshot")
    )
    inactive = {**item, "pass": json.dumps({**active, "status": "inactive"})}
    assert member_pass_snapshot(inactive, snapshot_id="p") is None
    sighting = {"pk": "schema#Account#X", "kind": "schema", "object": "Account", "field": "X"}
    assert member_pass_snapshot(sighting, snapshot_id="p") is None  # history, not state


@pytest.mark.parametrize("bad", ["", "has:colon", "space d", "x" * 65])
def test_a_snapshot_id_must_fit_in_an_event_id(bad: str):
    with pytest.raises(InvalidSnapshotId):
        record_snapshot(_entity(), table="t", snapshot_id=bad)


# ------------------------------------------------------------------------------------------ pacing
class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pacer_keeps_the_average_read_rate_at_the_limit():
    # Given a limit of 10 units/s and pages of 5 units each, served instantly
    clock = _Clock()
    pacer = ReadPacer(10.0, clock=clock, sleep=clock.sleep)
    # When 20 pages are read
    for _ in range(20):
        pacer.wait()
        pacer.consumed(5.0)
    # Then 100 units took at least 9.5 s (the first page starts at once): 10 units/s
    assert clock.now == pytest.approx(9.5)
    # ... and a pause in reading is not saved up into a later burst
    clock.now += 100.0
    pacer.wait()
    pacer.consumed(5.0)
    pacer.wait()
    assert clock.now == pytest.approx(110.0)


def test_the_pacer_refuses_a_rate_of_zero():
    with pytest.raises(SnapshotError):
        ReadPacer(0)


# ------------------------------------------------------------------------------------------ replay arguments
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", datetime(2026, 11, 30, 10, 30, tzinfo=UTC)),
        ("2d", datetime(2026, 11, 28, 12, 0, tzinfo=UTC)),
        ("1w", datetime(2026, 11, 23, 12, 0, tzinfo=UTC)),
        ("2026-11-29T08:00:00Z", datetime(2026, 11, 29, 8, 0, tzinfo=UTC)),
        ("2026-11-29T10:00:00+02:00", datetime(2026, 11, 29, 8, 0, tzinfo=UTC)),
        ("2026-11-29", datetime(2026, 11, 29, tzinfo=UTC)),
    ],
)
def test_replay_times_are_iso_or_a_time_ago(text: str, expected: datetime):
    assert parse_instant(text, now=NOW) == expected


def test_a_replay_time_that_is_neither_is_refused():
    with pytest.raises(ReplayError, match="--until"):
        parse_instant("last tuesday", now=NOW, option="--until")


def test_the_temporary_rule_matches_only_the_replay_and_the_detail_types():
    pattern = {
        "source": ["appflow-ingest"],
        "detail-type": ["Record Changed", "Record Snapshot"],
        "detail": {"object": ["Account"]},
    }
    narrowed = narrowed_pattern(pattern, ["Record Changed"], "r-1")
    assert narrowed == {**pattern, "detail-type": ["Record Changed"], "replay-name": ["r-1"]}
    assert narrowed_pattern({"source": ["a"]}, ["X", "X"], "r")["detail-type"] == ["X"]
    with pytest.raises(ReplayError, match="never receives"):
        narrowed_pattern(pattern, ["MemberPass Changed"], "r")
    with pytest.raises(ReplayError, match="cannot narrow"):
        narrowed_pattern({"detail-type": [{"prefix": "Record"}]}, ["Record Changed"], "r")


# ------------------------------------------------------------------------------------------ the reference consumer
def _read_model_module():
    path = REPO / "examples" / "consumer" / "src" / "read_model.py"
    spec = importlib.util.spec_from_file_location("reference_consumer_read_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_the_reference_consumer_reads_changes_and_snapshots_alike_and_refuses_the_rest():
    read_model = _read_model_module()
    item = _entity(deleted=True)
    for event in (record_changed_event(None, item, table="t"), record_snapshot(item, table="t", snapshot_id="s")):
        version = read_model.RecordVersion.from_event({"detail-type": event.detail_type, "detail": event.detail})
        assert (version.object_name, version.record_id, version.deleted) == ("Account", "001A", True)
        assert version.version == "2021-03-01T10:00:00.000Z" and version.event_id == event.event_id
    for bad in ({"detail-type": "MemberPass Changed", "detail": {}}, {"detail-type": "Record Changed"},
                {"detail-type": "Record Changed", "detail": {"event_id": "x"}}):  # fmt: skip
        with pytest.raises(read_model.InvalidEvent):
            read_model.RecordVersion.from_event(bad)


# ------------------------------------------------------------------------------------------ --stack
def _deployed_target(*resources: tuple[str, str, str], parameters: dict[str, str] | None = None):
    from appflow_local.operations.target import Resource, Target
    from appflow_local.stack.template import Template, default_template_path

    return Target(
        stack_name="prod",
        region="us-east-1",
        endpoint_url=None,
        resources={logical: Resource(logical, kind, physical) for logical, kind, physical in resources},
        template=Template.load(default_template_path()),
        parameters=parameters or {},
    )


def test_the_downstream_resources_are_the_stacks_physical_ids_and_its_event_source():
    from appflow_local.consumers.downstream import downstream_resources

    bus = ("DownstreamBus", "AWS::Events::EventBus", "prod-downstream")
    entity = ("EntityTable", "AWS::DynamoDB::Table", "prod-EntityTable-XYZ")
    target = _deployed_target(
        bus,
        ("DownstreamArchive", "AWS::Events::Archive", "prod-DownstreamArchive-1A2B"),
        entity,
        ("DerivedTable", "AWS::DynamoDB::Table", "prod-DerivedTable-XYZ"),
        parameters={"EventSourceName": "crm"},
    )
    found = downstream_resources(target)
    assert (found.bus_name, found.archive_name, found.entity_table, found.derived_table, found.event_source) == (
        "prod-downstream",
        "prod-DownstreamArchive-1A2B",
        "prod-EntityTable-XYZ",
        "prod-DerivedTable-XYZ",
        "crm",
    )


def test_a_stack_without_the_downstream_resources_is_refused_naming_what_is_missing():
    from appflow_local.consumers.downstream import downstream_resources
    from appflow_local.operations.errors import OperationFailed

    entity = ("EntityTable", "AWS::DynamoDB::Table", "prod-EntityTable-XYZ")
    with pytest.raises(OperationFailed, match="DownstreamBus"):
        downstream_resources(_deployed_target(entity))
    older = downstream_resources(_deployed_target(("DownstreamBus", "AWS::Events::EventBus", "b"), entity))
    assert older.event_source == "appflow-ingest"
    with pytest.raises(OperationFailed, match="DownstreamArchive: deploy the current template.yaml"):
        older.require_archive()
    with pytest.raises(OperationFailed, match="no DerivedTable"):
        older.require_derived_table()
