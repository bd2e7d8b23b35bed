"""Ingest one chunk: decode its records, check them, write them newest-wins, quarantine the rest.

Every record read ends in exactly one of three counts: written, stale (equal or older than what
is stored), or quarantined (with the file, byte offset, field and expectation). An invocation
running out of time stops at a line boundary and hands the rest of its range to a new message.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from appflow_ingest.adapters.entity_store import MAX_ITEM_BYTES, WriteOutcome
from appflow_ingest.adapters.landing_objects import ObjectChanged
from appflow_ingest.domain.chunks import Chunk
from appflow_ingest.domain.quarantine import Masking, rejected_line, rejected_record
from appflow_ingest.domain.records import (
    ObjectConfig,
    RecordRejected,
    RecordVersion,
    newest_per_key,
    record_object,
    to_record_versions,
)
from appflow_ingest.observability import correlate, emit_counts, logger, metrics
from appflow_ingest.services.chunk_readers import ChunkBytes, read_chunk_batches


def _too_large_to_store() -> RecordRejected:
    return RecordRejected(None, f"a record that fits a {MAX_ITEM_BYTES // 1024} KB DynamoDB item with its key fields")


class EntityStore(Protocol):
    def write_newest(self, versions: Sequence[RecordVersion], source: str) -> WriteOutcome: ...


class Quarantine(Protocol):
    def put(self, chunk: Chunk, entries: list[dict[str, Any]]) -> str: ...


class ChunkQueue(Protocol):
    def send(self, chunks: list[Chunk]) -> None: ...


class RunChunks(Protocol):
    """The run ledger's chunk side (services.track_runs.RunTracker)."""

    def chunk_finished(self, chunk: Chunk, report: ChunkReport) -> None: ...


class RecordRules(Protocol):
    """Business rules per object: coerce, derive, validate; raise RecordRejected to quarantine."""

    def apply(self, version: RecordVersion) -> RecordVersion: ...

    def masking_for(self, object_name: str | None) -> Masking | None:
        """How quarantine shows a rejected record of the object (None: it cannot be masked)."""
        ...


@dataclass
class ChunkReport:
    chunk: str
    read: int = 0
    written: int = 0
    stale: int = 0
    quarantined: int = 0
    quarantine: str | None = None
    handed_over_at: int | None = None
    superseded: bool = False  # the object was replaced after planning; its new version is planned anew

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Decode and version a batch without the cyclic garbage collector.

    Decoded JSON is a tree (no cycles): reference counting frees it. But a batch allocates
    thousands of dicts that stay alive together, and each 700 allocations trigger a collection
    that traverses them all again: measured, 250-700 ns a record, a quarter of the hot path.
    Paused per batch only, so garbage cycles made elsewhere (botocore, exceptions) wait one
    batch at most.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ChunkIngester:
    def __init__(
        self,
        objects: ChunkBytes,
        store: EntityStore,
        quarantine: Quarantine,
        queue: ChunkQueue,
        objects_by_flow: Mapping[str, ObjectConfig],
        rules: RecordRules | None = None,
        *,
        batch_size: int = 1000,
        handover_margin_ms: int = 30_000,
        runs: RunChunks | None = None,
    ) -> None:
        self._objects = objects
        self._store = store
        self._quarantine = quarantine
        self._queue = queue
        self._objects_by_flow = objects_by_flow
        self._rules = rules
        self._batch_size = batch_size
        self._handover_margin_ms = handover_margin_ms
        self._runs = runs

    def ingest(self, chunk: Chunk, remaining_ms: Callable[[], int] | None = None) -> ChunkReport:
        report = ChunkReport(chunk=chunk.id)
        correlate(
            flow=chunk.landing.flow_name,
            execution_id=chunk.landing.execution_id,
            chunk_id=chunk.id,
            reingestion=chunk.reingestion,
        )
        rejects: list[dict[str, Any]] = []
        try:
            self._ingest(chunk, remaining_ms, report, rejects)
        except ObjectChanged as changed:
            report.superseded = True
            logger.warning("chunk superseded", extra={"chunk": chunk.id, "reason": str(changed)})
        if rejects or chunk.reingestion:
            # A re-ingested range overwrites its earlier entries, emptied when the fix let every record through.
            report.quarantine = self._quarantine.put(chunk, rejects)
            report.quarantined = len(rejects)
        if rejects:
            logger.warning(
                "records quarantined",
                extra={
                    "chunk": chunk.id,
                    "count": len(rejects),
                    "location": report.quarantine,
                    "first_reason": rejects[0]["reason"],
                },
            )
        if self._runs is not None:
            self._runs.chunk_finished(chunk, report)
        self._emit(report, chunk.landing.flow_name, self._objects_by_flow.get(chunk.landing.flow_name or ""))
        return report

    def _ingest(
        self,
        chunk: Chunk,
        remaining_ms: Callable[[], int] | None,
        report: ChunkReport,
        rejects: list[dict[str, Any]],
    ) -> None:
        config = self._objects_by_flow.get(chunk.landing.flow_name or "")
        batches = read_chunk_batches(chunk, self._objects, self._batch_size)
        while True:
            with _cyclic_gc_paused():
                batch = next(batches, None)
                if batch is None:
                    return
                versions, rejected = to_record_versions(batch.records, config)
            # Everything before this batch is written, and it starts a new line (or CSV record, or
            # Parquet row group): after some progress, the rest can be handed over from here.
            # Records sharing an offset (a JSON array line) never straddle two batches.
            if report.read and self._out_of_time(remaining_ms):
                self._hand_over(chunk, batch.offset, report, batch.row)
                return
            report.read += len(batch.records) + len(batch.undecodable)
            versioned = versions  # each knows its record's object, for the masking of rejects below
            if self._rules is not None:
                versions = self._apply_rules(versions, batch.records, rejected)
            ruled: set[int] = set()  # records the rules already masked (stored as such) but too large
            if versions:
                for version in self._write(versions, chunk, report):
                    index = next(i for i, record in enumerate(batch.records) if record is version.record)
                    rejected.append((index, version.record, _too_large_to_store()))
                    ruled.add(id(version.record))
            if rejected or batch.undecodable:
                offsets = batch.record_offsets()
                known = {id(version.record): version.object for version in versioned}
                found = [rejected_line(chunk, line.offset, line.raw, line.reason) for line in batch.undecodable]
                found += [
                    rejected_record(
                        chunk,
                        offsets[index],
                        record,
                        error,
                        dict if id(record) in ruled else self._masking(record, config, known),
                    )
                    for index, record, error in rejected
                ]
                rejects.extend(sorted(found, key=lambda entry: entry["offset"]))

    def _apply_rules(
        self, versions: list[RecordVersion], records: list[Any], rejected: list[tuple[int, Any, RecordRejected]]
    ) -> list[RecordVersion]:
        assert self._rules is not None
        apply, kept = self._rules.apply, []
        for version in versions:
            try:
                kept.append(apply(version))
            except RecordRejected as error:
                index = next(i for i, record in enumerate(records) if record is version.record)
                rejected.append((index, version.record, error))
        return kept

    def _masking(self, record: Any, config: ObjectConfig | None, known: Mapping[int, str]) -> Masking | None:
        """How the quarantine shows this record: its object's masks (docs/security.md)."""
        if self._rules is None:
            return dict  # no rules, no masked fields
        return self._rules.masking_for(known.get(id(record)) or record_object(record, config))

    def _out_of_time(self, remaining_ms: Callable[[], int] | None) -> bool:
        return remaining_ms is not None and remaining_ms() < self._handover_margin_ms

    def _hand_over(self, chunk: Chunk, offset: int, report: ChunkReport, row: int = 0) -> None:
        """Queue the rest of the range from a line boundary; this invocation reports success for its part."""
        self._queue.send([chunk.remainder_from(offset, row)])
        report.handed_over_at = offset
        logger.info("chunk handed over", extra={"chunk": chunk.id, "offset": offset, "row": row})

    def _write(self, batch: list[RecordVersion], chunk: Chunk, report: ChunkReport) -> list[RecordVersion]:
        """Write the batch newest-wins; return the versions too large to store (for quarantine)."""
        newest, superseded_in_batch = newest_per_key(batch)
        outcome = self._store.write_newest(newest, source=chunk.uri)
        report.written += outcome.written
        report.stale += outcome.stale + superseded_in_batch
        return outcome.too_large

    @staticmethod
    def _emit(report: ChunkReport, flow: str | None, config: ObjectConfig | None) -> None:
        # Record counts per flow and object (what an operator filters by); chunk counts per service.
        emit_counts(
            {
                "RecordsRead": report.read,
                "RecordsWritten": report.written,
                "RecordsStale": report.stale,
                "RecordsQuarantined": report.quarantined,
            },
            flow=flow,
            object=config.object if config else None,
        )
        for name, value in (
            ("ChunksHandedOver", int(report.handed_over_at is not None)),
            ("ChunksSuperseded", int(report.superseded)),
        ):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        logger.info("chunk ingested", extra=report.as_dict())
