"""From a decoded source record to a versioned record the entity table can store."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from appflow_ingest.domain.records.salesforce_ids import (
    _CASE_BY_SUFFIX,
    _UPPER_BYTES,
    canonical_id,
    standard_object_for_id,
)
from appflow_ingest.domain.timestamps import EPOCH, MILLISECOND, InvalidTimestamp, parse_iso, to_epoch_millis, to_iso

# Fields Salesforce changes when any field of the record changes, mapped by the flow or not: a
# version that differs from the stored one only in these is no change of data (no event).
DEFAULT_VOLATILE_FIELDS = frozenset({"LastModifiedDate", "SystemModstamp"})
# DynamoDB's limit on a partition key value, in UTF-8 bytes: the entity key (``<object>#<id>``) must
# fit, or the write is refused. Checked here, before any request: a record whose id is longer is
# quarantined alone (it used to fail its whole chunk on every retry, until the dead-letter queue).
MAX_KEY_BYTES = 2048


@dataclass(frozen=True)
class ObjectConfig:
    """Which Salesforce object a flow lands, and which fields identify, version and only stamp its records."""

    object: str
    id_field: str = "Id"
    version_field: str = "LastModifiedDate"
    volatile_fields: frozenset[str] = DEFAULT_VOLATILE_FIELDS

    @property
    def unchanged_if_only(self) -> frozenset[str]:
        """The fields whose change alone is no change of data: the volatile ones and the version field."""
        return self.volatile_fields | {self.version_field}


DEFAULT_FIELDS = ObjectConfig(object="")


class RecordRejected(ValueError):
    """A record that cannot be stored as it is; it goes to quarantine with this reason."""

    def __init__(self, field: str | None, expected: str, got: Any = None, *, masked: bool = False) -> None:
        self.field = field
        self.expected = expected
        # A masked field's value never goes into a reason: reasons reach logs and quarantine entries.
        self.got = None if masked else got
        where = f"field {field!r}: " if field else ""
        if masked and got is not None:
            shown = " (the value is not shown: the field is masked)"
        else:
            shown = "" if got is None else f", got {got!r}"
        self.masked = masked
        super().__init__(f"{where}expected {expected}{shown}")

    def without_value(self) -> RecordRejected:
        """The same rejection with the value left out, for a masked field.

        Its reason reaches quarantine entries and logs, where a masked value never goes.
        """
        if self.masked or self.got is None:
            return self
        return RecordRejected(self.field, self.expected, self.got, masked=True)


class RecordVersion(NamedTuple):
    """One version of one record: the unit of the newest-wins write (a tuple: cheap on the hot path)."""

    object: str
    id: str
    version: int  # UTC epoch milliseconds of the version field
    deleted: bool
    record: dict[str, Any]

    @property
    def key(self) -> str:
        """The entity key, ``<Object>#<Id>``."""
        return entity_key(self.object, self.id)

    @property
    def version_iso(self) -> str:
        """The version as ISO-8601 UTC with milliseconds."""
        return to_iso(self.version)


def entity_key(object_name: str, record_id: str) -> str:
    """The entity table's key of a record: ``<Object>#<Id>``."""
    return f"{object_name}#{record_id}"


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def _is_deleted(value: Any) -> bool:
    """Read IsDeleted in every form AppFlow writes: JSON boolean, or a string in CSV/untyped Parquet."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RecordRejected("IsDeleted", "a boolean (true/false)", value)


def to_record_version(record: Any, config: ObjectConfig | None, *, not_after: int | None = None) -> RecordVersion:
    """Identify and version a record; raise RecordRejected saying which field is wrong and why.

    The object comes from the flow's configuration, else from Salesforce's own ``attributes.type``:
    a record whose object cannot be told is rejected, never guessed. The id is trimmed and put in
    its canonical form (``salesforce_ids.canonical_id``: 15 characters lengthened, 18 re-cased)
    in the key *and* in the stored record, so one record delivered in two forms is one record,
    kept newest-wins. ``not_after`` (epoch ms): a later version is rejected (clock sanity).
    """
    if not isinstance(record, dict):
        raise RecordRejected(None, "a JSON object per record", type(record).__name__)
    # Salesforce's envelope (type, url) is not part of the record; it goes back on rejection so the
    # quarantine shows the record as it arrived.
    attributes = record.pop("attributes", None)
    try:
        return _to_record_version(record, config or DEFAULT_FIELDS, attributes, not_after)
    except RecordRejected:
        if attributes is not None:
            record["attributes"] = attributes
        raise


def _to_record_version(
    record: dict[str, Any], fields: ObjectConfig, attributes: Any, not_after: int | None = None
) -> RecordVersion:
    raw_id = record.get(fields.id_field)
    if type(raw_id) is not str:  # exact type checks: this runs once per record
        raw_id = str(raw_id) if type(raw_id) is int else ""
    raw_id = raw_id.strip()
    if not raw_id:
        raise RecordRejected(fields.id_field, "a non-empty record id", record.get(fields.id_field))
    check_id_characters(fields.id_field, raw_id)

    object_name = fields.object or _object_from_record(attributes, raw_id)

    raw_version = record.get(fields.version_field)
    if raw_version is None or raw_version == "":
        raise RecordRejected(fields.version_field, "a timestamp (the record's version)", raw_version)
    try:
        version = to_epoch_millis(raw_version)
    except InvalidTimestamp as error:
        raise RecordRejected(fields.version_field, str(error).removeprefix("expected "), None) from None
    if not_after is not None and version > not_after:
        raise future_version(fields.version_field, raw_version, not_after)

    deleted = record.get("IsDeleted")
    if deleted is not False and deleted is not None:
        deleted = _is_deleted(deleted)
    record_id = canonical_id(raw_id)
    check_key_size(fields.id_field, object_name, record_id)
    # Only once nothing can reject it: quarantine shows records as they arrived.
    if record_id != record[fields.id_field] and type(record[fields.id_field]) is str:
        record[fields.id_field] = record_id
    return RecordVersion(object_name, record_id, version, bool(deleted), record)


def check_id_characters(field: str, record_id: str) -> None:
    """Refuse an id holding a control character (NUL, a tab inside it, ...): no source writes one on purpose.

    A key with NUL in it is legal in DynamoDB, but it names a record nobody can look up by the id
    they see, and it usually means a corrupt export: quarantined, with the id shown escaped.
    """
    if record_id.isprintable():
        return
    bad = sorted({char for char in record_id if unicodedata.category(char) == "Cc"})
    if bad:
        raise RecordRejected(
            field,
            f"a record id without control characters (found {', '.join(repr(c) for c in bad)})",
            record_id,
        )


def check_key_size(field: str, object_name: str, record_id: str) -> None:
    """Refuse an id whose entity key is over DynamoDB's 2,048-byte partition key limit (before any request)."""
    if len(object_name) + len(record_id) < MAX_KEY_BYTES // 4:  # 4 bytes a character at most: surely fits
        return
    size = len(entity_key(object_name, record_id).encode())
    if size > MAX_KEY_BYTES:
        raise RecordRejected(
            field,
            f"a record id whose key ({object_name}#<id>) is at most {MAX_KEY_BYTES} bytes in UTF-8, "
            f"DynamoDB's partition key limit; this one is {size} bytes",
            record_id[:64] + "...",
        )


def future_version(field: str, raw_version: Any, not_after: int) -> RecordRejected:
    """The rejection of a version further ahead of ingest time than the allowed clock skew."""
    return RecordRejected(
        field,
        f"a version no later than {to_iso(not_after)} (the time it was ingested plus the allowed clock skew, "
        "MAX_VERSION_SKEW_SECONDS): a version in the future would hold back every real update of the record "
        "until that time",
        raw_version,
    )


def to_record_versions(
    records: list[Any], config: ObjectConfig | None, *, not_after: int | None = None
) -> tuple[list[RecordVersion], list[tuple[int, Any, RecordRejected]]]:
    """``to_record_version`` over a batch: the versions, and ``(index, record, error)`` per rejected record.

    The hot path of ingestion, so the rules for the common record (a dict with a string id, a
    string timestamp and a boolean or absent ``IsDeleted``) are inlined here rather than called
    per record; anything else goes through ``to_record_version``, which decides and explains.
    ``not_after`` (epoch ms): a version later than this is rejected (clock sanity).
    """
    fields = config or DEFAULT_FIELDS
    id_field, version_field, configured_object = fields.id_field, fields.version_field, fields.object
    versions: list[RecordVersion] = []
    append = versions.append
    make = tuple.__new__  # RecordVersion(...) goes through a Python-level __new__: 2-3x the cost
    rejected: list[tuple[int, Any, RecordRejected]] = []
    upper, case_by_suffix = _UPPER_BYTES, _CASE_BY_SUFFIX  # salesforce_ids.is_canonical_18, inlined
    for index, record in enumerate(records):
        if type(record) is dict:
            raw_id = record.get(id_field)
            raw_version = record.get(version_field)
            deleted = record.get("IsDeleted", False)
            if type(raw_id) is str and type(raw_version) is str and (deleted is False or deleted is True):
                try:
                    # to_epoch_millis' common case, inlined: a text with an offset (both Salesforce
                    # forms). A naive or date-only text fails the subtraction (TypeError) and goes
                    # the long way below, which reads naive as UTC and rejects a date alone.
                    millis = (parse_iso(raw_version) - EPOCH) // MILLISECOND
                except (ValueError, TypeError):
                    millis = None
                # The common id: 18 ASCII letters and digits already in canonical case, a version
                # not in the future. Anything else (15 characters, another case, whitespace,
                # control characters, a very long id) goes the long way, which explains.
                if (
                    millis is not None
                    and (not_after is None or millis <= not_after)
                    and len(raw_id) == 18
                    and raw_id.isalnum()
                    and raw_id.encode().translate(upper) == case_by_suffix[raw_id[15:]]
                ):
                    record_id = raw_id
                    attributes = record.pop("attributes", None)
                    object_name = configured_object
                    if not object_name:
                        try:
                            object_name = _object_from_record(attributes, record_id)
                        except RecordRejected as error:
                            if attributes is not None:
                                record["attributes"] = attributes
                            rejected.append((index, record, error))
                            continue
                    append(make(RecordVersion, (object_name, record_id, millis, deleted, record)))
                    continue
        try:
            append(to_record_version(record, config, not_after=not_after))
        except RecordRejected as error:
            rejected.append((index, record, error))
    return versions, rejected


def _object_from_record(attributes: Any, record_id: str) -> str:
    """Without configuration: Salesforce's own ``attributes.type``, else a standard object's id prefix."""
    object_name = attributes.get("type") if isinstance(attributes, dict) else None
    if isinstance(object_name, str) and object_name:
        return object_name
    object_name = standard_object_for_id(record_id)
    if object_name:
        return object_name
    raise RecordRejected(
        "attributes.type",
        "the Salesforce object name: configure the flow in FLOW_OBJECTS, or deliver records with "
        "attributes.type or a standard object's Salesforce Id",
    )


def record_object(record: Any, config: ObjectConfig | None) -> str | None:
    """The Salesforce object a record belongs to, as ``to_record_version`` tells it; None if it cannot tell."""
    if config is not None and config.object:
        return config.object
    if not isinstance(record, dict):
        return None
    raw_id = record.get((config or DEFAULT_FIELDS).id_field)
    try:
        return _object_from_record(record.get("attributes"), str(raw_id).strip() if raw_id is not None else "")
    except RecordRejected:
        return None


_record_id = itemgetter(1)  # RecordVersion.id


def newest_per_key(versions: list[RecordVersion]) -> tuple[list[RecordVersion], int]:
    """Keep only the newest version of each record in a batch; return it and how many were dropped.

    The dropped ones would lose the conditional write anyway; skipping them saves requests and
    keeps concurrent writers of one batch from racing on the same item.
    """
    if len(set(map(_record_id, versions))) == len(versions):
        return list(versions), 0  # no id twice (the usual batch): nothing to drop, found at C speed
    newest: dict[tuple[str, str], RecordVersion] = {}
    for version in versions:
        key = (version.object, version.id)
        current = newest.get(key)
        if current is None or version.version > current.version:
            newest[key] = version
    return list(newest.values()), len(versions) - len(newest)
