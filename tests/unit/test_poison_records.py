"""What one record may carry without harming the others: ids in any case or form, control characters,
keys over DynamoDB's limit, versions from the future; and chunk messages from other planners."""

import orjson
import pytest

from appflow_ingest.domain.landing.chunks import Chunk, ChunkMessageRejected
from appflow_ingest.domain.records.salesforce_ids import canonical_id, is_canonical_18, to_18_character_id
from appflow_ingest.domain.records.versions import MAX_KEY_BYTES, ObjectConfig, RecordRejected, to_record_versions
from appflow_ingest.domain.salesforce.change_events import ChangeEventRejected, parse_change_event
from appflow_ingest.domain.timestamps import to_epoch_millis

ACCOUNT = ObjectConfig("Account")
REAL = "0016g00000MLhLeAAL"  # a real id (docs/appflow.md §4): its suffix encodes the case of "MLhLe"
NOW = to_epoch_millis("2024-04-16T19:00:00Z")
DAY = 86_400_000


def record(record_id, modified="2024-04-16T19:00:00.000Z", **fields):
    return {"Id": record_id, "LastModifiedDate": modified, **fields}


@pytest.mark.parametrize("form", [REAL, REAL.lower(), REAL.upper(), "0016G00000mLHlEaal", REAL[:15]])
def test_an_id_in_any_case_or_its_15_character_form_is_one_canonical_id(form):
    assert canonical_id(form) == REAL


def test_canonical_ids_leave_other_texts_alone():
    assert canonical_id("42") == "42"
    assert canonical_id("001234567890123999") == "001234567890123999"  # '9' cannot be a checksum character
    assert canonical_id("0012345678901234AB") == "0012345678901234AB"  # the checksum says upper case on a digit
    assert canonical_id("not-an-id-15chr") == "not-an-id-15chr"


@pytest.mark.parametrize("form", [REAL, REAL.lower(), REAL.upper(), to_18_character_id("0015000000Gv7qJ")])
def test_the_fast_check_agrees_with_the_canonical_form(form):
    assert is_canonical_18(form) == (canonical_id(form) == form)


@pytest.mark.parametrize("form", [REAL.lower(), f"  {REAL}\t", REAL[:15], f" {REAL.upper()} "])
def test_the_stored_id_is_canonical_and_trimmed_in_the_key_and_in_the_record(form):
    versions, rejected = to_record_versions([record(form)], ACCOUNT)
    assert rejected == []
    (version,) = versions
    assert version.id == REAL and version.record["Id"] == REAL and version.key == f"Account#{REAL}"


@pytest.mark.parametrize("bad", ["001\x00abc", "0016g00000MLhLe\x07AL", "a\x1fb"])
def test_an_id_with_a_control_character_is_rejected_naming_the_field(bad):
    versions, rejected = to_record_versions([record(bad)], ACCOUNT)
    assert versions == []
    ((_, kept, error),) = rejected
    assert error.field == "Id" and "control characters" in error.expected
    assert kept["Id"] == bad  # quarantine shows it as it arrived


def test_an_id_whose_key_is_over_2048_bytes_is_rejected_with_the_limit():
    long_id = "x" * 3000
    versions, rejected = to_record_versions([record(long_id), record(REAL)], ACCOUNT)
    assert [v.id for v in versions] == [REAL]
    ((index, _, error),) = rejected
    assert index == 0 and error.field == "Id" and str(MAX_KEY_BYTES) in error.expected


def test_a_key_of_exactly_2048_bytes_is_kept():
    fits = "é" * ((MAX_KEY_BYTES - len("Account#")) // 2)  # 2 bytes each in UTF-8
    versions, rejected = to_record_versions([record(fits)], ACCOUNT)
    assert rejected == [] and len(versions[0].key.encode()) <= MAX_KEY_BYTES


@pytest.mark.parametrize("modified", ["9999-12-31T23:59:59.000+0000", "2024-04-18T19:00:00.000Z"])
def test_a_version_further_ahead_than_the_skew_is_rejected_with_the_reason(modified):
    versions, rejected = to_record_versions([record(REAL, modified)], ACCOUNT, not_after=NOW + DAY)
    assert versions == []
    ((_, _, error),) = rejected
    assert error.field == "LastModifiedDate" and "clock skew" in error.expected


def test_a_version_within_the_skew_is_kept_and_without_a_limit_anything_is():
    soon = "2024-04-17T18:59:59.000Z"  # 23:59:59 ahead
    assert len(to_record_versions([record(REAL, soon)], ACCOUNT, not_after=NOW + DAY)[0]) == 1
    assert len(to_record_versions([record(REAL, "9999-12-31T00:00:00Z")], ACCOUNT)[0]) == 1


def test_the_slow_path_checks_the_clock_too():
    # a naive timestamp goes the long way (to_record_version)
    versions, rejected = to_record_versions([record(REAL, "9999-12-31T00:00:00")], ACCOUNT, not_after=NOW)
    assert versions == [] and rejected[0][2].field == "LastModifiedDate"


# ------------------------------------------------------------------------------------------ change events
def change_event(record_ids, **values):
    header = {"entityName": "Account", "changeType": "UPDATE", "commitTimestamp": NOW, "recordIds": record_ids}
    return {"ChangeEventHeader": header, **values}


def test_change_events_key_ids_like_files_do():
    change = parse_change_event(change_event([REAL.lower(), f" {REAL[:15]} "]), event_id="e", channel="c")
    assert change.record_ids == (REAL,)


@pytest.mark.parametrize(
    ("ids", "values", "field"),
    [
        (["001\x00"], {}, "ChangeEventHeader.recordIds"),
        (["x" * 3000], {}, "ChangeEventHeader.recordIds"),
        ([REAL], {"LastModifiedDate": "9999-12-31T00:00:00Z"}, "LastModifiedDate"),
    ],
)
def test_change_events_with_a_poison_id_or_a_future_version_are_rejected(ids, values, field):
    with pytest.raises(ChangeEventRejected) as rejected:
        parse_change_event(change_event(ids, **values), event_id="e", channel="c", not_after=NOW + DAY)
    assert rejected.value.field == field


# ------------------------------------------------------------------------------------------ chunk messages
BASE = {"bucket": "b", "key": "f/e/part-0", "size": 10, "start": 0, "end": 10, "format": "jsonl"}


def test_a_chunk_message_from_a_newer_or_older_planner_is_read():
    newer = {**BASE, "landing": {"flow_name": "f", "execution_id": "e", "region": "new"}, "priority": 3}
    assert Chunk.from_json(orjson.dumps(newer)).landing.flow_name == "f"
    assert Chunk.from_json(orjson.dumps(BASE)).first_row == 0  # optional fields missing


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1]", b'{"bucket": "b"}', orjson.dumps({**BASE, "start": "zero"})],
)
def test_a_chunk_message_that_cannot_be_read_is_rejected_with_a_reason(body):
    with pytest.raises(ChunkMessageRejected, match="expected"):
        Chunk.from_json(body)


def test_record_rejected_names_field_and_expectation():
    error = RecordRejected("Id", "something", "got")
    assert "'Id'" in str(error) and "expected something" in str(error)
