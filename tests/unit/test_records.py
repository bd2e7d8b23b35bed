import pytest

from appflow_ingest.domain.records.salesforce_ids import to_18_character_id
from appflow_ingest.domain.records.versions import (
    ObjectConfig,
    RecordRejected,
    RecordVersion,
    newest_per_key,
    to_record_version,
    to_record_versions,
)

ACCOUNT = ObjectConfig("Account")


def account(**fields):
    return {"Id": "0015g00000AbcDEAAZ", "LastModifiedDate": "2021-03-01T10:00:00.000+0000", **fields}


def test_a_configured_flow_names_the_object():
    version = to_record_version(account(Name="Acme"), ACCOUNT)
    assert (version.object, version.id, version.deleted) == ("Account", "0015g00000AbcDEAAZ", False)
    assert version.version_iso == "2021-03-01T10:00:00.000Z"
    assert version.record["Name"] == "Acme"


def test_without_configuration_the_object_comes_from_attributes_and_attributes_are_not_stored():
    record = account(attributes={"type": "Contact", "url": "/services/data/v58.0/sobjects/Contact/1"})
    version = to_record_version(record, None)
    assert version.object == "Contact"
    assert "attributes" not in version.record


def test_a_rejected_record_keeps_its_attributes_for_quarantine():
    record = {"attributes": {"type": "Contact"}, "Id": "003"}
    with pytest.raises(RecordRejected):
        to_record_version(record, None)
    assert record["attributes"] == {"type": "Contact"}


def test_an_object_that_cannot_be_told_is_rejected_not_guessed():
    with pytest.raises(RecordRejected) as rejected:
        to_record_version(account(Id="a0B5g00000XyZabEAF"), None)  # a custom object's org-specific prefix
    assert rejected.value.field == "attributes.type"


@pytest.mark.parametrize(
    ("record_id", "object_name"),
    [("0015g00000AbcDEAAZ", "Account"), ("0065g00000AbCdE", "Opportunity"), ("00Q5g00000AbcDEEAZ", "Lead")],
)
def test_without_configuration_a_standard_object_is_told_by_its_id_prefix(record_id, object_name):
    assert to_record_version(account(Id=record_id), None).object == object_name


def test_configuration_and_attributes_take_precedence_over_the_id_prefix():
    assert to_record_version(account(attributes={"type": "Partner__c"}), None).object == "Partner__c"
    assert to_record_version(account(), ObjectConfig("Thing__c")).object == "Thing__c"


@pytest.mark.parametrize("bad_id", [None, "", "  ", {"a": 1}])
def test_a_record_without_id_is_rejected_naming_the_field(bad_id):
    with pytest.raises(RecordRejected, match="'Id'"):
        to_record_version(account(Id=bad_id), ACCOUNT)


@pytest.mark.parametrize("bad_version", [None, "", "not a date", "2021-03-01"])
def test_a_record_without_a_readable_version_is_rejected(bad_version):
    with pytest.raises(RecordRejected) as rejected:
        to_record_version(account(LastModifiedDate=bad_version), ACCOUNT)
    assert rejected.value.field == "LastModifiedDate"
    assert "expected" in str(rejected.value)


def test_custom_id_and_version_fields():
    config = ObjectConfig("Thing__c", id_field="External_Id__c", version_field="SystemModstamp")
    version = to_record_version({"External_Id__c": 42, "SystemModstamp": "2021-03-01T10:00:00Z"}, config)
    assert (version.id, version.version) == ("42", 1614592800000)


@pytest.mark.parametrize(
    ("value", "deleted"),
    [(True, True), ("true", True), ("TRUE", True), (False, False), ("false", False), ("", False), (None, False)],
)
def test_is_deleted_in_json_and_string_forms(value, deleted):
    assert to_record_version(account(IsDeleted=value), ACCOUNT).deleted is deleted


def test_is_deleted_garbage_is_rejected():
    with pytest.raises(RecordRejected, match="IsDeleted"):
        to_record_version(account(IsDeleted="maybe"), ACCOUNT)


def test_a_non_object_is_rejected():
    with pytest.raises(RecordRejected, match="JSON object"):
        to_record_version([1, 2], ACCOUNT)


def test_newest_per_key_keeps_the_newest_version_of_each_record():
    def v(record_id, version):
        return RecordVersion("Account", record_id, version, False, {"v": version})

    kept, dropped = newest_per_key([v("a", 1), v("b", 5), v("a", 3), v("a", 2), v("b", 5)])
    assert sorted((k.id, k.version) for k in kept) == [("a", 3), ("b", 5)]
    assert dropped == 3


def test_a_15_character_id_is_stored_under_its_18_character_form():
    # The checksum of a real pair (docs/appflow.md §4: recordIds ["0016g00000MLhLeAAL"]).
    assert to_18_character_id("0016g00000MLhLe") == "0016g00000MLhLeAAL"
    assert to_18_character_id("0015000000Gv7qJ") == "0015000000Gv7qJAAR"
    assert to_18_character_id("not-an-id-15chr") == "not-an-id-15chr"  # not alphanumeric: left alone
    records = [
        {"Id": "0016g00000MLhLe", "LastModifiedDate": "2024-01-01T00:00:00Z"},  # the batch fast path
        {"Id": " 0016g00000MLhLe ", "LastModifiedDate": "2024-01-01", "IsDeleted": "false"},  # rejected: date
        {"Id": "0016g00000MLhLe", "LastModifiedDate": "2024-01-01T00:00:00", "IsDeleted": "false"},  # the long way
    ]
    versions, rejected = to_record_versions(records, None)
    assert [(v.object, v.id, v.record["Id"]) for v in versions] == [
        ("Account", "0016g00000MLhLeAAL", "0016g00000MLhLeAAL")
    ] * 2
    ((_, rejected_record, _),) = rejected
    assert rejected_record["Id"] == " 0016g00000MLhLe "  # quarantine shows the record as it arrived
