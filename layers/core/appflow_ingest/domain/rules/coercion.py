"""Field types, and the coercion of every form AppFlow writes a value in to one canonical form.

The same Salesforce value arrives differently depending on the API AppFlow used and the file
format: REST writes ``100`` and ``null``, Bulk API 2.0 writes ``100.0``, ``"23.0"`` and ``""``,
CSV and untyped Parquet write everything as strings. Coercing each to one form makes two
deliveries of the same version store the same record, whichever path they took.

Hand-written: each coercer is a few lines, runs once per field per record on the hot path, and
must name what it expected; a schema library (Pydantic) would cost more per record than the
whole rule set and word its errors for developers, not for the quarantine.

Each coercer answers the forms AppFlow actually writes first, without building a Decimal, a
datetime or an exception, and hands every other value to its general form (``_..._any_form``),
which decides it. The common forms must give exactly what the general form gives:
``tests/unit/test_rules_compiled.py`` compares the two on generated values.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from appflow_ingest.domain.records.salesforce_ids import canonical_id, is_canonical_18
from appflow_ingest.domain.timestamps import InvalidTimestamp, to_epoch_millis, to_iso


class CoercionError(ValueError):
    """A value that is not of the field's type in any form AppFlow writes; the message says what was expected."""


_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
# The spellings CSV and untyped Parquet write (lower, capitalised, upper case): one dict lookup.
_BOOLEAN_TEXTS = {
    spelling: flag
    for texts, flag in ((_TRUE, True), (_FALSE, False))
    for text in texts
    for spelling in (text, text.capitalize(), text.upper())
}
_EXACT_FLOAT_INT = 2.0**53  # every integer below this is a float; above it, int(float) invents digits


def to_string(value: Any) -> str | None:
    """A non-empty string, or None for empty (a boolean or number in its text form); CoercionError otherwise."""
    if type(value) is str:
        return value or None
    return _string_any_form(value)


def to_id(value: Any) -> str | None:
    """A Salesforce id in its canonical 18-character form (15 lengthened, 18 re-cased), or empty."""
    # ASCII letters and digits in canonical case: nothing to strip or re-case.
    if type(value) is str and len(value) == 18 and value.isalnum() and is_canonical_18(value):
        return value
    return _id_any_form(value)


def to_boolean(value: Any) -> bool | None:
    """A boolean from a boolean, 0/1 or its text (true/false, yes/no, ...), or None for empty; CoercionError otherwise."""
    if type(value) is bool:
        return value
    if type(value) is str and value in _BOOLEAN_TEXTS:
        return _BOOLEAN_TEXTS[value]
    return _boolean_any_form(value)


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
    if type(value) is int:  # exactly int: a bool goes on and is refused below
        return value
    kind = type(value)
    number = value if kind is float else _short_decimal_text(value) if kind is str else None
    if number is not None:
        if not number.is_integer():
            if number - number == 0.0:  # finite (inf - inf and nan - nan are nan)
                return number  # a float is the float of its own shortest repr: nothing to round
        elif -_EXACT_FLOAT_INT < number < _EXACT_FLOAT_INT:
            return int(number)
    return _number_any_form(value)


def to_integer(value: Any) -> int | None:
    """An integer from an integral number or its text, or None for empty; CoercionError otherwise."""
    if type(value) is int:  # exactly int: a bool goes on and is refused below
        return value
    kind = type(value)
    number = value if kind is float else _short_decimal_text(value) if kind is str else None
    if number is not None and number.is_integer() and -_EXACT_FLOAT_INT < number < _EXACT_FLOAT_INT:
        return int(number)
    return _integer_any_form(value)


def to_datetime(value: Any) -> str | None:
    """Either Salesforce form (``...+0000`` REST, ``...Z`` Bulk) -> fixed-width UTC ``2024-04-16T19:00:00.000Z``."""
    # A UTC instant with milliseconds is its first 23 characters plus "Z": the parse only checks
    # the text is a date-time, the offset is read from the text.
    if type(value) is str and value[19:20] == ".":
        if len(value) == 24:
            if value[23] == "Z" and _is_iso_datetime(value):
                return value
        elif len(value) == 28 and value[23:] in ("+0000", "-0000") and _is_iso_datetime(value):
            return value[:23] + "Z"
    return _datetime_any_form(value)


def to_date(value: Any) -> str | None:
    """``2024-04-16``; a date-time is cut to its UTC date."""
    # fromisoformat reads ASCII digits only, so a "YYYY-MM-DD" it accepts is already its isoformat.
    if type(value) is str and len(value) == 10 and value[4] == "-" and value[7] == "-" and _is_iso_date(value):
        return value
    return _date_any_form(value)


# ------------------------------------------------------------------ every form: the general code


def _string_any_form(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    raise CoercionError(f"a string, got {type(value).__name__}")


def _id_any_form(value: Any) -> str | None:
    text = _string_any_form(value)
    if text is None:
        return None
    text = text.strip()
    if len(text) not in (15, 18) or not text.isascii() or not text.isalnum():
        raise CoercionError("a 15 or 18 character Salesforce id")
    # References join records (a purchase's AccountId to its member), and records are keyed by
    # their canonical 18-character id: a 15-character or re-cased reference must name the same key.
    return canonical_id(text)


def _boolean_any_form(value: Any) -> bool | None:
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


def _number_any_form(value: Any) -> int | float | str | None:
    number = to_decimal(value)
    if number is None:
        return None
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)
    return as_float if Decimal(repr(as_float)) == number else str(number.normalize())


def _integer_any_form(value: Any) -> int | None:
    number = to_decimal(value)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise CoercionError("a whole number")
    return int(number)


def _datetime_any_form(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str and len(value) in (24, 28) and value[19] == "." and value[23] in "Z+-":
        try:
            offset = datetime.fromisoformat(value).utcoffset()
        except ValueError:
            offset = None
        if offset is not None and not offset:
            return value[:23] + "Z"
    try:
        return to_iso(to_epoch_millis(value))
    except (InvalidTimestamp, ValueError, OverflowError, OSError):
        # Not a timestamp, or a number no calendar date can be written for (1e300, NaN): a record
        # to quarantine, not an error that fails the whole chunk.
        raise CoercionError("an ISO-8601 date-time like 2024-04-16T19:00:00.000Z") from None


def _date_any_form(value: Any) -> str | None:
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


# ------------------------------------------------------------------ helpers of the common forms


def _short_decimal_text(text: str) -> float | None:
    """The float of a plain decimal text of at most 15 digits ("23.5", "100.0", "100"), else None.

    Any decimal of 15 significant digits or fewer is the value of its float's shortest repr (a
    double holds 15), so the Decimal round trip of ``_number_any_form`` would end at this float.
    Signs, exponents, spaces and longer texts are left to the Decimal.
    """
    digits = text.replace(".", "", 1)
    if len(digits) > 15 or not digits.isdecimal():
        return None
    return float(text)  # cannot fail: decimal digits and at most one point


def _is_iso_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


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

ANY_FORM = {
    "string": _string_any_form,
    "id": _id_any_form,
    "boolean": _boolean_any_form,
    "number": _number_any_form,
    "currency": _number_any_form,
    "integer": _integer_any_form,
    "datetime": _datetime_any_form,
    "date": _date_any_form,
}
"""Each type's general coercion, without the common-form shortcuts: what the shortcuts must agree with."""
