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
from typing import Any

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


def _field_source(index: int, name: str, type_name: str, allowed: object, mask: object) -> list[str]:
    """The lines checking one field: the common forms inline, the field's rule for everything else."""
    ruled = [
        f"value = rule_{index}(raw)",
        f"if value is not raw and (value is not None or {name!r} in record):",
        f"    append(({name!r}, value))",
    ]
    if type_name == "string" and mask is None:
        # A non-empty string is its own value; the allowed values, if any, are strings to match.
        accepted = "type(raw) is str and raw" + (f" and raw in allowed_{index}" if allowed is not None else "")
        return [f"    if not ({accepted}):", *_indent(ruled, 2)]
    if type_name == "string" and allowed is None:
        return [
            "    if type(raw) is str and raw:",
            f"        append(({name!r}, mask_{index}(raw)))",
            "    else:",
            *_indent(ruled, 2),
        ]
    if allowed is not None or mask is not None:  # rare: the field's rule does it all
        return _indent(ruled, 1)
    if type_name == "id":
        # ASCII letters and digits; bytes.isalnum takes a third of str.isalnum's time.
        accepted = "type(raw) is str and len(raw) in (18, 15) and raw.isascii() and raw.encode().isalnum()"
        return [f"    if not ({accepted}):", *_indent(ruled, 2)]
    if type_name == "boolean":
        return ["    if type(raw) is not bool:", *_indent(ruled, 2)]
    if type_name in ("number", "currency"):
        # An int, or a finite float with a fraction, is its own value (coercion.to_number).
        accepted = "type(raw) is int or (type(raw) is float and not raw.is_integer() and raw - raw == 0.0)"
        return [f"    if not ({accepted}):", *_indent(ruled, 2)]
    if type_name == "integer":
        return ["    if type(raw) is not int:", *_indent(ruled, 2)]
    if type_name == "datetime":
        # Salesforce's two forms (coercion.to_datetime): "...000Z" is kept, "...000+0000" and
        # "...000-0000" become it; the parse only validates the text.
        return [
            '    if type(raw) is str and len(raw) == 24 and raw[23] == "Z" and raw[19] == ".":',
            "        try:",
            "            parse_datetime(raw)",
            "        except ValueError:",
            *_indent(ruled, 3),
            '    elif type(raw) is str and len(raw) == 28 and raw[19] == "." and raw[23:] in ("+0000", "-0000"):',
            "        try:",
            "            parse_datetime(raw)",
            "        except ValueError:",
            *_indent(ruled, 3),
            "        else:",
            f'            append(({name!r}, raw[:23] + "Z"))',
            "    else:",
            *_indent(ruled, 2),
        ]
    if type_name == "date":
        # "2024-04-16" parsed is itself (fromisoformat reads ASCII digits only, isoformat writes them back).
        return [
            '    if type(raw) is str and len(raw) == 10 and raw[4] == "-" and raw[7] == "-":',
            "        try:",
            "            parse_date(raw)",
            "        except ValueError:",
            *_indent(ruled, 3),
            "    else:",
            *_indent(ruled, 2),
        ]
    return _indent(ruled, 1)


def _indent(lines: list[str], depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]
