"""In-memory fakes of the ports (appflow_ingest.ports), for unit tests of the services: no AWS, no moto.

Each fake keeps the one rule of its real adapter that the services rely on (newest wins, first
writer wins, a conditional commit on a revision) and records what it was told, so a test can
assert on it. They are typed against their Protocol, so mypy checks that they still fit.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from appflow_ingest.domain.bus_events.envelope import BusEvent
from appflow_ingest.domain.landing.chunks import Chunk, LandedObject
from appflow_ingest.domain.records.versions import RecordRejected, RecordVersion
from appflow_ingest.domain.runs.ledger import RunState
from appflow_ingest.domain.runs.reports import FlowRunReport
from appflow_ingest.domain.salesforce.merge import StoredRecord
from appflow_ingest.ports.bus import PublishError
from appflow_ingest.ports.entities import OURS, STALE, WRITTEN, RecordBodyMissing, WriteFailed, WriteOutcome
from appflow_ingest.ports.landing import ObjectChanged
from appflow_ingest.ports.wallet import ContributionWrite, PassWrite, StoredContribution, StoredPass


class BytesSource:
    """One object's bytes in memory, read in blocks of ``block_size`` (ChunkBytes)."""

    def __init__(self, data: bytes, block_size: int = 1024) -> None:
        self.data = data
        self.block_size = block_size
        self.reads: list[tuple[int, int]] = []

    def blocks(self, obj: Chunk, offset: int, stop: int | None = None) -> Iterator[bytes]:
        for position in range(offset, len(self.data), self.block_size):
            yield self.data[position : position + self.block_size]

    def stream(self, obj: Chunk) -> io.RawIOBase:
        return io.BytesIO(self.data)  # type: ignore[return-value]

    def read_range(self, obj: Chunk, start: int, stop: int) -> bytes:
        self.reads.append((start, stop))
        return self.data[start:stop]


class MemoryLandingObjects:
    """A landing bucket in memory: objects by (bucket, key), each with an etag (LandingObjects and ChunkBytes)."""

    def __init__(self, block_size: int = 1024) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.block_size = block_size

    def put(self, bucket: str, key: str, data: bytes) -> LandedObject:
        etag = f"etag-{len(self.objects)}-{len(data)}"
        self.objects[(bucket, key)] = (data, etag)
        return LandedObject(bucket, key, len(data), etag)

    def head(self, bucket: str, key: str, version_id: str | None = None) -> LandedObject | None:
        found = self.objects.get((bucket, key))
        return None if found is None else LandedObject(bucket, key, len(found[0]), found[1])

    def _data(self, obj: LandedObject | Chunk) -> bytes:
        found = self.objects.get((obj.bucket, obj.key))
        if found is None or (obj.etag and obj.etag != found[1]):
            raise ObjectChanged(f"{obj.uri} changed since it was planned")
        return found[0]

    def read_range(self, obj: LandedObject | Chunk, start: int, stop: int) -> bytes:
        return self._data(obj)[start:stop]

    def blocks(self, obj: Chunk, offset: int, stop: int | None = None) -> Iterator[bytes]:
        data = self._data(obj)
        for position in range(offset, len(data), self.block_size):
            yield data[position : position + self.block_size]

    def stream(self, obj: Chunk) -> io.RawIOBase:
        return io.BytesIO(self._data(obj))  # type: ignore[return-value]


class RecordingQueue:
    """The chunk queue: keeps what was sent (ChunkQueue)."""

    def __init__(self) -> None:
        self.sent: list[Chunk] = []

    def send(self, chunks: Sequence[Chunk]) -> None:
        self.sent.extend(chunks)


class RecordingQuarantine:
    """The quarantine: entries by chunk range and by event name (Quarantine)."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[dict[str, Any]]] = {}
        self.events: dict[str, dict[str, Any]] = {}

    def put(self, chunk: Chunk, entries: list[dict[str, Any]]) -> str:
        location = f"memory://quarantine/{chunk.id}"
        self.chunks[location] = list(entries)
        return location

    def put_event(self, name: str, entry: dict[str, Any]) -> str:
        location = f"memory://quarantine/events/{name}"
        self.events[location] = entry
        return location


class RecordingPublisher:
    """The bus: keeps what was published; ``fail_from=k`` refuses the k-th event of a call on (EventPublisher)."""

    def __init__(self, fail_from: int | None = None) -> None:
        self.published: list[tuple[BusEvent, str]] = []
        self.fail_from = fail_from

    def publish(self, events: Sequence[BusEvent], source: str) -> None:
        accepted = list(events) if self.fail_from is None else list(events)[: self.fail_from]
        self.published.extend((event, source) for event in accepted)
        if len(accepted) < len(events):
            raise PublishError(len(accepted), ["InternalFailure"])

    @property
    def events(self) -> list[BusEvent]:
        return [event for event, _source in self.published]


class MemoryEntityStore:
    """The entity table for ingest: newest wins per key, each item keeps its writer (EntityStore).

    ``refuse``: record ids refused for their own sake (as DynamoDB refuses a key or a size);
    ``fail``: every write raises ``WriteFailed`` (retries ran out).
    """

    def __init__(self, refuse: Iterable[str] = (), fail: bool = False) -> None:
        self.items: dict[str, tuple[RecordVersion, str]] = {}
        self.refuse = set(refuse)
        self.fail = fail
        self.calls = 0

    def write_newest(
        self, versions: Sequence[RecordVersion], source: str, *, writer: str | None = None
    ) -> WriteOutcome:
        self.calls += 1
        if self.fail:
            raise WriteFailed(f"{len(versions)} versions not written after retries")
        outcome = WriteOutcome()
        for version in versions:
            if version.id in self.refuse:
                outcome.add(version, RecordRejected(None, "an item DynamoDB accepts; it refused this one: test"))
                continue
            stored = self.items.get(version.key)
            if stored is None or stored[0].version < version.version:
                self.items[version.key] = (version, writer or source)
                outcome.add(version, WRITTEN)
            elif stored[0].version == version.version and stored[1] == (writer or source):
                outcome.add(version, OURS)
            else:
                outcome.add(version, STALE)
        return outcome

    def stored(self, key: str) -> RecordVersion | None:
        """The version stored under an entity key."""
        found = self.items.get(key)
        return None if found is None else found[0]


class MemoryRecordBodies:
    """Record bodies by URI; tagging superseded is recorded, a missing body raises (RecordBodies)."""

    def __init__(self) -> None:
        self.bodies: dict[str, Any] = {}
        self.superseded: list[str] = []

    def uri_for(self, version: RecordVersion, body: bytes) -> str:
        return f"s3://bodies/{version.key}/{version.version}.json"

    def put(self, version: RecordVersion, body: bytes) -> str:
        uri = self.uri_for(version, body)
        self.bodies[uri] = json.loads(body)
        return uri

    def read(self, uri: str) -> Any:
        if uri not in self.bodies:
            raise RecordBodyMissing(f"{uri}: the record body is missing")
        return self.bodies[uri]

    def mark_superseded(self, uri: str) -> None:
        self.superseded.append(uri)


class MemoryEntityMerger:
    """The entity table for change events: versioned records; ``conflicts=n`` loses the next n guarded writes (EntityMerger)."""

    def __init__(self, conflicts: int = 0) -> None:
        self.records: dict[tuple[str, str], StoredRecord] = {}
        self.conflicts = conflicts
        self.writes = 0

    def store(
        self, object_name: str, record_id: str, version: int, record: dict[str, Any], source: str = "file"
    ) -> None:
        self.records[(object_name, record_id)] = StoredRecord(version, bool(record.get("IsDeleted")), record, source)

    def read(self, object_name: str, record_id: str) -> StoredRecord | None:
        return self.records.get((object_name, record_id))

    def write_if_unchanged(self, version: RecordVersion, source: str, read_version: int | None) -> bool:
        if self.conflicts:
            self.conflicts -= 1
            return False
        stored = self.records.get((version.object, version.id))
        if (stored.version if stored is not None else None) != read_version:
            return False
        self.writes += 1
        self.records[(version.object, version.id)] = StoredRecord(
            version.version, version.deleted, dict(version.record), source
        )
        return True


class MemoryResyncMarks:
    """Resync marks by record, each with the event ids that asked for it (ResyncMarks)."""

    def __init__(self) -> None:
        self.marks: dict[tuple[str, str], dict[str, Any]] = {}

    def mark(
        self, object_name: str, record_id: str, *, reason: str, change_type: str, commit_timestamp: int, event_id: str
    ) -> None:
        mark = self.marks.setdefault((object_name, record_id), {"event_ids": set()})
        mark.update(reason=reason, change_type=change_type, commit_timestamp=commit_timestamp)
        mark["event_ids"].add(event_id)


class MemorySchemaRegistry:
    """Fields seen per object; the first sighting alone says True (SchemaRegistry)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def first_sighting(self, object_name: str, field: str) -> bool:
        if (object_name, field) in self.seen:
            return False
        self.seen.add((object_name, field))
        return True


class FixedMaskingKey:
    """A masking key that never rotates unless told to (MaskingKey)."""

    def __init__(self, key: bytes = b"test-masking-key") -> None:
        self.key = key

    def current(self) -> bytes:
        return self.key


@dataclass
class _Run:
    state: RunState
    markers: dict[str, Any] = field(default_factory=dict)
    reingestions: dict[str, dict[str, int]] = field(default_factory=dict)


class MemoryRunLedger:
    """The run ledger: counts per run, each file, chunk and hand-over counted once, first writer wins (RunLedger)."""

    def __init__(self) -> None:
        self.runs: dict[str, _Run] = {}
        self.published: list[tuple[str, str]] = []

    def _run(self, execution_id: str, flow_name: str | None) -> _Run:
        run = self.runs.setdefault(execution_id, _Run(RunState(execution_id)))
        if flow_name and run.state.flow_name is None:
            run.state.flow_name = flow_name
        return run

    def _count_once(self, run: _Run, marker: str, counts: Mapping[str, int], target: Any, value: Any = True) -> Any:
        if marker in run.markers:
            return run.markers[marker]
        run.markers[marker] = value
        for name, count in counts.items():
            if isinstance(target, dict):
                target[name] = target.get(name, 0) + count
            else:
                setattr(target, name, getattr(target, name) + count)
        return None

    def file_planned(self, execution_id: str, flow_name: str | None, file_id: str, chunks: int) -> bool:
        run = self._run(execution_id, flow_name)
        counts = {"files_seen": 1, "chunks_planned": chunks}
        return self._count_once(run, f"file#{file_id}", counts, run.state) is None

    def chunk_finished(
        self, execution_id: str, flow_name: str | None, chunk_id: str, counts: Mapping[str, int]
    ) -> bool:
        run = self._run(execution_id, flow_name)
        return self._count_once(run, f"chunk#{chunk_id}", counts, run.state) is None

    def hand_over(
        self,
        execution_id: str,
        flow_name: str | None,
        chunk_id: str,
        offset: int,
        row: int,
        reingestion: str | None = None,
    ) -> tuple[int, int]:
        run = self._run(execution_id, flow_name if reingestion is None else None)
        target = run.state if reingestion is None else run.reingestions.setdefault(reingestion, {})
        found = self._count_once(
            run, f"handover#{reingestion}#{chunk_id}", {"chunks_planned": 1}, target, (offset, row)
        )
        return (offset, row) if found is None else found

    def hand_over_of(self, execution_id: str, chunk_id: str, reingestion: str | None = None) -> tuple[int, int] | None:
        run = self.runs.get(execution_id)
        found = run.markers.get(f"handover#{reingestion}#{chunk_id}") if run is not None else None
        return None if found is None else tuple(found)  # type: ignore[return-value]

    def reingested_chunk_finished(
        self, execution_id: str, reingestion: str, chunk_id: str, counts: Mapping[str, int]
    ) -> bool:
        run = self._run(execution_id, None)
        target = run.reingestions.setdefault(reingestion, {})
        return self._count_once(run, f"chunk#{reingestion}#{chunk_id}", counts, target) is None

    def record_report(self, report: FlowRunReport) -> None:
        state = self._run(report.execution_id, report.flow_name).state
        state.trigger_type = report.trigger_type or state.trigger_type
        if report.kind == "START":
            state.started = True
            state.start_time = state.start_time if state.start_time is not None else report.start_time
            return
        state.reported = True
        state.appflow_status, state.appflow_outcome, state.appflow_error = report.status, report.outcome, report.error
        state.start_time = report.start_time if report.start_time is not None else state.start_time
        state.end_time = report.end_time
        state.records_processed = report.records_processed
        state.records_filtered, state.record_failures = report.records_filtered, report.record_failures

    def read(self, execution_id: str) -> RunState:
        run = self.runs.get(execution_id)
        return replace(run.state, reasons=list(run.state.reasons)) if run else RunState(execution_id)

    def mark_published(self, execution_id: str, signature: str, outcome: str, reasons: list[str]) -> None:
        state = self._run(execution_id, None).state
        state.published_signature, state.outcome, state.reasons = signature, outcome, list(reasons)
        self.published.append((execution_id, signature))


class MemoryWalletStore:
    """The wallet's state: contributions and passes, committed all or nothing on their read revisions.

    ``conflicts=n``: the next n commits lose to another writer, which bumps the revision of the
    passes they carry (WalletStore and DuePassStore).
    """

    def __init__(self, conflicts: int = 0) -> None:
        self.contributions: dict[str, StoredContribution] = {}
        self.passes: dict[str, StoredPass] = {}
        self.conflicts = conflicts
        self.commits = 0

    def read_contributions(self, source_keys: Iterable[str]) -> dict[str, StoredContribution]:
        return {key: self.contributions[key] for key in source_keys if key in self.contributions}

    def read_passes(self, members: Iterable[str]) -> dict[str, StoredPass]:
        return {member: self.passes[member] for member in members if member in self.passes}

    def due_members(self, today: date) -> Iterator[str]:
        due = today.isoformat()
        return iter([m for m, p in self.passes.items() if p.next_change and p.next_change <= due])

    def commit(self, contributions: Sequence[ContributionWrite], passes: Sequence[PassWrite]) -> bool:
        if self.conflicts:
            self.conflicts -= 1
            for write in passes:  # the other writer's commit
                stored = self.passes.get(write.member)
                if stored is not None:
                    self.passes[write.member] = stored._replace(revision=stored.revision + 1)
            return False
        for contribution in contributions:
            stored_contribution = self.contributions.get(contribution.source_key)
            if (stored_contribution.version if stored_contribution else None) != contribution.read_version:
                return False
        for write in passes:
            stored_pass = self.passes.get(write.member)
            if (stored_pass.revision if stored_pass else 0) != write.read_revision:
                return False
        self.commits += 1
        for contribution in contributions:
            self.contributions[contribution.source_key] = StoredContribution(
                contribution.version, contribution.contribution
            )
        for write in passes:
            self.passes[write.member] = StoredPass(
                write.aggregate, write.revision, write.derived, write.next_change and write.next_change.isoformat()
            )
        return True
