"""A rule set's check of a live record, generated once as one straight-line Python function.

The rules run once per field per record, on the hot path of ingestion. Looping over the fields
and calling each field's rule costs a loop step, a call and the coercer's type dispatch per
field, more than the check itself for the forms AppFlow writes. So the rule set is compiled,
once per cold start, into the source of one function (the technique of ``dataclasses`` and
``cattrs.gen``): per field, in declaration order, the common forms of its type are checked inline
(a non-empty string, an 18-character id, a ``...Z`` or ``...+0000`` timestamp, a ``2024-04-16``
date, a JSON number or boolean), and anything else is handed to the field's own rule, which
decides exactly as the generic loop does (it is the same function). The inline checks only ever
accept values the field's rule would accept unchanged (or, for ``+0000``, turn into the same
``Z`` form); ``tests/unit/test_rules_compiled.py`` checks both against the declaration.

The generated function returns the updates ``[(field, value), ...]`` like the generic loop and
raises what the field rules raise: RecordRejected, or CoercionError for a value of the wrong type
(the caller names the field by running the generic loop, which stops at the same field).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from appflow_ingest.domain.rules.coercion import COERCERS

RecordCheck = Callable[[dict[str, Any]], list[tuple[str, Any]]]


def compile_record_check(
    fields: Sequence[tuple[str, str, frozenset[Any] | None, Callable[[Any], str] | None, Callable[[Any], Any]]],
) -> tuple[RecordCheck, str]:
    """The check of a live record for ``(name, type, allowed, mask, rule)`` per field; and its source."""
    namespace: dict[str, Any] = {"parse_datetime": datetime.fromisoformat, "parse_date": date.fromisoformat}
    lines = ["def check_record(record):", "    get = record.get", "    updates = []", "    append = updates.append"]
    for index, (name, type_name, allowed, mask, rule) in enumerate(fields):
        if type_name not in COERCERS:  # the field's rule already refused it; this keeps the source safe
            raise ValueError(f"unknown field type {type_name!r}")
        namespace[f"rule_{index}"] = rule
        namespace[f"allowed_{index}"] = allowed
        namespace[f"mask_{index}"] = mask
        lines.append(f"    raw = get({name!r})")
        lines.extend(_field_source(index, name, type_name, allowed, mask))
    lines.append("    return updates")
    source = "\n".join(lines) + "\n"
    exec(compile(source, "<rule set check>", "exec"), namespace)  # noqa: S102 - our own source, from declared rules
    return namespace["check_record"], source


class _Form(NamedTuple):
    """A common form of a type, which the generated check stores without calling the coercer.

    When ``accepts`` holds (and ``parser``, if any, reads the value), the field's coercer would
    return ``stored`` (an expression of ``raw``).
    """

    accepts: str
    stored: str = "raw"
    parser: str | None = None


# Each type's common forms, as coercion.py's coercers answer them.
_COMMON_FORMS = {
    "string": [_Form("type(raw) is str and raw")],
    "id": [_Form("type(raw) is str and len(raw) == 18 and raw.isascii() and raw.encode().isalnum()")],
    "boolean": [_Form("type(raw) is bool")],
    "number": [_Form("type(raw) is int or (type(raw) is float and not raw.is_integer() and raw - raw == 0.0)")],
    "currency": [_Form("type(raw) is int or (type(raw) is float and not raw.is_integer() and raw - raw == 0.0)")],
    "integer": [_Form("type(raw) is int")],
    "datetime": [
        _Form('type(raw) is str and len(raw) == 24 and raw[23] == "Z" and raw[19] == "."', parser="parse_datetime"),
        _Form(
            'type(raw) is str and len(raw) == 28 and raw[19] == "." and raw[23:] in ("+0000", "-0000")',
            stored='raw[:23] + "Z"',
            parser="parse_datetime",
        ),
    ],
    "date": [_Form('type(raw) is str and len(raw) == 10 and raw[4] == "-" and raw[7] == "-"', parser="parse_date")],
}


def _field_source(index: int, name: str, type_name: str, allowed: object, mask: object) -> list[str]:
    """The lines checking one field: its type's common forms inline, the field's rule for anything else."""
    ruled = [
        f"value = rule_{index}(raw)",
        f"if value is not raw and (value is not None or {name!r} in record):",
        f"    append(({name!r}, value))",
    ]
    forms = _COMMON_FORMS[type_name]
    if allowed is not None:
        # Matched before coercion only where the stored value is the raw one (a non-empty string
        # is itself); other types' allowed values are left to the field's rule.
        if type_name != "string":
            return _indent(ruled, 1)
        forms = [form._replace(accepts=f"{form.accepts} and raw in allowed_{index}") for form in forms]
    lines: list[str] = []
    for number, form in enumerate(forms):
        stored = form.stored if mask is None else f"mask_{index}({form.stored})"
        keep = [] if stored == "raw" else [f"append(({name!r}, {stored}))"]
        if form.parser is None and not keep and len(forms) == 1:
            return [f"    if not ({form.accepts}):", *_indent(ruled, 2)]
        lines.append(f"    {'if' if number == 0 else 'elif'} {form.accepts}:")
        if form.parser is None:
            lines += _indent(keep, 2)
        else:
            # The parse only checks the text is a date (time); a text it refuses goes to the rule.
            lines += [
                "        try:",
                f"            {form.parser}(raw)",
                "        except ValueError:",
                *_indent(ruled, 3),
            ]
            if keep:
                lines += ["        else:", *_indent(keep, 3)]
    return [*lines, "    else:", *_indent(ruled, 2)]


def _indent(lines: list[str], depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]
