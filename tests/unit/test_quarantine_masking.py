"""A quarantine entry shows a record's masked fields exactly as the table stores them (docs/security.md)."""

from __future__ import annotations

from appflow_ingest.domain.records.quarantine_entries import rejected_event, split_clear_content
from appflow_ingest.domain.records.versions import RecordRejected, RecordVersion
from appflow_ingest.domain.rules import RULE_SETS, ObjectRules

KEY = b"unit masking key"
RULES = ObjectRules({"Contact": RULE_SETS["contact-member"]}, masking_key=KEY)


def contact(**fields):
    return {"Id": "0035g00000Ab001AAA", "LastModifiedDate": "2024-04-16T19:00:00.000Z", **fields}


def test_masked_fields_show_what_the_table_stores_and_the_rest_stays_as_it_arrived():
    arrived = contact(LastName="Ann", Email="ann@example.com", Phone="555-0101", Birthdate="1990-01-02", Title="CEO")
    stored = RULES.apply(RecordVersion("Contact", arrived["Id"], 0, False, dict(arrived))).record
    shown = RULES.masking_for("Contact")(arrived)
    assert shown == {**arrived, "Email": stored["Email"], "Phone": "****", "Birthdate": "****"}
    assert shown["Email"].startswith("hmac-sha256:") and arrived["Email"] == "ann@example.com"  # a copy


def test_a_masked_value_that_breaks_its_rule_is_masked_as_it_came_and_an_empty_one_stays():
    shown = RULES.masking_for("Contact")(contact(Birthdate="born 1990-01-02 in Paris", Email="", Phone=None))
    assert shown["Birthdate"] == "****" and shown["Email"] == "" and shown["Phone"] is None


def test_the_reason_of_a_masked_field_names_field_and_expectation_not_the_value():
    record = contact(LastName="Carol", Birthdate="born 1990-01-02 in Paris")
    try:
        RULES.apply(RecordVersion("Contact", record["Id"], 0, False, record))
    except RecordRejected as error:
        assert error.field == "Birthdate" and error.got is None
        assert "Paris" not in str(error) and "a date like" in str(error) and "not shown" in str(error)
    else:
        raise AssertionError("a Birthdate that is not a date must be rejected")


def test_an_unknown_object_cannot_be_masked_but_an_object_without_rules_has_nothing_to_mask():
    assert RULES.masking_for(None) is None
    assert RULES.masking_for("Account")({"Phone": "555"}) == {"Phone": "555"}
    assert ObjectRules({}).masking_for(None)({"Phone": "555"}) == {"Phone": "555"}


def test_clear_content_is_split_off_and_its_entry_names_where_it_went():
    masked = {"source": "s3://b/k", "offset": 0, "reason": "r1", "record": {"Email": "hmac-sha256:x"}}
    line = {"source": "s3://b/k", "offset": 9, "reason": "r2", "line": '{"Email": "dave@example.com"'}
    event = rejected_event({"id": "e", "detail": {"Email": "gina@example.com"}}, "ChangeEventHeader", "r3", None)
    kept, clear = split_clear_content([masked, line, event], raw_location="s3://raw/k")
    assert kept[0] == masked
    assert kept[1] == {"source": "s3://b/k", "offset": 9, "reason": "r2", "raw_location": "s3://raw/k"}
    assert "unmasked_event" not in kept[2] and kept[2]["raw_location"] == "s3://raw/k"
    assert "dave@example.com" not in repr(kept) and "gina@example.com" not in repr(kept)
    assert [c.get("line") or c.get("unmasked_event") for c in clear] == [line["line"], event["unmasked_event"]]
