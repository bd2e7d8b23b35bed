"""From a decoded source record to a versioned record the entity table can store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appflow_ingest.domain.timestamps import InvalidTimestamp, to_epoch_millis, to_iso


@dataclass(frozen=True)
class ObjectConfig:
    """Which Salesforce object a flow lands, and which fields identify and version its records."""

    object: str
    id_field: str = "Id"
    version_field: str = "LastModifiedDate"


DEFAULT_FIELDS = ObjectConfig(object="")


class RecordRejected(ValueError):
    """A record that cannot be stored as it is; it goes to quarantine with this reason."""

    def __init__(self, field: str | None, expected: str, got: Any = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        where = f"field {field!r}: " if field else ""
        super().__init__(f"{where}expected {expected}" + ("" if got is None else f", got {got!r}"))


@dataclass(frozen=True, slots=True)
class RecordVersion:
    """One version of one record: the unit of the newest-wins write."""

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
    fields = config or DEFAULT_FIELDS
    attributes = record.get("attributes")
    if attributes is not None:
        # Salesforce's envelope (type, url) is not part of the record; the object name is kept apart.
        record = {name: value for name, value in record.items() if name != "attributes"}
    object_name = fields.object
    if not object_name:
        object_name = attributes.get("type") if isinstance(attributes, dict) else None
        if not object_name or not isinstance(object_name, str):
            raise RecordRejected(
                "attributes.type",
                "the Salesforce object name (configure the flow in FLOW_OBJECTS, or records carrying attributes.type)",
            )

    raw_id = record.get(fields.id_field)
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise RecordRejected(fields.id_field, "a non-empty record id", raw_id)

    raw_version = record.get(fields.version_field)
    if raw_version is None or raw_version == "":
        raise RecordRejected(fields.version_field, "a timestamp (the record's version)", raw_version)
    try:
        version = to_epoch_millis(raw_version)
    except InvalidTimestamp as error:
        raise RecordRejected(fields.version_field, str(error).removeprefix("expected "), None) from None

    return RecordVersion(
        object=object_name,
        id=raw_id.strip(),
        version=version,
        deleted=_is_deleted(record.get("IsDeleted")),
        record=record,
    )


def newest_per_key(versions: list[RecordVersion]) -> tuple[list[RecordVersion], int]:
    """Keep only the newest version of each record in a batch; return it and how many were dropped.

    The dropped ones would lose the conditional write anyway; skipping them saves requests and
    keeps concurrent writers of one batch from racing on the same item.
    """
    newest: dict[str, RecordVersion] = {}
    for version in versions:
        current = newest.get(version.key)
        if current is None or version.version > current.version:
            newest[version.key] = version
    return list(newest.values()), len(versions) - len(newest)
