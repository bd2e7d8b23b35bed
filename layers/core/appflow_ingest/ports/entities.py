"""Ports of the stored records: the entity table, the record bodies, the resync marks, the schema registry.

The write path's vocabulary lives here (outcomes, strategies, limits), so a service names it
without importing the DynamoDB adapter that implements it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from appflow_ingest.domain.records.versions import RecordRejected, RecordVersion
from appflow_ingest.domain.salesforce.merge import StoredRecord

READ_FIRST = "read-first"
CONDITIONAL_PUT = "conditional-put"
TRANSACT = "transact"
# The one list of write strategies (settings checks WRITE_STRATEGY against it); the first is the default.
WRITE_STRATEGIES = (READ_FIRST, CONDITIONAL_PUT, TRANSACT)

MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item limit

WRITTEN, STALE, OURS = "written", "stale", "ours"


class WriteFailed(RuntimeError):
    """Writes that could not be made after retries; the chunk fails and its message is retried."""


@dataclass
class WriteOutcome:
    """What became of a batch: every version is exactly one of written, stale or refused."""

    written: int = 0
    stale: int = 0  # equal (duplicate) or older than what is stored
    refused: list[tuple[RecordVersion, RecordRejected]] = field(default_factory=list)  # not written: quarantine
    # The versions counted written, and among them those whose condition failed on this writer's own
    # earlier write of the same version (a retry): a caller that tracks what it wrote itself may
    # count a repeat of one within its own input as stale instead.
    written_versions: list[RecordVersion] = field(default_factory=list)
    ours: list[RecordVersion] = field(default_factory=list)

    def add(self, version: RecordVersion, result: str | RecordRejected) -> None:
        """Count one version: WRITTEN, OURS (a retry met its own write), STALE, or why it was refused."""
        if isinstance(result, RecordRejected):
            self.refused.append((version, result))
        elif result == STALE:
            self.stale += 1
        else:
            self.written += 1
            self.written_versions.append(version)
            if result == OURS:
                self.ours.append(version)

    def __iadd__(self, other: WriteOutcome) -> WriteOutcome:
        self.written += other.written
        self.stale += other.stale
        self.refused += other.refused
        self.written_versions += other.written_versions
        self.ours += other.ours
        return self

    @property
    def too_large(self) -> list[RecordVersion]:
        """The refused versions (kept for callers of the first version of this API)."""
        return [version for version, _ in self.refused]


class EntityStore(Protocol):
    """The entity table as ingest sees it: versions written newest-wins."""

    def write_newest(
        self, versions: Sequence[RecordVersion], source: str, *, writer: str | None = None
    ) -> WriteOutcome:
        """Write each version only if newer than the stored one; raises ``WriteFailed`` when retries run out."""
        ...


class RecordBodyMissing(RuntimeError):
    """An item points at a body that is not there (expired or deleted by hand)."""


class RecordBodies(Protocol):
    """Bodies of records too large to keep inline in their item (S3 objects named by an ``s3://`` URI)."""

    def uri_for(self, version: RecordVersion, body: bytes) -> str:
        """The URI ``put`` writes this body to (known before it is written)."""
        ...

    def put(self, version: RecordVersion, body: bytes) -> str:
        """Write the body (before its item); return its URI, the item's ``record_ref``."""
        ...

    def read(self, uri: str) -> Any:
        """The record a ``record_ref`` names; raises ``RecordBodyMissing`` when it is gone."""
        ...

    def mark_superseded(self, uri: str) -> None:
        """Tag a body no item points at any more (the lifecycle rule expires it)."""
        ...


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
