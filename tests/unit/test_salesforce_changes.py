import pytest

from appflow_ingest.domain.salesforce.change_events import (
    ChangeEventRejected,
    parse_change_event,
    s3_pointer,
    unwrap_pointed_event,
)
from appflow_ingest.domain.salesforce.merge import StoredRecord, merge_change

COMMIT = 1597947935000  # 2020-08-20T18:25:35.000Z


def detail(change_type="UPDATE", ids=("001",), **values):
    header = {"entityName": "Account", "changeType": change_type, "recordIds": list(ids), "commitTimestamp": COMMIT,
              "changedFields": list(values)}  # fmt: skip
    return {"ChangeEventHeader": header, **values}


def parse(d, version_field="LastModifiedDate"):
    return parse_change_event(d, event_id="e", channel="AccountChangeEvent", version_field=version_field)


def test_the_version_is_the_bodys_last_modified_date_not_the_commit_time():
    change = parse(detail(LastModifiedDate="2020-08-20T18:25:34.000+0000", Region__c="America"))
    assert change.version == COMMIT - 1000 and change.version_from == "LastModifiedDate"
    assert change.values == {"LastModifiedDate": "2020-08-20T18:25:34.000+0000", "Region__c": "America"}


def test_without_the_version_field_the_commit_time_orders_the_change():
    change = parse(detail("DELETE"))
    assert change.version == COMMIT and change.version_from == "ChangeEventHeader.commitTimestamp"


def test_a_configured_version_field_is_used():
    change = parse(detail(SystemModstamp="2020-08-20T18:25:36Z"), version_field="SystemModstamp")
    assert change.version == COMMIT + 1000


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("ChangeEventHeader"), "ChangeEventHeader"),
        (lambda d: d["ChangeEventHeader"].update(changeType="MERGE"), "ChangeEventHeader.changeType"),
        (lambda d: d["ChangeEventHeader"].update(recordIds=[]), "ChangeEventHeader.recordIds"),
        (lambda d: d["ChangeEventHeader"].update(commitTimestamp="soon"), "ChangeEventHeader.commitTimestamp"),
        (lambda d: d.update(LastModifiedDate="yesterday"), "LastModifiedDate"),
    ],
)
def test_malformed_events_are_rejected_naming_the_field(mutate, field):
    d = detail(Name="x")
    mutate(d)
    with pytest.raises(ChangeEventRejected) as error:
        parse(d)
    assert error.value.field == field and "change event e" in str(error.value)


def test_an_update_merges_changed_fields_compound_fields_one_level_down_and_clears_nulled_ones():
    stored = StoredRecord(
        1, False, {"Id": "001", "Name": "Acme", "Phone": "1", "BillingAddress": {"City": "Paris", "Street": "Rue"}}
    )
    d = detail(BillingAddress={"City": "Lyon"}, LastModifiedDate="2020-08-20T18:25:35Z")
    d["ChangeEventHeader"]["nulledFields"] = ["Phone", "BillingAddress.Street"]
    merged = merge_change(stored, parse(d), "001")
    assert merged.version.record == {
        "Id": "001", "Name": "Acme", "Phone": None, "BillingAddress": {"City": "Lyon", "Street": None},
        "LastModifiedDate": "2020-08-20T18:25:35Z", "IsDeleted": False,
    }  # fmt: skip
    assert merged.resync_reason is None and stored.record["Phone"] == "1"  # the stored dict is not mutated


def test_stale_and_equal_versions_change_nothing():
    change = parse(detail(LastModifiedDate="2020-08-20T18:25:35Z", Name="x"))
    assert merge_change(StoredRecord(COMMIT, False, {}), change, "001") is None
    assert merge_change(StoredRecord(COMMIT + 1, False, {}), change, "001") is None


def test_create_replaces_delete_keeps_a_tombstone_undelete_revives():
    stored = StoredRecord(1, False, {"Id": "001", "Old": 1})
    created = merge_change(stored, parse(detail("CREATE", Name="n")), "001").version
    assert created.record == {"Id": "001", "Name": "n", "IsDeleted": False} and not created.deleted
    deleted = merge_change(stored, parse(detail("DELETE")), "001").version
    assert deleted.deleted and deleted.record == {"Id": "001", "Old": 1, "IsDeleted": True}
    revived = merge_change(StoredRecord(1, True, deleted.record), parse(detail("UNDELETE", Name="b")), "001").version
    assert not revived.deleted and revived.record["IsDeleted"] is False and revived.record["Old"] == 1


def test_diff_fields_and_updates_of_unknown_records_ask_for_a_resync():
    d = detail(Description="@@ -1 +1 @@")
    d["ChangeEventHeader"]["diffFields"] = ["Description"]
    assert "Description" in merge_change(StoredRecord(1, False, {"Id": "001"}), parse(d), "001").resync_reason
    assert "never stored" in merge_change(None, parse(detail(Name="n")), "001").resync_reason
    assert merge_change(None, parse(detail("CREATE", Name="n")), "001").resync_reason is None


def test_gap_events_are_never_merged():
    with pytest.raises(ValueError):
        merge_change(None, parse(detail("GAP_UPDATE")), "001")
    assert parse(detail("GAP_OVERFLOW", ids=())).record_ids == ()


@pytest.mark.parametrize(
    "pointer",
    [
        {"s3Bucket": "b", "s3Key": "k/e.json"},
        {"bucketName": "b", "key": "k/e.json"},
        {"location": "s3://b/k/e.json"},
        {"payload": {"bucket": "b", "objectKey": "k/e.json"}},
    ],
)
def test_pointer_forms(pointer):
    assert s3_pointer(pointer) == ("b", "k/e.json")


def test_a_change_event_is_never_a_pointer_and_pointed_documents_are_unwrapped():
    assert s3_pointer(detail(Website="s3://not/a/pointer")) is None
    assert unwrap_pointed_event({"detail": {"a": 1}, "id": "x"}) == {"a": 1}
    assert unwrap_pointed_event({"a": 1}) == {"a": 1}
