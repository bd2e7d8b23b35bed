"""Ports of the stored records: the entity table, the resync marks, the schema registry."""

from __future__ import annotations

from typing import Protocol

from appflow_ingest.domain.records import RecordVersion
from appflow_ingest.domain.salesforce.merge import StoredRecord


class EntityMerger(Protocol):
    """The entity table as a change event sees it: read a record, write it back only if unchanged."""

    def read(self, object_name: str, record_id: str) -> StoredRecord | None:
        """The stored record (None: never stored)."""
        ...

    def write_if_unchanged(self, version: RecordVersion, source: str, read_version: int | None) -> bool:
        """Write the merged version if the stored one is still ``read_version``; False when another writer won."""
        ...


class ResyncMarks(Protocol):
    """Records marked for a resync: what a change event could not apply in full."""

    def mark(
        self, object_name: str, record_id: str, *, reason: str, change_type: str, commit_timestamp: int, event_id: str
    ) -> None:
        """Mark the record (idempotent: the event id is added to its mark)."""
        ...


class SchemaRegistry(Protocol):
    """Fields seen per object, deployment-wide."""

    def first_sighting(self, object_name: str, field: str) -> bool:
        """Record the field as seen; True only for the one caller that saw it first."""
        ...
