"""ChangeApplier against in-memory ports: Salesforce change events merged newest-wins, gaps marked, bad events quarantined."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FixedMaskingKey, MemoryEntityMerger, MemoryResyncMarks, RecordingPublisher, RecordingQuarantine

from appflow_ingest.domain.bus_events.resync_required import RESYNC_REQUIRED
from appflow_ingest.domain.rules import REDACTED, RULE_SETS, ObjectRules
from appflow_ingest.domain.timestamps import to_epoch_millis
from appflow_ingest.services.apply_changes import MAX_ATTEMPTS, ChangeApplier, ConcurrentUpdates

ACCOUNT_ID = "0015g00000XyZaBAAV"
NOW = to_epoch_millis("2024-04-16T20:00:00Z") / 1000  # the clock: an hour after the events


def change_event(
    change_type: str = "UPDATE",
    values: dict[str, Any] | None = None,
    *,
    event_id: str = "ev-1",
    record_ids: tuple[str, ...] = (ACCOUNT_ID,),
    nulled: tuple[str, ...] = (),
    diff: tuple[str, ...] = (),
    commit: int = 1713295500000,
) -> dict[str, Any]:
    header = {
        "entityName": "Account",
        "changeType": change_type,
        "recordIds": list(record_ids),
        "commitTimestamp": commit,
        "changedFields": sorted(values or {}),
        "nulledFields": list(nulled),
        "diffFields": list(diff),
    }
    return {
        "id": event_id,
        "detail-type": "AccountChangeEvent",
        "detail": {"ChangeEventHeader": header, **(values or {})},
    }


class Harness:
    """The applier and its in-memory ports."""

    def __init__(self, *, conflicts: int = 0, rules: bool = False, documents: dict | None = None) -> None:
        self.merger = MemoryEntityMerger(conflicts=conflicts)
        self.marks = MemoryResyncMarks()
        self.publisher = RecordingPublisher()
        self.quarantine = RecordingQuarantine()
        self.documents = documents or {}
        self.applier = ChangeApplier(
            self.merger,
            self.marks,
            self.publisher,
            self.quarantine,
            read_json=lambda bucket, key: self.documents[(bucket, key)],
            event_source="appflow-ingest",
            rules=ObjectRules({"Account": RULE_SETS["account-member"]}, masking_key=FixedMaskingKey().current())
            if rules
            else None,
            clock=lambda: NOW,
        )

    def stored(self) -> dict[str, Any]:
        return self.merger.records[("Account", ACCOUNT_ID)].record


def test_create_then_update_merge_newest_wins_and_an_older_change_is_ignored():
    # Given a CREATE and an UPDATE of the same account
    h = Harness()
    created = h.applier.apply(
        change_event("CREATE", {"Name": "Acme", "Rating": "Cold", "LastModifiedDate": "2024-04-16T19:20:00.000Z"})
    )
    updated = h.applier.apply(
        change_event("UPDATE", {"Rating": "Warm", "LastModifiedDate": "2024-04-16T19:25:00.000Z"}, event_id="ev-2")
    )
    # Then the update is merged into the created record (fields it does not carry are kept)
    assert (created.written, updated.written) == (1, 1)
    assert h.stored() == {
        "Id": ACCOUNT_ID,
        "Name": "Acme",
        "Rating": "Warm",
        "LastModifiedDate": "2024-04-16T19:25:00.000Z",
        "IsDeleted": False,
    }
    # When an older change arrives late, then it changes nothing and counts stale
    late = h.applier.apply(
        change_event("UPDATE", {"Rating": "Hot", "LastModifiedDate": "2024-04-16T19:22:00.000Z"}, event_id="ev-0")
    )
    assert (late.written, late.stale) == (0, 1)
    assert h.stored()["Rating"] == "Warm"
    assert h.publisher.events == []  # the table's stream publishes writes, not this service


def test_a_retried_event_meeting_its_own_write_counts_written_again_not_stale():
    h = Harness()
    event = change_event("CREATE", {"Name": "Acme", "LastModifiedDate": "2024-04-16T19:20:00.000Z"})
    assert h.applier.apply(event).written == 1
    again = h.applier.apply(event)
    assert (again.written, again.stale, h.merger.writes) == (1, 0, 1)


def test_a_delete_leaves_a_tombstone_with_the_last_known_values():
    h = Harness()
    h.merger.store("Account", ACCOUNT_ID, to_epoch_millis("2024-04-16T19:00:00Z"), {"Id": ACCOUNT_ID, "Name": "Acme"})
    report = h.applier.apply(change_event("DELETE", {}, commit=to_epoch_millis("2024-04-16T19:30:00Z")))
    assert report.written == 1
    assert h.merger.records[("Account", ACCOUNT_ID)].deleted is True
    assert h.stored() == {"Id": ACCOUNT_ID, "Name": "Acme", "IsDeleted": True}


def test_a_gap_event_marks_the_records_and_publishes_resync_required_with_deterministic_ids():
    # Given a GAP event for two records
    h = Harness()
    other = "0015g00000XyZaCAAV"
    event = change_event("GAP_UPDATE", {}, record_ids=(ACCOUNT_ID, other))
    # When it is applied twice (a retry)
    h.applier.apply(event)
    report = h.applier.apply(event)
    # Then nothing is written, both records are marked once, and the two events repeat their ids
    assert (report.written, report.resync, h.merger.writes) == (0, 2, 0)
    assert set(h.marks.marks) == {("Account", ACCOUNT_ID), ("Account", other)}
    assert h.marks.marks[("Account", ACCOUNT_ID)]["event_ids"] == {"ev-1"}
    ids = [event.event_id for event in h.publisher.events]
    assert {event.detail_type for event in h.publisher.events} == {RESYNC_REQUIRED}
    assert ids[:2] == ids[2:] and len(set(ids)) == 2


def test_fields_sent_as_diffs_are_written_and_the_record_marked_for_a_resync():
    h = Harness()
    h.merger.store("Account", ACCOUNT_ID, to_epoch_millis("2024-04-16T19:00:00Z"), {"Id": ACCOUNT_ID, "Name": "Acme"})
    report = h.applier.apply(
        change_event(
            "UPDATE",
            {"Description": "@@ -1 +1 @@", "LastModifiedDate": "2024-04-16T19:25:00.000Z"},
            diff=("Description",),
        )
    )
    assert (report.written, report.resync) == (1, 1)
    [event] = h.publisher.events
    assert event.detail["reason"] == "fields sent as diffs cannot be applied: Description"


def test_a_writer_that_keeps_winning_fails_the_event_and_fewer_conflicts_are_redone():
    event = change_event("UPDATE", {"Rating": "Warm", "LastModifiedDate": "2024-04-16T19:25:00.000Z"})
    # Given another writer that wins the first two guarded writes: the merge is redone on a re-read
    h = Harness(conflicts=2)
    report = h.applier.apply(event)
    assert (report.written, report.conflicts) == (1, 2)
    # Given one that wins every attempt: the event fails, so that Lambda retries it
    h = Harness(conflicts=MAX_ATTEMPTS)
    with pytest.raises(ConcurrentUpdates):
        h.applier.apply(event)
    assert h.merger.records == {}


def test_an_event_that_does_not_parse_is_quarantined_with_its_masked_fields_and_nothing_written():
    # Given an event whose version is not a timestamp, carrying a field the rules mask (Phone: redact)
    h = Harness(rules=True)
    event = change_event("UPDATE", {"Phone": "+1 555 0100", "LastModifiedDate": "yesterday"})
    # When it is applied
    report = h.applier.apply(event)
    # Then it is quarantined, naming the field, with the phone number masked; nothing is written
    [entry] = h.quarantine.events.values()
    assert report.quarantined and report.written == 0 and h.merger.records == {}
    assert entry["field"] == "LastModifiedDate"
    assert entry["event"]["detail"]["Phone"] == REDACTED
    assert "+1 555 0100" not in str(entry)


def test_an_event_too_large_for_the_bus_is_read_from_the_document_its_pointer_names():
    # Given the full event in S3 and a pointer event naming it
    full = change_event("CREATE", {"Name": "Acme", "LastModifiedDate": "2024-04-16T19:20:00.000Z"})
    h = Harness(documents={("large-events", "ev-1.json"): full})
    pointer = {
        "id": "ev-1",
        "detail-type": "AccountChangeEvent",
        "detail": {"s3Bucket": "large-events", "s3Key": "ev-1.json"},
    }
    # When the pointer is applied, then the full event is
    report = h.applier.apply(pointer)
    assert (report.from_pointer, report.written) == ("s3://large-events/ev-1.json", 1)
    assert h.stored()["Name"] == "Acme"
