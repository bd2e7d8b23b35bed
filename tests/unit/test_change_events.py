import orjson

from appflow_ingest.domain.change_events import DELETE, UPSERT, change_event_for


def image(version, deleted=False, record=None):
    return {
        "pk": "Account#001",
        "object": "Account",
        "record_id": "001",
        "version": version,
        "deleted": deleted,
        "record": orjson.dumps(record or {"Id": "001", "Name": "Acme"}).decode(),
        "source": "s3://landing/flow/exec/file",
    }


def test_a_new_record_is_an_upsert_with_a_deterministic_id():
    event = change_event_for(None, image(1614592800000), table="t")
    assert event.detail["change"] == UPSERT
    assert event.detail["version"] == "2021-03-01T10:00:00.000Z"
    assert event.detail["record"] == {"Id": "001", "Name": "Acme"}
    assert event.event_id == "Account:001:1614592800000:UPSERT"
    assert change_event_for(None, image(1614592800000), table="t").event_id == event.event_id


def test_a_tombstone_is_a_delete():
    event = change_event_for(image(1), image(2, deleted=True), table="t")
    assert event.detail["change"] == DELETE and event.detail["previous_version"] == "1970-01-01T00:00:00.001Z"


def test_no_event_when_the_version_did_not_move():
    # moto emits two INSERT records for one write; other attribute updates keep the version.
    assert change_event_for(image(5), image(5), table="t") is None
    assert change_event_for(image(5), None, table="t") is None


def test_an_event_too_large_for_the_bus_carries_a_reference():
    event = change_event_for(None, image(1, record={"Description": "x" * 300_000}), table="entities")
    assert event.detail["record"] is None
    assert event.detail["record_ref"] == {"table": "entities", "pk": "Account#001"}
    assert len(event.detail_json()) < 256 * 1024
