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


# ---------------------------------------------------------------- changed_fields and volatile fields
ACME = {"Id": "001", "Name": "Acme", "Phone": "1", "LastModifiedDate": "2021-03-01T10:00:00.000+0000"}


def test_an_insert_names_every_field_as_changed():
    event = change_event_for(None, image(1, record=ACME), table="t")
    assert event.detail["changed_fields"] == sorted(ACME)


def test_an_update_names_exactly_the_fields_that_differ():
    newer = {**ACME, "Phone": "2", "LastModifiedDate": "2021-03-02T10:00:00.000+0000", "Rating": "Hot"}
    del newer["Name"]
    event = change_event_for(image(1, record=ACME), image(2, record=newer), table="t")
    assert event.detail["changed_fields"] == ["LastModifiedDate", "Name", "Phone", "Rating"]


def test_a_change_of_type_is_a_change():
    # 1 == 1.0 == True in Python; not for a consumer reading the JSON
    event = change_event_for(image(1, record={**ACME, "Flag": 1}), image(2, record={**ACME, "Flag": True}), table="t")
    assert event.detail["changed_fields"] == ["Flag"]
    nested = change_event_for(
        image(1, record={**ACME, "Address": {"city": "A", "n": 1}}),
        image(2, record={**ACME, "Address": {"n": 1, "city": "A"}}),
        table="t",
    )
    assert nested is None  # the same object with its keys in another order: no change


def test_a_newer_version_with_only_volatile_fields_changed_publishes_nothing():
    touched = {**ACME, "LastModifiedDate": "2021-03-02T10:00:00.000+0000", "SystemModstamp": "2021-03-02"}
    assert change_event_for(image(1, record=ACME), image(2, record=touched), table="t") is None


def test_volatile_fields_are_configurable_per_object():
    touched = {**ACME, "LastViewedDate": "2021-03-02", "LastModifiedDate": "2021-03-02T10:00:00.000+0000"}
    assert change_event_for(image(1, record=ACME), image(2, record=touched), table="t") is not None
    volatile = {"Account": frozenset({"LastModifiedDate", "LastViewedDate"})}
    assert (
        change_event_for(image(1, record=ACME), image(2, record=touched), table="t", volatile_fields=volatile) is None
    )
    # another object keeps the defaults
    assert change_event_for(
        image(1, record=ACME), image(2, record=touched), table="t", volatile_fields={"Contact": frozenset()}
    )


def test_a_tombstone_with_identical_fields_is_still_a_delete():
    deleted = change_event_for(image(1, record=ACME), image(2, deleted=True, record=ACME), table="t")
    assert deleted.detail["change"] == DELETE and deleted.detail["changed_fields"] == []
    revived = change_event_for(image(2, deleted=True, record=ACME), image(3, record=ACME), table="t")
    assert revived.detail["change"] == UPSERT


def test_a_compressed_body_reads_as_the_same_record():
    from appflow_ingest.domain.body_codec import body_attributes

    wide = {**ACME, "Description": "a long text " * 200}
    stored = body_attributes(wide, compress_over=100)
    assert stored["codec"] == {"S": "gzip"}
    compressed_image = {**image(2, record=wide), "record": stored["record"]["B"], "codec": "gzip"}
    event = change_event_for(image(1, record=ACME), compressed_image, table="t")
    assert event.detail["record"] == wide and event.detail["changed_fields"] == ["Description"]
    # the other way round: a compressed old image against a plain new one
    touched = {**wide, "LastModifiedDate": "2021-03-03T10:00:00.000+0000"}
    assert change_event_for(compressed_image, image(3, record=touched), table="t") is None
