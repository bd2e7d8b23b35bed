"""Declarative rules per Salesforce object, compiled once and applied to every record on the hot path.

A ``RuleSet`` says, per field: its type (coerced from every form AppFlow writes), whether it is
required, which values are allowed, whether it is renamed, dropped or masked. Fields a rule set
does not name are kept as they arrived (AppFlow adds new Salesforce fields on its own), and the
first sighting of each is reported once through ``on_new_field``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appflow_ingest.domain.records import RecordRejected, RecordVersion
from appflow_ingest.domain.rules.coercion import COERCERS, CoercionError

HASH = "hash"
REDACT = "redact"
REDACTED = "****"


@dataclass(frozen=True)
class Field:
    """What one field must be. ``mask``: ``"hash"`` (keyed HMAC-SHA256) or ``"redact"`` (a fixed mask)."""

    type: str = "string"
    required: bool = False
    allowed: tuple[Any, ...] | None = None
    rename: str | None = None
    drop: bool = False
    mask: str | None = None

    def __post_init__(self) -> None:
        if self.type not in COERCERS:
            raise ValueError(f"unknown field type {self.type!r}: expected one of {sorted(COERCERS)}")
        if self.mask not in (None, HASH, REDACT):
            raise ValueError(f"unknown mask {self.mask!r}: expected {HASH!r} or {REDACT!r}")


@dataclass(frozen=True)
class RuleSet:
    """The rules of one Salesforce object, by field name as AppFlow delivers it."""

    name: str
    object: str
    fields: Mapping[str, Field] = field(default_factory=dict)


NewFieldListener = Callable[[str, str], None]


class CompiledRuleSet:
    """A rule set turned into a flat list of checks; apply() raises RecordRejected naming rule and field."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        masking_key: bytes | None = None,
        on_new_field: NewFieldListener | None = None,
        already_known: Iterable[str] = (),
    ) -> None:
        self.rules = rules
        self._checks = [
            (
                name,
                spec.type,
                COERCERS[spec.type],
                spec.required,
                frozenset(spec.allowed) if spec.allowed is not None else None,
                _masker(spec.mask, masking_key, f"{rules.object}.{name}"),
            )
            for name, spec in rules.fields.items()
            if not spec.drop
        ]
        self._renames = [(name, spec.rename) for name, spec in rules.fields.items() if spec.rename and not spec.drop]
        self._drops = [name for name, spec in rules.fields.items() if spec.drop]
        self._known = set(rules.fields) | set(already_known)
        self._on_new_field = on_new_field

    def apply(self, version: RecordVersion) -> RecordVersion:
        record = version.record
        updates = self._checked(record, version.deleted, only_present=False)
        if not record.keys() <= self._known:
            self._report_new_fields(record)
        # Only now, with every check passed, is the record changed: a rejected one goes to
        # quarantine exactly as it arrived.
        for name, value in updates:
            record[name] = value
        self._rename_and_drop(record)
        return version

    def apply_to_change(
        self, values: Mapping[str, Any], nulled: Iterable[str], *, whole: bool, deleted: bool
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The rules applied to a change event's fields, before they are merged into the stored record.

        A change event carries only the fields that changed (and names the ones set to null), and
        the stored record already went through these rules: checking, coercing and masking just
        the delivered fields keeps every stored value ruled exactly once (masking a merged record
        again would hash a hash). Required fields are checked when nulled, and when missing only
        if the event is the whole record (a CREATE). Raises RecordRejected naming rule and field.
        Returns the ruled values (nulled fields as None) and the nulled fields' stored names.
        """
        nulled = tuple(nulled)
        record = {**values, **dict.fromkeys(nulled)}
        for name, value in self._checked(record, deleted, only_present=not whole):
            record[name] = value
        if not record.keys() <= self._known:
            self._report_new_fields(record)
        self._rename_and_drop(record)
        renames, drops = dict(self._renames), set(self._drops)
        return record, tuple(renames.get(name, name) for name in nulled if name not in drops)

    def _checked(self, record: Mapping[str, Any], deleted: bool, *, only_present: bool) -> list[tuple[str, Any]]:
        """The values the rules turn the record's fields into; raises RecordRejected on the first broken rule."""
        updates = []
        for name, type_name, coerce, required, allowed, mask in self._checks:
            if only_present and name not in record:
                continue
            raw = record.get(name)
            try:
                value = coerce(raw)
            except CoercionError as error:
                if deleted:  # a tombstone is stored whatever its other fields hold: the delete must win
                    value = raw
                else:
                    raise RecordRejected(name, f"type {type_name}: {error}", raw) from None
            if value is None:
                if required and not deleted:
                    raise RecordRejected(name, "required: a value", raw)
            elif allowed is not None and value not in allowed and not deleted:
                raise RecordRejected(name, f"allowed values: one of {sorted(allowed, key=str)}", raw)
            if mask is not None and value is not None:
                value = mask(value)
            if value is not raw and (value is not None or name in record):
                updates.append((name, value))
        return updates

    def _rename_and_drop(self, record: dict[str, Any]) -> None:
        for name, new_name in self._renames:
            if name in record:
                record[new_name] = record.pop(name)
        for name in self._drops:
            record.pop(name, None)

    def _report_new_fields(self, record: Mapping[str, Any]) -> None:
        for name in record:
            if name not in self._known:
                if self._on_new_field is not None:
                    self._on_new_field(self.rules.object, name)
                # Known only once reported: a report that failed is made again on the retry.
                self._known.add(name)


def _masker(kind: str | None, key: bytes | None, context: str) -> Callable[[Any], str] | None:
    """A keyed hash keeps equal values equal (joins, deduplication, "same email as before") without
    revealing them; unkeyed, a hash of an email or phone number is reversed by a dictionary, so
    without a key the value is redacted instead. ``redact`` is for values nobody needs to match."""
    if kind is None:
        return None
    if kind == REDACT or not key:
        return lambda value: REDACTED
    # The field's name is part of the message: the same value in two fields hashes differently.
    prefix = context.encode() + b"\x00"

    def keyed_hash(value: Any) -> str:
        text = value if type(value) is str else str(value)
        return "hmac-sha256:" + hmac.new(key, prefix + text.encode(), hashlib.sha256).hexdigest()[:32]

    return keyed_hash


class ObjectRules:
    """The RecordRules of an ingest function: the rule set bound to each object, compiled once.

    Objects without a rule set are stored as they arrive and not tracked: with no declared schema
    to drift from, every field of their first record would be "new" and the report mere noise.
    """

    def __init__(
        self,
        rule_sets: Mapping[str, RuleSet],
        *,
        masking_key: bytes | None = None,
        on_new_field: NewFieldListener | None = None,
        untracked_fields: Iterable[str] = ("attributes",),
    ) -> None:
        self._masking_key = masking_key
        self._on_new_field = on_new_field
        self._untracked = tuple(untracked_fields)
        self._compiled = {object_name: self._compile(rules, object_name) for object_name, rules in rule_sets.items()}

    def _compile(self, rules: RuleSet, object_name: str) -> CompiledRuleSet:
        return CompiledRuleSet(
            rules,
            masking_key=self._masking_key,
            on_new_field=self._on_new_field,
            already_known=self._untracked,
        )

    def apply(self, version: RecordVersion) -> RecordVersion:
        compiled = self._compiled.get(version.object)
        return version if compiled is None else compiled.apply(version)

    def apply_to_change(
        self, object_name: str, values: Mapping[str, Any], nulled: Iterable[str], *, whole: bool, deleted: bool
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """A change event's fields with the object's rules applied (see CompiledRuleSet.apply_to_change)."""
        compiled = self._compiled.get(object_name)
        if compiled is None:
            return dict(values), tuple(nulled)
        return compiled.apply_to_change(values, nulled, whole=whole, deleted=deleted)
