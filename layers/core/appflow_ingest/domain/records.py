"""From a decoded source record to a versioned record the entity table can store."""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from appflow_ingest.domain.salesforce_ids import standard_object_for_id, to_18_character_id
from appflow_ingest.domain.timestamps import EPOCH, MILLISECOND, InvalidTimestamp, parse_iso, to_epoch_millis, to_iso

# Fields Salesforce changes when any field of the record changes, mapped by the flow or not: a
# version that differs from the stored one only in these is no change of data (no event).
DEFAULT_VOLATILE_FIELDS = frozenset({"LastModifiedDate", "SystemModstamp"})


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

    def __init__(self, field: str | None, expected: str, got: Any = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        where = f"field {field!r}: " if field else ""
        super().__init__(f"{where}expected {expected}" + ("" if got is None else f", got {got!r}"))


class RecordVersion(NamedTuple):
    """One version of one record: the unit of the newest-wins write (a tuple: cheap on the hot path)."""

    object: str
    id: str
    version: int  # UTC epoch milliseconds of the version field
    deleted: bool
    record: dict[str, Any]

    @property
    def key(self) -> str:
        return entity_key(self.object, self.id)

    @property
    def version_iso(self) -> str:
        return to_iso(self.version)


def entity_key(object_name: str, record_id: str) -> str:
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


def to_record_version(record: Any, config: ObjectConfig | None) -> RecordVersion:
    """Identify and version a record; raise RecordRejected saying which field is wrong and why.

    The object comes from the flow's configuration, else from Salesforce's own ``attributes.type``:
    a record whose object cannot be told is rejected, never guessed.
    """
    if not isinstance(record, dict):
        raise RecordRejected(None, "a JSON object per record", type(record).__name__)
    # Salesforce's envelope (type, url) is not part of the record; it goes back on rejection so the
    # quarantine shows the record as it arrived.
    attributes = record.pop("attributes", None)
    try:
        return _to_record_version(record, config or DEFAULT_FIELDS, attributes)
    except RecordRejected:
        if attributes is not None:
            record["attributes"] = attributes
        raise


def _to_record_version(record: dict[str, Any], fields: ObjectConfig, attributes: Any) -> RecordVersion:
    raw_id = record.get(fields.id_field)
    if type(raw_id) is not str:  # exact type checks: this runs once per record
        raw_id = str(raw_id) if type(raw_id) is int else ""
    raw_id = raw_id.strip()
    if not raw_id:
        raise RecordRejected(fields.id_field, "a non-empty record id", record.get(fields.id_field))

    object_name = fields.object or _object_from_record(attributes, raw_id)

    raw_version = record.get(fields.version_field)
    if raw_version is None or raw_version == "":
        raise RecordRejected(fields.version_field, "a timestamp (the record's version)", raw_version)
    try:
        version = to_epoch_millis(raw_version)
    except InvalidTimestamp as error:
        raise RecordRejected(fields.version_field, str(error).removeprefix("expected "), None) from None

    deleted = record.get("IsDeleted")
    if deleted is not False and deleted is not None:
        deleted = _is_deleted(deleted)
    if len(raw_id) == 15:  # only once nothing can reject it: quarantine shows records as they arrived
        raw_id = _as_18_characters(record, fields.id_field, raw_id)
    return RecordVersion(object_name, raw_id, version, bool(deleted), record)


def to_record_versions(
    records: list[Any], config: ObjectConfig | None
) -> tuple[list[RecordVersion], list[tuple[int, Any, RecordRejected]]]:
    """``to_record_version`` over a batch: the versions, and ``(index, record, error)`` per rejected record.

    The hot path of ingestion, so the rules for the common record (a dict with a string id, a
    string timestamp and a boolean or absent ``IsDeleted``) are inlined here rather than called
    per record; anything else goes through ``to_record_version``, which decides and explains.
    """
    fields = config or DEFAULT_FIELDS
    id_field, version_field, configured_object = fields.id_field, fields.version_field, fields.object
    versions: list[RecordVersion] = []
    append = versions.append
    make = tuple.__new__  # RecordVersion(...) goes through a Python-level __new__: 2-3x the cost
    rejected: list[tuple[int, Any, RecordRejected]] = []
    for index, record in enumerate(records):
        if type(record) is dict:
            raw_id = record.get(id_field)
            raw_version = record.get(version_field)
            deleted = record.get("IsDeleted", False)
            if type(raw_id) is str and type(raw_version) is str and (deleted is False or deleted is True):
                record_id = raw_id.strip()
                try:
                    # to_epoch_millis' common case, inlined: a text with an offset (both Salesforce
                    # forms). A naive or date-only text fails the subtraction (TypeError) and goes
                    # the long way below, which reads naive as UTC and rejects a date alone.
                    millis = (parse_iso(raw_version) - EPOCH) // MILLISECOND
                except (ValueError, TypeError):
                    millis = None
                if millis is not None and record_id:
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
                    if len(record_id) == 15:
                        record_id = _as_18_characters(record, id_field, record_id)
                    append(make(RecordVersion, (object_name, record_id, millis, deleted, record)))
                    continue
        try:
            append(to_record_version(record, config))
        except RecordRejected as error:
            rejected.append((index, record, error))
    return versions, rejected


def _as_18_characters(record: dict[str, Any], id_field: str, record_id: str) -> str:
    """A 15-character Salesforce id in its 18-character form, in the key and the stored record.

    Otherwise one record delivered once with each form would be stored twice, and neither copy
    would be kept newest-wins against the other.
    """
    long_id = to_18_character_id(record_id)
    if long_id != record_id:
        record[id_field] = long_id
    return long_id


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
