"""Rules per object: every coercion of AppFlow's value forms, each rule, masking, new-field reports."""

from decimal import Decimal

import pytest

from appflow_ingest.domain.records.versions import ObjectConfig, RecordRejected, to_record_version
from appflow_ingest.domain.rules import HASH, REDACT, REDACTED, RULE_SETS, CoercionError, Field, ObjectRules, RuleSet
from appflow_ingest.domain.rules.coercion import (
    to_boolean,
    to_date,
    to_datetime,
    to_decimal,
    to_id,
    to_integer,
    to_number,
    to_string,
)
from appflow_ingest.settings import ConfigurationError, parse_flow_rules

CONTACT_ID = "0035g00000AbcDEAAZ"


# ------------------------------------------------------------------------------------ coercion
@pytest.mark.parametrize("raw", [100, 100.0, "100", "100.0", " 100.00 ", "1e2"])
def test_numbers_in_every_form_become_one_integral_value(raw):
    assert to_number(raw) == 100 and type(to_number(raw)) is int


@pytest.mark.parametrize(("raw", "expected"), [(23.5, 23.5), ("23.50", 23.5), ("0.1", 0.1), (-4.25, -4.25)])
def test_fractional_numbers_become_floats(raw, expected):
    assert to_number(raw) == expected and type(to_number(raw)) is float


def test_a_number_a_float_cannot_hold_stays_an_exact_decimal_string():
    assert to_number("1234567890123456.78") == "1234567890123456.78"
    assert to_decimal(to_number("1234567890123456.78")) == Decimal("1234567890123456.78")


def test_decimals_are_exact_whatever_the_form():
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("19.99") + to_decimal(0.01) == Decimal("20.00")


@pytest.mark.parametrize("empty", [None, ""])
@pytest.mark.parametrize(
    "coerce", [to_string, to_id, to_boolean, to_decimal, to_number, to_integer, to_datetime, to_date]
)
def test_null_and_empty_string_are_both_empty(coerce, empty):
    assert coerce(empty) is None


@pytest.mark.parametrize("raw", ["abc", "1,5", True, "NaN", "inf", [1]])
def test_not_a_number(raw):
    with pytest.raises(CoercionError):
        to_number(raw)


@pytest.mark.parametrize(("raw", "expected"), [(3, 3), (3.0, 3), ("3.0", 3), ("23", 23)])
def test_integers(raw, expected):
    assert to_integer(raw) == expected


def test_an_integer_field_rejects_fractions():
    with pytest.raises(CoercionError, match="whole number"):
        to_integer("2.5")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(True, True), (False, False), ("true", True), ("FALSE", False), ("1", True), ("0", False), (1, True), (0, False)],
)
def test_booleans_as_json_or_as_strings(raw, expected):
    assert to_boolean(raw) is expected


@pytest.mark.parametrize("raw", ["maybe", 2, 1.5])
def test_not_a_boolean(raw):
    with pytest.raises(CoercionError, match="boolean"):
        to_boolean(raw)


@pytest.mark.parametrize(
    "raw", ["2024-04-16T19:00:00.000+0000", "2024-04-16T19:00:00.000Z", "2024-04-16T21:00:00.000+02:00"]
)
def test_both_salesforce_timestamp_forms_become_one(raw):
    assert to_datetime(raw) == "2024-04-16T19:00:00.000Z"


def test_not_a_timestamp():
    with pytest.raises(CoercionError, match="ISO-8601"):
        to_datetime("yesterday")


@pytest.mark.parametrize(
    ("raw", "expected"), [("2024-04-16", "2024-04-16"), ("2024-04-16T19:00:00.000+0000", "2024-04-16")]
)
def test_dates(raw, expected):
    assert to_date(raw) == expected


def test_not_a_date():
    with pytest.raises(CoercionError, match="date"):
        to_date("16/04/2024")


def test_strings_keep_text_and_write_numbers_canonically():
    assert to_string("Acme") == "Acme"
    assert to_string(5.0) == "5"
    assert to_string(False) == "false"


def test_ids_are_15_or_18_characters():
    assert to_id(CONTACT_ID) == CONTACT_ID
    # A 15-character id becomes the 18-character one its record is keyed by (docs/appflow.md section 4).
    assert to_id("0016g00000MLhLe") == to_id(" 0016g00000MLhLe ") == "0016g00000MLhLeAAL"
    with pytest.raises(CoercionError, match="Salesforce id"):
        to_id("003-bad")


# ------------------------------------------------------------------------------------ rule sets
RULES = RuleSet(
    name="test",
    object="Contact",
    fields={
        "Id": Field("id", required=True),
        "LastModifiedDate": Field("datetime", required=True),
        "LastName": Field("string", required=True),
        "Score__c": Field("integer"),
        "Level__c": Field("string", allowed=("Bronze", "Silver", "Gold")),
        "Email": Field("string", mask=HASH),
        "Phone": Field("string", mask=REDACT),
        "MailingPostalCode": Field("string", rename="PostalCode"),
        "Fax": Field(drop=True),
    },
)


def contact(**fields):
    return {"Id": CONTACT_ID, "LastModifiedDate": "2024-04-16T19:00:00.000+0000", "LastName": "Lovelace", **fields}


def apply(record, rules=RULES, key=b"k", seen=None):
    object_rules = ObjectRules(
        {"Contact": rules},
        masking_key=key,
        on_new_field=(lambda o, f: seen.append((o, f))) if seen is not None else None,
    )
    return object_rules.apply(to_record_version(record, ObjectConfig("Contact"))).record


def test_a_valid_record_is_coerced_renamed_and_dropped():
    record = apply(contact(Score__c="42.0", Level__c="Gold", MailingPostalCode="W1", Fax="x"))
    assert record["Score__c"] == 42
    assert record["LastModifiedDate"] == "2024-04-16T19:00:00.000Z"
    assert record["PostalCode"] == "W1" and "MailingPostalCode" not in record
    assert "Fax" not in record


def test_rest_and_bulk_forms_of_one_version_store_the_same_record():
    rest = apply(contact(Score__c=42, Level__c=None, LastModifiedDate="2024-04-16T19:00:00.000+0000"))
    bulk = apply(contact(Score__c="42.0", Level__c="", LastModifiedDate="2024-04-16T19:00:00.000Z"))
    assert rest == bulk


def test_a_missing_required_field_names_the_rule_and_the_field():
    with pytest.raises(RecordRejected) as rejected:
        apply(contact(LastName=""))
    assert (rejected.value.field, rejected.value.expected) == ("LastName", "required: a value")


def test_a_wrong_type_names_the_type_and_what_came():
    with pytest.raises(RecordRejected) as rejected:
        apply(contact(Score__c="lots"))
    assert rejected.value.field == "Score__c"
    assert rejected.value.expected.startswith("type integer")
    assert rejected.value.got == "lots"
    assert "field 'Score__c': expected type integer: a number, got 'lots'" in str(rejected.value)


def test_a_value_outside_the_allowed_ones():
    with pytest.raises(RecordRejected) as rejected:
        apply(contact(Level__c="Platinum"))
    assert rejected.value.field == "Level__c" and "one of ['Bronze', 'Gold', 'Silver']" in rejected.value.expected


def test_a_rejected_record_is_left_exactly_as_it_arrived():
    record = contact(Score__c="42.0", Level__c="Platinum", Email="ada@example.com")
    before = dict(record)
    with pytest.raises(RecordRejected):
        apply(record)
    assert record == before


def test_a_tombstone_is_stored_even_when_business_fields_are_missing_or_wrong():
    record = apply({"Id": CONTACT_ID, "LastModifiedDate": "2024-04-16T19:00:00Z", "IsDeleted": True, "Score__c": "?"})
    assert record["Score__c"] == "?"


def test_sensitive_fields_are_hashed_with_the_key_and_redacted():
    first = apply(contact(Email="ada@example.com", Phone="+44 20 7946 0000"))
    again = apply(contact(Email="ada@example.com"))
    other_key = apply(contact(Email="ada@example.com"), key=b"another key")
    assert first["Email"].startswith("hmac-sha256:") and "ada" not in first["Email"]
    assert first["Email"] == again["Email"]  # equal values stay equal: consumers can still match them
    assert first["Email"] != other_key["Email"]
    assert first["Phone"] == REDACTED


def test_without_a_key_hashed_fields_are_redacted_not_hashed_unkeyed():
    assert apply(contact(Email="ada@example.com"), key=None)["Email"] == REDACTED


def test_unknown_fields_are_kept_and_reported_once():
    seen = []
    rules = ObjectRules({"Contact": RULES}, on_new_field=lambda o, f: seen.append((o, f)))
    for _ in range(3):
        version = rules.apply(to_record_version(contact(Nickname__c="Ada", Score__c=1), ObjectConfig("Contact")))
        assert version.record["Nickname__c"] == "Ada"
    assert seen == [("Contact", "Nickname__c")]


def test_a_report_that_fails_is_made_again():
    calls = []

    def flaky(object_name, field):
        calls.append(field)
        if len(calls) == 1:
            raise ConnectionError("registry unreachable")

    rules = ObjectRules({"Contact": RULES}, on_new_field=flaky)
    with pytest.raises(ConnectionError):
        rules.apply(to_record_version(contact(New__c=1), ObjectConfig("Contact")))
    rules.apply(to_record_version(contact(New__c=1), ObjectConfig("Contact")))
    assert calls == ["New__c", "New__c"]


def test_objects_without_rules_are_stored_as_they_are():
    seen = []
    rules = ObjectRules({}, on_new_field=lambda o, f: seen.append((o, f)))
    record = {"Id": "a0B5g00000XyZabEAF", "LastModifiedDate": "2024-04-16T19:00:00.000+0000", "Amount": "1.0"}
    version = rules.apply(to_record_version(dict(record), ObjectConfig("Thing__c")))
    assert version.record == record
    assert seen == []  # no declared schema, so no drift to report


def test_unknown_types_and_masks_fail_when_the_rule_set_is_written():
    with pytest.raises(ValueError, match="unknown field type"):
        Field("money")
    with pytest.raises(ValueError, match="unknown mask"):
        Field(mask="blur")


def test_the_shipped_purchase_rules_accept_both_api_forms_and_reject_a_bad_stage():
    rules = ObjectRules({"Opportunity": RULE_SETS["purchase"]})
    base = {"Id": "0065g00000AbcDEAAZ", "Name": "Order 1", "AccountId": "0015g00000AbcDEAAZ"}
    rest = {**base, "Amount": 120, "StageName": "Closed Won", "LastModifiedDate": "2024-04-16T19:00:00.000+0000"}
    bulk = {**base, "Amount": "120.0", "StageName": "Closed Won", "LastModifiedDate": "2024-04-16T19:00:00.000Z"}
    config = ObjectConfig("Opportunity")
    assert rules.apply(to_record_version(rest, config)).record == rules.apply(to_record_version(bulk, config)).record
    with pytest.raises(RecordRejected) as rejected:
        rules.apply(to_record_version({**rest, "StageName": "Won-ish"}, config))
    assert rejected.value.field == "StageName"


def test_a_15_character_reference_is_stored_as_the_18_character_id_it_joins_on():
    rules = ObjectRules({"Opportunity": RULE_SETS["purchase"]})
    purchase = {
        "Id": "0065g00000AbcDEAAZ",
        "Name": "Order 1",
        "AccountId": "0016g00000MLhLe",  # a report or hand-made export gives 15 characters
        "Amount": 120,
        "StageName": "Closed Won",
        "LastModifiedDate": "2024-04-16T19:00:00.000+0000",
    }
    stored = rules.apply(to_record_version(purchase, ObjectConfig("Opportunity"))).record
    assert stored["AccountId"] == "0016g00000MLhLeAAL"
    values, _ = rules.apply_to_change("Opportunity", {"AccountId": "0016g00000MLhLe"}, [], whole=False, deleted=False)
    assert values["AccountId"] == "0016g00000MLhLeAAL"


# ------------------------------------------------------------------------------------ configuration
def test_rules_are_bound_to_objects_from_flow_objects():
    raw = '{"members": {"object": "Contact", "rules": "contact-member"}, "plain": {"object": "Account"}}'
    assert parse_flow_rules(raw) == {"Contact": "contact-member"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"f": {"object": "Contact", "rules": "nope"}}', "unknown rule set"),
        ('{"f": {"object": "Account", "rules": "purchase"}}', "is for Opportunity"),
        (
            '{"a": {"object": "Contact", "rules": "contact-member"}, "b": {"object": "Contact", "rules": "account-member"}}',
            "is for Account",
        ),
    ],
)
def test_rule_configuration_errors_are_clear(raw, message):
    with pytest.raises(ConfigurationError, match=message):
        parse_flow_rules(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-04-16T19:00:00.000-0000", "2024-04-16T19:00:00.000Z"),
        ("2024-04-16T19:00:00.123456Z", "2024-04-16T19:00:00.123Z"),
        ("2024-04-16T19:00:00Z", "2024-04-16T19:00:00.000Z"),
        ("2024-04-16T20:00:00.000+0100", "2024-04-16T19:00:00.000Z"),
    ],
)
def test_other_timestamp_shapes_take_the_slow_path_to_the_same_form(raw, expected):
    assert to_datetime(raw) == expected


CHANGE_RULES = ObjectRules(
    {
        "Contact": RuleSet(
            name="change-contacts",
            object="Contact",
            fields={
                "LastName": Field("string", required=True),
                "Email": Field("string", mask=REDACT),
                "Phone": Field("string", rename="phone_number"),
                "Fax": Field(drop=True),
                "NumberOfEmployees": Field("integer"),
            },
        )
    }
)


def test_a_changes_fields_are_checked_coerced_masked_renamed_and_dropped_alone():
    values, nulled = CHANGE_RULES.apply_to_change(
        "Contact",
        {"Email": "a@b.c", "NumberOfEmployees": "23.0", "Fax": "1", "New__c": 1},
        ["Phone"],
        whole=False,
        deleted=False,
    )
    # LastName is required but absent: an UPDATE that does not touch it is fine.
    assert values == {"Email": REDACTED, "NumberOfEmployees": 23, "phone_number": None, "New__c": 1}
    assert nulled == ("phone_number",)


@pytest.mark.parametrize(
    ("values", "nulled", "whole", "field"),
    [
        ({}, ["LastName"], False, "LastName"),  # nulling a required field
        ({"Email": "a@b.c"}, [], True, "LastName"),  # a CREATE is the whole record
        ({"NumberOfEmployees": "many"}, [], False, "NumberOfEmployees"),
    ],
)
def test_a_change_breaking_a_rule_names_the_field(values, nulled, whole, field):
    with pytest.raises(RecordRejected) as rejected:
        CHANGE_RULES.apply_to_change("Contact", values, nulled, whole=whole, deleted=False)
    assert rejected.value.field == field


def test_a_delete_is_never_rejected_and_objects_without_rules_pass_through():
    values, nulled = CHANGE_RULES.apply_to_change("Contact", {}, ["LastName"], whole=False, deleted=True)
    assert (values, nulled) == ({"LastName": None}, ("LastName",))
    assert CHANGE_RULES.apply_to_change("Lead", {"X": "1"}, ["Y"], whole=True, deleted=False) == ({"X": "1"}, ("Y",))
