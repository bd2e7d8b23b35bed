from datetime import UTC, datetime

import pytest

from appflow_ingest.domain.timestamps import InvalidTimestamp, to_epoch_millis, to_iso

INSTANT = 1713294000000  # 2024-04-16T19:00:00Z


@pytest.mark.parametrize(
    "value",
    [
        "2024-04-16T19:00:00.000+0000",  # REST
        "2024-04-16T19:00:00.000Z",  # Bulk API 2.0
        "2024-04-16T21:00:00.000+02:00",
        "2024-04-16T14:00:00-0500",
        "2024-04-16T19:00:00",  # naive: Salesforce API times are UTC
        datetime(2024, 4, 16, 19, tzinfo=UTC),
        INSTANT,
        INSTANT // 1000,  # epoch seconds
    ],
)
def test_every_form_of_the_same_instant_is_equal(value):
    assert to_epoch_millis(value) == INSTANT


def test_instants_compare_by_time_not_by_text():
    # As strings "...20:00:00.000+0200" > "...19:00:00.000Z", but it is an hour earlier.
    assert to_epoch_millis("2024-04-16T20:00:00.000+0200") < to_epoch_millis("2024-04-16T19:00:00.000Z")


def test_milliseconds_are_kept():
    assert to_epoch_millis("2024-04-16T19:00:00.123Z") - INSTANT == 123


@pytest.mark.parametrize("value", ["", "yesterday", "2024-04-16", "2024-13-45T00:00:00Z", True, None, [1]])
def test_what_is_not_an_instant_is_rejected_with_the_expectation(value):
    with pytest.raises(InvalidTimestamp, match="expected"):
        to_epoch_millis(value)


def test_iso_output_is_fixed_width_utc():
    assert to_iso(INSTANT + 5) == "2024-04-16T19:00:00.005Z"
    assert to_iso(to_epoch_millis("2024-04-16T21:00:00.000+02:00")) == "2024-04-16T19:00:00.000Z"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 1e20, -1e20])
def test_numbers_that_are_no_instant_are_invalid_not_a_crash(value):
    # They raised ValueError/OverflowError, or OSError when the version was formatted: the chunk
    # failed on every retry instead of quarantining one record.
    with pytest.raises(InvalidTimestamp, match="years 1-9999"):
        to_epoch_millis(value)


def test_versions_are_formatted_fixed_width_in_every_year():
    for text in (
        "0001-01-01T00:00:00.000Z",
        "0999-05-06T07:08:09.010Z",
        "1969-12-31T23:59:59.999Z",
        "9999-12-31T23:59:59.999Z",
    ):
        assert to_iso(to_epoch_millis(text)) == text
