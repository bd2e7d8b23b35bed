"""Salesforce timestamps as comparable instants.

AppFlow writes ``2024-04-16T19:00:00.000+0000`` (REST) or ``2024-04-16T19:00:00.000Z`` (Bulk API
2.0), so versions are compared as UTC epoch milliseconds, never as strings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class InvalidTimestamp(ValueError):
    """A value that cannot be read as an instant."""


_EPOCH_MS_FLOOR = 100_000_000_000  # below this a number is seconds, not milliseconds (year 1973)


def to_epoch_millis(value: object) -> int:
    """Read an ISO-8601 timestamp (any offset, naive = UTC), a datetime, or epoch seconds/millis."""
    if type(value) is str and len(value) > 10:
        # The common case first: fromisoformat reads both Salesforce forms (+0000 and Z).
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return (parsed - _EPOCH) // _MILLISECOND
    if isinstance(value, bool):
        raise InvalidTimestamp(f"expected a timestamp, got boolean {value!r}")
    if isinstance(value, int | float):
        millis = value if abs(value) >= _EPOCH_MS_FLOOR else value * 1000
        # NaN, infinity or a number beyond year 9999 raised ValueError/OverflowError (or OSError
        # later, when the version was formatted) and failed the whole chunk: it is a bad version.
        if not _MIN_MILLIS <= millis <= _MAX_MILLIS:  # False for NaN too
            raise InvalidTimestamp(
                f"expected a timestamp (epoch seconds or milliseconds of years 1-9999), got {value!r}"
            )
        return int(millis)
    if isinstance(value, datetime):
        instant = value if value.tzinfo else value.replace(tzinfo=UTC)
        return _datetime_to_millis(instant)
    if isinstance(value, str):
        text = value.strip()
        # A date alone is not a version: two changes on one day would compare equal.
        if len(text) <= 10:
            raise InvalidTimestamp(f"expected an ISO-8601 date-time like 2024-04-16T19:00:00.000Z, got {value!r}")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidTimestamp(
                f"expected an ISO-8601 date-time like 2024-04-16T19:00:00.000Z, got {value!r}"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return _datetime_to_millis(parsed)
    raise InvalidTimestamp(f"expected a timestamp, got {type(value).__name__} {value!r}")


def _datetime_to_millis(instant: datetime) -> int:
    return (instant - _EPOCH) // _MILLISECOND  # exact integer arithmetic, floors sub-millisecond digits


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_MIN_MILLIS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _MILLISECOND
_MAX_MILLIS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // _MILLISECOND


# For the hot path (records.to_record_versions), which inlines the common case of to_epoch_millis:
# an ISO text with an offset, both Salesforce forms. Measured: a cache of parsed texts by string
# costs more on a miss (hashing and inserting a new key, 140-400 ns) than this parse does (about
# 300 ns), and the versions of a large load are mostly distinct, so there is no cache.
parse_iso = datetime.fromisoformat
EPOCH = _EPOCH
MILLISECOND = _MILLISECOND


def to_iso(epoch_millis: int) -> str:
    """Fixed-width ISO-8601 UTC with milliseconds: ``2024-04-16T19:00:00.000Z``.

    By timedelta arithmetic, not ``fromtimestamp`` (platform-limited) and ``strftime`` (which
    does not pad years before 1000): fixed width for every year a version can have, and faster.
    """
    return (_EPOCH + timedelta(milliseconds=epoch_millis)).isoformat(timespec="milliseconds")[:-6] + "Z"
