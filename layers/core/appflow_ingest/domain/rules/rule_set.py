"""Declarative rules per Salesforce object, compiled once and applied to every record on the hot path.

A ``RuleSet`` says, per field: its type (coerced from every form AppFlow writes), whether it is
required, which values are allowed, whether it is renamed, dropped or masked. Fields a rule set
does not name are kept as they arrived (AppFlow adds new Salesforce fields on its own), and the
first sighting of each is reported once through ``on_new_field``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appflow_ingest.domain.records.versions import RecordRejected, RecordVersion
from appflow_ingest.domain.rules.coercion import COERCERS, CoercionError
from appflow_ingest.domain.rules.record_check import compile_record_check

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


FieldRule = Callable[[Any], Any]
"""One field's compiled rule: the raw value in, the value to store out; raises RecordRejected
(required, allowed) or CoercionError (the type, named by the check loop, which knows the field)."""


class CompiledRuleSet:
    """A rule set compiled into one rule per field; apply() raises RecordRejected naming rule and field.

    Compiling does once what would otherwise be decided per record and field: each field's rule
    is its type's coercer, wrapped only in the checks it declares (required, allowed values,
    mask), with the allowed values as a frozenset and the error texts prepared. Live records and
    tombstones get separate rules, so neither pays for the other's branches. One loop applies
    them, to whole records and change events alike; live whole records, the hot path, go through
    the same rules inlined into one generated function (record_check.py). Coercers answer
    AppFlow's common forms without raising (coercion.py): exceptions are left to broken rules.
    """

    def __init__(
        self,
        rules: RuleSet,
        *,
        masking_key: bytes | None = None,
        on_new_field: NewFieldListener | None = None,
        already_known: Iterable[str] = (),
    ) -> None:
        self.rules = rules
        kept = {name: spec for name, spec in rules.fields.items() if not spec.drop}
        maskers = {name: _masker(spec.mask, masking_key, f"{rules.object}.{name}") for name, spec in kept.items()}
        allowed = {name: None if spec.allowed is None else frozenset(spec.allowed) for name, spec in kept.items()}
        self._live = tuple((name, _live_rule(name, spec, allowed[name], maskers[name])) for name, spec in kept.items())
        self._tombstone = tuple((name, _tombstone_rule(spec, maskers[name])) for name, spec in kept.items())
        # The hot path: live whole records. ``source`` is the generated code, for reading and tests.
        self._check_live_record, self.source = compile_record_check(
            [(name, kept[name].type, allowed[name], maskers[name], rule) for name, rule in self._live]
        )
        self._types = {name: spec.type for name, spec in kept.items()}
        # Masked fields by delivered name: their values are shown nowhere but masked (mask()).
        self._masks = {name: (COERCERS[kept[name].type], mask) for name, mask in maskers.items() if mask is not None}
        self._renames = {name: spec.rename for name, spec in kept.items() if spec.rename}
        self._drops = frozenset(name for name, spec in rules.fields.items() if spec.drop)
        self._reshapes = bool(self._renames or self._drops)
        self._known = set(rules.fields) | set(already_known)
        self._on_new_field = on_new_field

    def apply(self, version: RecordVersion) -> RecordVersion:
        """Check and coerce the record in place (renames and drops applied); RecordRejected naming the first bad field."""
        record = version.record
        if version.deleted:
            updates = self._checked(record, self._tombstone)
        else:
            try:
                updates = self._check_live_record(record)
            except CoercionError:
                # The generated check stops at the first broken field without naming it; the loop
                # runs the same rules in the same order and raises RecordRejected naming it.
                updates = self._checked(record, self._live)
        if not self._known.issuperset(record):
            self._report_new_fields(record)
        # Only now, with every check passed, is the record changed: a rejected one goes to
        # quarantine exactly as it arrived.
        if updates:
            record.update(updates)
        if self._reshapes:
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
        field_rules = self._tombstone if deleted else self._live
        if not whole:
            field_rules = tuple((name, rule) for name, rule in field_rules if name in record)
        record.update(self._checked(record, field_rules))
        if not self._known.issuperset(record):
            self._report_new_fields(record)
        self._rename_and_drop(record)
        return record, tuple(self._renames.get(name, name) for name in nulled if name not in self._drops)

    def _checked(
        self, record: Mapping[str, Any], field_rules: tuple[tuple[str, FieldRule], ...]
    ) -> list[tuple[str, Any]]:
        """The values the rules turn the record's fields into; raises RecordRejected on the first broken rule."""
        updates = []
        get = record.get
        try:
            for name, rule in field_rules:
                raw = get(name)
                value = rule(raw)
                # A field the record lacks stays absent (its raw None coerces to None).
                if value is not raw and (value is not None or name in record):
                    updates.append((name, value))
        except CoercionError as error:
            raise RecordRejected(name, f"type {self._types[name]}: {error}", raw, masked=name in self._masks) from None
        return updates

    @property
    def masked_fields(self) -> frozenset[str]:
        """The fields (by delivered name) whose values are shown nowhere but masked."""
        return frozenset(self._masks)

    def mask(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``record`` whose masked fields hold what the table would store for them.

        For a rejected record's quarantine entry: every other field stays as it arrived. A value
        that does not coerce is masked as it came (hashed or redacted all the same); an empty one
        has nothing to hide and stays.
        """
        masked = dict(record)
        for name, (coerce, mask) in self._masks.items():
            raw = masked.get(name)
            if raw is None:
                continue
            try:
                value = coerce(raw)
            except CoercionError:
                value = raw
            if value is not None:
                masked[name] = mask(value)
        return masked

    def _rename_and_drop(self, record: dict[str, Any]) -> None:
        for name, new_name in self._renames.items():
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


def _live_rule(name: str, spec: Field, allowed: frozenset[Any] | None, mask: Callable[[Any], str] | None) -> FieldRule:
    """A live record's rule for one field: coerce (CoercionError on a bad type), then its declared checks.

    A plain field's rule is its coercer itself.
    """
    coerce = COERCERS[spec.type]
    required = spec.required
    if not required and allowed is None and mask is None:
        return coerce
    not_allowed = f"allowed values: one of {sorted(allowed, key=str)}" if allowed is not None else ""

    masked = mask is not None

    def checked(raw: Any) -> Any:
        value = coerce(raw)
        if value is None:
            if required:
                raise RecordRejected(name, "required: a value", raw, masked=masked)
            return None
        if allowed is not None and value not in allowed:
            raise RecordRejected(name, not_allowed, raw, masked=masked)
        return value if mask is None else mask(value)

    return checked


def _tombstone_rule(spec: Field, mask: Callable[[Any], str] | None) -> FieldRule:
    """A tombstone's rule for one field: stored whatever it holds (the delete must win); masks still apply.

    A value of the wrong type is kept as it came, and nothing is required or checked.
    """
    coerce = COERCERS[spec.type]

    def kept(raw: Any) -> Any:
        try:
            value = coerce(raw)
        except CoercionError:
            value = raw
        return value if mask is None or value is None else mask(value)

    return kept


def _masker(kind: str | None, key: bytes | None, context: str) -> Callable[[Any], str] | None:
    """How a field of this masking kind is masked: a keyed hash, or redaction; None if it is not masked.

    A keyed hash keeps equal values equal (joins, deduplication, "same email as before") without
    revealing them; unkeyed, a hash of an email or phone number is reversed by a dictionary, so
    without a key the value is redacted instead. ``redact`` is for values nobody needs to match.
    """
    if kind is None:
        return None
    if kind == REDACT or not key:
        return lambda value: REDACTED
    # The field's name is part of the message: the same value in two fields hashes differently.
    # HMAC-SHA256 (RFC 2104) from its two SHA-256 states, both computed once per field: the inner
    # one after the padded key and the field name, the outer one after the padded key. Copying
    # hashlib's states takes half the time of copying an hmac.HMAC (its Python wrapper); the
    # result is hmac.new(key, name + value)'s, which the tests check.
    block_key = (hashlib.sha256(key).digest() if len(key) > _SHA256_BLOCK else key).ljust(_SHA256_BLOCK, b"\x00")
    inner_for_field = hashlib.sha256(bytes(byte ^ 0x36 for byte in block_key) + context.encode() + b"\x00")
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in block_key))

    def keyed_hash(value: Any) -> str:
        text = value if type(value) is str else str(value)
        inner = inner_for_field.copy()
        inner.update(text.encode())
        digest = outer.copy()
        digest.update(inner.digest())
        return "hmac-sha256:" + digest.hexdigest()[:32]

    return keyed_hash


_SHA256_BLOCK = 64  # bytes


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
        self._masks_any = any(spec.mask for rules in rule_sets.values() for spec in rules.fields.values())

    def _compile(self, rules: RuleSet, object_name: str) -> CompiledRuleSet:
        return CompiledRuleSet(
            rules,
            masking_key=self._masking_key,
            on_new_field=self._on_new_field,
            already_known=self._untracked,
        )

    def apply(self, version: RecordVersion) -> RecordVersion:
        """Apply the object's rules to the version (one without rules passes unchanged)."""
        compiled = self._compiled.get(version.object)
        return version if compiled is None else compiled.apply(version)

    def masking_for(self, object_name: str | None) -> Callable[[Mapping[str, Any]], dict[str, Any]] | None:
        """How a quarantine entry shows a record of this object: masked fields as the table stores them.

        An object without a rule set masks nothing (a copy). None when the object is unknown and
        some rule set masks fields: nothing tells which of its fields to mask.
        """
        compiled = self._compiled.get(object_name or "")
        if compiled is not None:
            return compiled.mask
        if object_name or not self._masks_any:
            return dict
        return None

    def masks(self, object_name: str | None, field: str | None) -> bool:
        """Whether a reason about this field of a record of this object must not show its value.

        True when the object's rule set masks the field, and for any field of an unknown object
        when some rule set masks fields (as ``masking_for``: nothing tells which are masked).
        """
        if field is None:
            return False
        compiled = self._compiled.get(object_name or "")
        if compiled is not None:
            return field in compiled.masked_fields
        return not object_name and self._masks_any

    def apply_to_change(
        self, object_name: str, values: Mapping[str, Any], nulled: Iterable[str], *, whole: bool, deleted: bool
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """A change event's fields with the object's rules applied (see CompiledRuleSet.apply_to_change)."""
        compiled = self._compiled.get(object_name)
        if compiled is None:
            return dict(values), tuple(nulled)
        return compiled.apply_to_change(values, nulled, whole=whole, deleted=deleted)
