"""Field types, and the coercion of every form AppFlow writes a value in to one canonical form.

The same Salesforce value arrives differently depending on the API AppFlow used and the file
format: REST writes ``100`` and ``null``, Bulk API 2.0 writes ``100.0``, ``"23.0"`` and ``""``,
CSV and untyped Parquet write everything as strings. Coercing each to one form makes two
deliveries of the same version store the same record, whichever path they took.

Hand-written: each coercer is a few lines, runs once per field per record on the hot path, and
must name what it expected; a schema library (Pydantic) would cost more per record than the
whole rule set and word its errors for developers, not for the quarantine.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from appflow_ingest.domain.timestamps import InvalidTimestamp, to_epoch_millis, to_iso


class CoercionError(ValueError):
    """A value that is not of the field's type in any form AppFlow writes; the message says what was expected."""


_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def to_string(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    raise CoercionError(f"a string, got {type(value).__name__}")


def to_id(value: Any) -> str | None:
    """A Salesforce id (15 or 18 characters) or empty."""
    text = to_string(value)
    if text is None:
        return None
    text = text.strip()
    if len(text) not in (15, 18) or not text.isalnum():
        raise CoercionError("a 15 or 18 character Salesforce id")
    return text


def to_boolean(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str:
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CoercionError("a boolean (true/false)")


def to_decimal(value: Any) -> Decimal | None:
    """Exact decimal of a number in any form: ``100``, ``100.0``, ``"23.0"``, ``"1e3"``; empty is None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise CoercionError("a number, got a boolean")
    if type(value) is int:
        return Decimal(value)
    if type(value) is float:
        if not math.isfinite(value):
            raise CoercionError("a finite number")
        return Decimal(repr(value))  # the shortest repr: 0.1 is Decimal("0.1"), not its binary expansion
    if type(value) is str:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise CoercionError("a number") from None
        if not number.is_finite():
            raise CoercionError("a finite number")
        return number
    raise CoercionError(f"a number, got {type(value).__name__}")


def to_number(value: Any) -> int | float | str | None:
    """A JSON number: an int when integral (``100``, ``100.0`` and ``"100.0"`` all become ``100``), else a float.

    A value a float cannot hold exactly (more than ~15 significant digits) stays a decimal string,
    so no amount is ever rounded; aggregation reads all three forms as Decimal.
    """
    number = to_decimal(value)
    if number is None:
        return None
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)
    return as_float if Decimal(repr(as_float)) == number else str(number.normalize())


def to_integer(value: Any) -> int | None:
    number = to_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise CoercionError("a whole number")
    return int(number)


def to_datetime(value: Any) -> str | None:
    """Either Salesforce form (``...+0000`` REST, ``...Z`` Bulk) -> fixed-width UTC ``2024-04-16T19:00:00.000Z``."""
    if value is None or value == "":
        return None
    # Fast path for the two Salesforce forms (3 datetime fields a record make this the rules'
    # main cost): a UTC instant with milliseconds is its first 23 characters plus "Z".
    if type(value) is str and len(value) in (24, 28) and value[19] == "." and value[23] in "Z+-":
        try:
            offset = datetime.fromisoformat(value).utcoffset()
        except ValueError:
            offset = None
        if offset is not None and not offset:
            return value[:23] + "Z"
    try:
        return to_iso(to_epoch_millis(value))
    except InvalidTimestamp:
        raise CoercionError("an ISO-8601 date-time like 2024-04-16T19:00:00.000Z") from None


def to_date(value: Any) -> str | None:
    """``2024-04-16``; a date-time is cut to its UTC date."""
    if value is None or value == "":
        return None
    if type(value) is str:
        text = value.strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                pass
        else:
            try:
                return datetime.fromtimestamp(to_epoch_millis(text) / 1000, tz=UTC).date().isoformat()
            except InvalidTimestamp:
                pass
    raise CoercionError("a date like 2024-04-16")


def _number_text(value: int | float) -> str:
    if type(value) is float and value.is_integer():
        return str(int(value))
    return str(value)


COERCERS = {
    "string": to_string,
    "id": to_id,
    "boolean": to_boolean,
    "number": to_number,
    "currency": to_number,
    "integer": to_integer,
    "datetime": to_datetime,
    "date": to_date,
}
