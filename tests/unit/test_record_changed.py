import orjson

from appflow_ingest.domain.bus_events.record_changed import DELETE, UPSERT, record_changed_event


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
    event = record_changed_event(None, image(1614592800000), table="t")
    assert event.detail["change"] == UPSERT
    assert event.detail["version"] == "2021-03-01T10:00:00.000Z"
    assert event.detail["record"] == {"Id": "001", "Name": "Acme"}
    assert event.event_id == "Account:001:1614592800000:UPSERT"
    assert record_changed_event(None, image(1614592800000), table="t").event_id == event.event_id


def test_a_tombstone_is_a_delete():
    event = record_changed_event(image(1), image(2, deleted=True), table="t")
    assert event.detail["change"] == DELETE and event.detail["previous_version"] == "1970-01-01T00:00:00.001Z"


def test_no_event_when_the_version_did_not_move():
    # moto emits two INSERT records for one write; other attribute updates keep the version.
    assert record_changed_event(image(5), image(5), table="t") is None
    assert record_changed_event(image(5), None, table="t") is None


def test_an_event_too_large_for_the_bus_carries_a_reference():
    event = record_changed_event(None, image(1, record={"Description": "x" * 300_000}), table="entities")
    assert event.detail["record"] is None
    assert event.detail["record_ref"] == {"table": "entities", "pk": "Account#001"}
    assert len(event.detail_json()) < 256 * 1024


# ---------------------------------------------------------------- changed_fields and volatile fields
ACME = {"Id": "001", "Name": "Acme", "Phone": "1", "LastModifiedDate": "2021-03-01T10:00:00.000+0000"}


def test_an_insert_names_every_field_as_changed():
    event = record_changed_event(None, image(1, record=ACME), table="t")
    assert event.detail["changed_fields"] == sorted(ACME)


def test_an_update_names_exactly_the_fields_that_differ():
    newer = {**ACME, "Phone": "2", "LastModifiedDate": "2021-03-02T10:00:00.000+0000", "Rating": "Hot"}
    del newer["Name"]
    event = record_changed_event(image(1, record=ACME), image(2, record=newer), table="t")
    assert event.detail["changed_fields"] == ["LastModifiedDate", "Name", "Phone", "Rating"]


def test_a_change_of_type_is_a_change():
    # 1 == 1.0 == True in Python; not for a consumer reading the JSON
    event = record_changed_event(
        image(1, record={**ACME, "Flag": 1}), image(2, record={**ACME, "Flag": True}), table="t"
    )
    assert event.detail["changed_fields"] == ["Flag"]
    nested = record_changed_event(
        image(1, record={**ACME, "Address": {"city": "A", "n": 1}}),
        image(2, record={**ACME, "Address": {"n": 1, "city": "A"}}),
        table="t",
    )
    assert nested is None  # the same object with its keys in another order: no change


def test_a_newer_version_with_only_volatile_fields_changed_publishes_nothing():
    touched = {**ACME, "LastModifiedDate": "2021-03-02T10:00:00.000+0000", "SystemModstamp": "2021-03-02"}
    assert record_changed_event(image(1, record=ACME), image(2, record=touched), table="t") is None


def test_volatile_fields_are_configurable_per_object():
    touched = {**ACME, "LastViewedDate": "2021-03-02", "LastModifiedDate": "2021-03-02T10:00:00.000+0000"}
    assert record_changed_event(image(1, record=ACME), image(2, record=touched), table="t") is not None
    volatile = {"Account": frozenset({"LastModifiedDate", "LastViewedDate"})}
    assert (
        record_changed_event(image(1, record=ACME), image(2, record=touched), table="t", volatile_fields=volatile)
        is None
    )
    # another object keeps the defaults
    assert record_changed_event(
        image(1, record=ACME), image(2, record=touched), table="t", volatile_fields={"Contact": frozenset()}
    )


def test_a_tombstone_with_identical_fields_is_still_a_delete():
    deleted = record_changed_event(image(1, record=ACME), image(2, deleted=True, record=ACME), table="t")
    assert deleted.detail["change"] == DELETE and deleted.detail["changed_fields"] == []
    revived = record_changed_event(image(2, deleted=True, record=ACME), image(3, record=ACME), table="t")
    assert revived.detail["change"] == UPSERT


def test_a_compressed_body_reads_as_the_same_record():
    from appflow_ingest.domain.records.body_codec import body_attributes

    wide = {**ACME, "Description": "a long text " * 200}
    stored = body_attributes(wide, compress_over=100)
    assert stored["codec"] == {"S": "gzip"}
    compressed_image = {**image(2, record=wide), "record": stored["record"]["B"], "codec": "gzip"}
    event = record_changed_event(image(1, record=ACME), compressed_image, table="t")
    assert event.detail["record"] == wide and event.detail["changed_fields"] == ["Description"]
    # the other way round: a compressed old image against a plain new one
    touched = {**wide, "LastModifiedDate": "2021-03-03T10:00:00.000+0000"}
    assert record_changed_event(compressed_image, image(3, record=touched), table="t") is None


def s3_image(version, uri, deleted=False):
    """An item whose body is in S3 (a record over 240 KB): record_ref instead of record."""
    return {**{k: v for k, v in image(version, deleted).items() if k != "record"}, "record_ref": uri, "record_bytes": 9}


def test_changed_fields_of_records_kept_in_s3_are_read_from_their_bodies():
    big = {**ACME, "Description": "é" * 10}
    bodies = {
        "s3://b/v1": big,
        "s3://b/v2": {**big, "Name": "Acme Ltd"},
        "s3://b/v3": {**big, "Name": "Acme Ltd", "LastModifiedDate": "2021-03-03T10:00:00.000+0000"},
    }
    read = bodies.__getitem__
    # S3 -> S3 with a real change: the event names the field and still carries the reference
    event = record_changed_event(s3_image(1, "s3://b/v1"), s3_image(2, "s3://b/v2"), table="t", read_body=read)
    assert event.detail["changed_fields"] == ["Name"]
    assert event.detail["record"] is None and event.detail["record_ref"]["s3"] == "s3://b/v2"
    # S3 -> S3 touching only a volatile field: no event
    assert record_changed_event(s3_image(2, "s3://b/v2"), s3_image(3, "s3://b/v3"), table="t", read_body=read) is None
    # inline -> S3 and S3 -> inline (compressed or not) are compared the same way
    assert record_changed_event(image(1, record=big), s3_image(2, "s3://b/v2"), table="t", read_body=read).detail[
        "changed_fields"
    ] == ["Name"]
    from appflow_ingest.domain.records.body_codec import body_attributes

    stored = body_attributes(bodies["s3://b/v3"], compress_over=10)
    compressed = {**image(3), "record": stored["record"]["B"], "codec": "gzip"}
    assert record_changed_event(s3_image(2, "s3://b/v2"), compressed, table="t", read_body=read) is None
    # an insert of a record kept in S3 names every field (a snapshot too: same function)
    first = record_changed_event(None, s3_image(1, "s3://b/v1"), table="t", read_body=read)
    assert first.detail["changed_fields"] == sorted(big)


def test_a_body_that_cannot_be_read_counts_every_field_and_publishes():
    # No reader (or the body expired): nothing can be compared, so nothing can go unpublished
    event = record_changed_event(image(1), s3_image(2, "s3://b/gone"), table="t", read_body=lambda uri: None)
    assert event is not None and event.detail["changed_fields"] == ["Id", "Name"]
    event = record_changed_event(s3_image(1, "s3://b/gone"), image(2), table="t")
    assert event is not None and event.detail["changed_fields"] == ["Id", "Name"]
