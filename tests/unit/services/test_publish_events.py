"""The publisher against in-memory ports: each stream routed by its table, events in order, failures reported from where to retry."""

from __future__ import annotations

import json
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from fakes import MemoryRecordBodies, RecordingPublisher

from appflow_ingest.domain.bus_events.derived_items import MEMBER_PASS_CHANGED
from appflow_ingest.domain.bus_events.record_changed import RECORD_CHANGED
from appflow_ingest.services.publish_events import publish_events, publish_record_events, table_name_of

SOURCE = "appflow-ingest"
ENTITY_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/entities/stream/2024-04-16T19:00:00.000"
DERIVED_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/derived/stream/2024-04-16T19:00:00.000"
_serializer = TypeSerializer()


def entity(version: int, name: str, *, record_id: str = "001A", **extra: Any) -> dict[str, Any]:
    item = {"pk": f"Account#{record_id}", "object": "Account", "record_id": record_id, "version": version}
    item |= {"deleted": False, "source": "s3://landing/f", "record": json.dumps({"Id": record_id, "Name": name})}
    return item | extra


def member_pass(revision: int, spend: str) -> dict[str, Any]:
    held = {"status": "active", "member_id": "001A", "lifetime_spend": spend, "tier": "Bronze"}
    return {"pk": "pass#001A", "kind": "pass", "member_id": "001A", "revision": revision, "pass": json.dumps(held)}


def batch(arn: str, *changes: tuple[dict[str, Any] | None, dict[str, Any] | None]) -> dict[str, Any]:
    """A stream batch as Lambda delivers it: one record per (old image, new image), sequence numbers 1, 2, ..."""
    records = []
    for number, (old, new) in enumerate(changes, start=1):
        dynamodb: dict[str, Any] = {"SequenceNumber": str(number), "StreamViewType": "NEW_AND_OLD_IMAGES"}
        dynamodb["Keys"] = {"pk": {"S": (new or old or {})["pk"]}}
        for name, image in (("OldImage", old), ("NewImage", new)):
            if image is not None:
                dynamodb[name] = {key: _serializer.serialize(value) for key, value in image.items()}
        event_name = "INSERT" if old is None else "MODIFY"
        records.append({"eventID": str(number), "eventName": event_name, "dynamodb": dynamodb, "eventSourceARN": arn})
    return {"Records": records}


def test_the_entity_stream_publishes_one_record_changed_per_new_version_with_data_changes_in_order():
    publisher = RecordingPublisher()
    event = batch(
        ENTITY_ARN,
        (None, entity(1, "Acme")),  # first version
        (entity(1, "Acme"), entity(2, "Acme Corp")),  # a real change
        (entity(2, "Acme Corp"), entity(2, "Acme Corp")),  # a repeat: nothing
    )
    result = publish_events(event, publisher=publisher, source=SOURCE, table="entities", derived_table="derived")
    assert result == {"batchItemFailures": []}
    assert [(e.detail_type, e.detail["change"], e.detail["version"]) for e in publisher.events] == [
        (RECORD_CHANGED, "UPSERT", "1970-01-01T00:00:00.001Z"),
        (RECORD_CHANGED, "UPSERT", "1970-01-01T00:00:00.002Z"),
    ]
    assert publisher.events[1].detail["changed_fields"] == ["Name"]
    assert {source for _, source in publisher.published} == {SOURCE}


def test_the_derived_stream_is_routed_by_its_table_and_publishes_member_passes():
    publisher = RecordingPublisher()
    event = batch(DERIVED_ARN, (member_pass(1, "0.00"), member_pass(2, "100.00")))
    result = publish_events(event, publisher=publisher, source=SOURCE, table="entities", derived_table="derived")
    assert result == {"batchItemFailures": []}
    ((published, _),) = publisher.published
    assert published.detail_type == MEMBER_PASS_CHANGED and published.detail["lifetime_spend"] == "100.00"
    # The same batch read as the entity table's stream has no record version in it: nothing published
    again = RecordingPublisher()
    publish_events(batch(ENTITY_ARN, (member_pass(1, "0.00"), member_pass(2, "100.00"))), publisher=again,
                   source=SOURCE, table="entities", derived_table="derived")  # fmt: skip
    assert again.events == []
    assert table_name_of(DERIVED_ARN) == "derived"


def test_a_bus_that_refuses_reports_the_first_unpublished_record_and_releases_only_bodies_already_told():
    # Given three S3-bodied versions, each replacing the previous one's body
    bodies = MemoryRecordBodies()
    images = [entity(n, f"v{n}", record=None, record_ref=f"s3://bodies/v{n}") for n in range(1, 5)]
    for n in range(1, 5):
        bodies.bodies[f"s3://bodies/v{n}"] = {"Id": "001A", "Name": f"v{n}"}
    event = batch(ENTITY_ARN, *zip(images, images[1:], strict=False))
    # When the bus takes only the first event
    publisher = RecordingPublisher(fail_from=1)
    result = publish_record_events(event, publisher=publisher, source=SOURCE, table="entities", bodies=bodies)
    # Then the batch is retried from the second record, and only the body the published event replaced is released
    assert result == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert [e.detail["record_ref"]["s3"] for e in publisher.events] == ["s3://bodies/v2"]
    assert bodies.superseded == ["s3://bodies/v1"]


def test_an_unmappable_record_stops_the_batch_there_and_what_came_before_is_published():
    publisher = RecordingPublisher()
    broken = {"pk": "Account#001B", "object": "Account", "version": "not a number"}
    event = batch(ENTITY_ARN, (None, entity(1, "Acme")), (None, broken), (None, entity(1, "Other", record_id="001C")))
    result = publish_record_events(event, publisher=publisher, source=SOURCE, table="entities")
    assert result == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert [e.detail["id"] for e in publisher.events] == ["001A"]


def test_a_missing_body_does_not_block_the_stream_and_the_event_still_names_the_body():
    bodies = MemoryRecordBodies()  # neither body is there any more
    old = entity(1, "x", record=None, record_ref="s3://bodies/gone-1")
    new = entity(2, "x", record=None, record_ref="s3://bodies/gone-2")
    publisher = RecordingPublisher()
    result = publish_record_events(
        batch(ENTITY_ARN, (old, new)), publisher=publisher, source=SOURCE, table="entities", bodies=bodies
    )
    assert result == {"batchItemFailures": []}
    (published,) = publisher.events
    assert published.detail["record"] is None and published.detail["record_ref"]["s3"] == "s3://bodies/gone-2"
