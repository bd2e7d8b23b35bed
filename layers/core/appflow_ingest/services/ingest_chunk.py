"""Ingest one chunk: decode its records, check them, write them newest-wins, quarantine the rest.

Every record read ends in exactly one of three counts: written, stale (equal or older than what
is stored), or quarantined (with the file, byte offset, field and expectation). An invocation
running out of time stops at a line boundary and hands the rest of its range to a new message.

Nothing one record or one file carries may make a chunk loop (docs/design.md, invariant 6):

- a record DynamoDB refuses for its own sake (its key, its size) is quarantined alone; a record
  too large for an item is stored with its body in S3 (adapters/entity_store.py);
- a version further ahead of ingest time than the allowed skew is quarantined (clock sanity);
- an error no retry can fix while reading (a truncated or corrupt compressed stream, a broken
  Parquet file, an undecodable encoding, a chunk message that does not parse) keeps what was
  decoded before it and becomes one quarantine entry naming the file, the offset reached and the
  cause; the chunk is finished, not retried into the dead-letter queue. Throttling, timeouts and
  5xx (botocore's errors) still fail the chunk, and SQS retries it.

Bookkeeping is exact under retries and duplicates: a hand-over is recorded in the run ledger
before its remainder is queued (the first writer's offset wins, so any retry hands over from the
same offset under the same remainder id), and a retry that meets its own earlier writes counts
them written, not stale (``written_by`` on every item).
"""

from __future__ import annotations

import gc
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError

from appflow_ingest.domain.landing.chunks import Chunk, ChunkMessageRejected, HandOver
from appflow_ingest.domain.records.quarantine_entries import Masking, rejected_line, rejected_message, rejected_record
from appflow_ingest.domain.records.versions import (
    ObjectConfig,
    RecordRejected,
    RecordVersion,
    newest_per_key,
    record_object,
    to_record_versions,
)
from appflow_ingest.observability import correlate, emit_counts, logger, metrics
from appflow_ingest.ports.entities import EntityStore
from appflow_ingest.ports.landing import ChunkBytes, ChunkQueue, ObjectChanged
from appflow_ingest.ports.quarantine import Quarantine
from appflow_ingest.ports.rules import RecordRules
from appflow_ingest.ports.runs import RunChunks
from appflow_ingest.reading import DecodedBatch, read_batches

# Errors that retrying may cure: the chunk fails and SQS delivers it again. Anything else raised
# while reading a chunk's bytes is the input's doing (a corrupt file, an encoding no decoder reads)
# and no retry can fix it: it is quarantined once and the chunk is finished.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ClientError, BotoCoreError, ConnectionError, TimeoutError)


@dataclass
class ChunkReport:
    """What became of one chunk: records read, written, stale and quarantined, and any hand-over."""

    chunk: str
    read: int = 0
    written: int = 0
    stale: int = 0
    quarantined: int = 0
    quarantine: str | None = None
    handed_over_at: int | None = None
    superseded: bool = False  # the object was replaced after planning; its new version is planned anew

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (the handler's response, the log line)."""
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


class _Snapshot(NamedTuple):
    """The report's counts and rejects as they stood at a batch boundary (to settle on another invocation's hand-over)."""

    read: int
    written: int
    stale: int
    rejects: int


class ChunkIngester:
    """Ingests chunks: decodes, checks and writes their records newest-wins, quarantines the rest."""

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
        max_version_skew_ms: int | None = 86_400_000,
        clock: Callable[[], float] = time.time,
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
        self._max_version_skew_ms = max_version_skew_ms
        self._clock = clock

    def ingest_message(self, body: str, remaining_ms: Callable[[], int] | None = None) -> ChunkReport:
        """Ingest the chunk a queue message names; a message that cannot be read is quarantined, not retried."""
        try:
            chunk = Chunk.from_json(body)
        except ChunkMessageRejected as error:
            name = f"chunk-messages/{hashlib.sha256(body.encode()).hexdigest()[:32]}"
            location = self._quarantine.put_event(name, rejected_message(body, str(error)))
            logger.error("chunk message quarantined", extra={"reason": str(error), "location": location})
            metrics.add_metric(name="ChunkMessagesQuarantined", unit=MetricUnit.Count, value=1)
            return ChunkReport(chunk="", quarantined=1, quarantine=location)
        return self.ingest(chunk, remaining_ms)

    def ingest(self, chunk: Chunk, remaining_ms: Callable[[], int] | None = None) -> ChunkReport:
        """Ingest one chunk; a chunk running out of time hands the rest of its range to a new message."""
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
        counted = True
        if self._runs is not None:
            counted = self._runs.chunk_finished(chunk, report)
        # A chunk its run counted before (a duplicate or a retry after the ledger write) adds nothing
        # to the record metrics either: they stay equal to the ledger's counts.
        self._emit(report, chunk.landing.flow_name, self._objects_by_flow.get(chunk.landing.flow_name or ""), counted)
        return report

    def _ingest(
        self,
        chunk: Chunk,
        remaining_ms: Callable[[], int] | None,
        report: ChunkReport,
        rejects: list[dict[str, Any]],
    ) -> None:
        config = self._objects_by_flow.get(chunk.landing.flow_name or "")
        # A hand-over an earlier invocation of this chunk recorded: this one stops at the same place.
        recorded = self._runs.recorded_hand_over(chunk) if self._runs is not None else None
        batches = read_batches(chunk, self._objects, self._batch_size)
        snapshots: dict[HandOver, _Snapshot] = {}
        written_here: dict[str, int] = {}  # key -> version this invocation counted written
        position = chunk.start
        while True:
            with _cyclic_gc_paused():
                try:
                    batch = next(batches, None)
                except TRANSIENT_ERRORS + (ObjectChanged,):
                    raise
                except Exception as error:  # noqa: BLE001 - the input's doing: no retry reads it (TRANSIENT_ERRORS)
                    self._unreadable(chunk, position, error, report, rejects)
                    return
                if batch is None:
                    return
                versions, rejected = to_record_versions(batch.records, config, not_after=self._not_after())
            # Everything before this batch is written, and it starts a new line (or CSV record, or
            # Parquet row group): after some progress, the rest can be handed over from here.
            # Records sharing an offset (a JSON array line) never straddle two batches.
            here = HandOver(batch.offset, batch.row)
            snapshots[here] = _Snapshot(report.read, report.written, report.stale, len(rejects))
            if recorded is None and report.read and self._out_of_time(remaining_ms):
                recorded = self._runs.hand_over(chunk, here) if self._runs is not None else here
                if recorded in snapshots and recorded != here:
                    # Another invocation of this chunk (a duplicate delivery) recorded a hand-over
                    # behind this one first: the counts fall back to what they were there (batch
                    # boundaries are the same in every invocation of a chunk); the rest is the
                    # remainder's. One recorded ahead is read on to.
                    snapshot = snapshots[recorded]
                    report.read, report.written, report.stale = snapshot.read, snapshot.written, snapshot.stale
                    del rejects[snapshot.rejects :]
                    here = recorded
            if recorded is not None and here >= recorded:  # tuples: offset, then row
                self._queue_remainder(chunk, recorded, report)
                return
            report.read += len(batch.records) + len(batch.undecodable)
            versioned = versions  # each knows its record's object, for the masking of rejects below
            if self._rules is not None:
                versions = self._apply_rules(versions, batch.records, rejected)
            ruled: set[int] = set()  # records the rules already masked (stored as such) but too large
            if versions:
                for version, refusal in self._write(versions, chunk, report, written_here):
                    index = next(i for i, record in enumerate(batch.records) if record is version.record)
                    rejected.append((index, version.record, refusal))
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
                        self._shown(error, record, config, known),
                        dict if id(record) in ruled else self._masking(record, config, known),
                    )
                    for index, record, error in rejected
                ]
                rejects.extend(sorted(found, key=lambda entry: entry["offset"]))
            position = _end_of(batch)

    def _not_after(self) -> int | None:
        """The latest version accepted now: ingest time plus the allowed clock skew (epoch ms)."""
        if self._max_version_skew_ms is None:
            return None
        return int(self._clock() * 1000) + self._max_version_skew_ms

    def _unreadable(
        self, chunk: Chunk, offset: int, error: Exception, report: ChunkReport, rejects: list[dict[str, Any]]
    ) -> None:
        """An error no retry can fix, met while reading: one quarantine entry, the chunk is finished."""
        reason = (
            f"expected a readable {chunk.format} file: reading stopped at offset {offset}: "
            f"{type(error).__name__}: {error}; the records before it were ingested, nothing after it can be read"
        )
        logger.error("chunk unreadable from an offset", extra={"chunk": chunk.id, "offset": offset, "reason": reason})
        entry = rejected_line(chunk, offset, b"", reason)
        del entry["line"]  # nothing of the input is in it: no raw copy to keep (domain/records/quarantine_entries.py)
        rejects.append(entry)
        report.read += 1

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

    def _shown(
        self, error: RecordRejected, record: Any, config: ObjectConfig | None, known: Mapping[int, str]
    ) -> RecordRejected:
        """The rejection as a reason may show it: without the value when its field is masked.

        The checks before the rules (id, version and key size) do not know the masks.
        """
        if self._rules is None or error.masked or error.got is None:
            return error
        if self._rules.masks(known.get(id(record)) or record_object(record, config), error.field):
            return error.without_value()
        return error

    def _out_of_time(self, remaining_ms: Callable[[], int] | None) -> bool:
        return remaining_ms is not None and remaining_ms() < self._handover_margin_ms

    def _queue_remainder(self, chunk: Chunk, at: HandOver, report: ChunkReport) -> None:
        """Queue the rest of the range from a line boundary; this invocation reports success for its part.

        Queued again by a retry: the remainder is the same chunk (same id), so its duplicate is
        counted once by the ledger and writes nothing new.
        """
        self._queue.send([chunk.remainder_from(at.offset, at.row)])
        report.handed_over_at = at.offset
        logger.info("chunk handed over", extra={"chunk": chunk.id, "offset": at.offset, "row": at.row})

    def _write(
        self, batch: list[RecordVersion], chunk: Chunk, report: ChunkReport, written_here: dict[str, int]
    ) -> list[tuple[RecordVersion, RecordRejected]]:
        """Write the batch newest-wins; return the versions refused (for quarantine)."""
        newest, superseded_in_batch = newest_per_key(batch)
        outcome = self._store.write_newest(newest, source=chunk.uri, writer=chunk.writer)
        written, stale = outcome.written, outcome.stale + superseded_in_batch
        # A version the store found already written by this chunk is this invocation's to count
        # once: written the first time (a retry meeting its own earlier write), stale when the
        # chunk repeats it in a later batch.
        repeats = {id(v) for v in outcome.ours if written_here.get(v.key) == v.version}
        written, stale = written - len(repeats), stale + len(repeats)
        for version in outcome.written_versions:
            if id(version) not in repeats:
                written_here[version.key] = version.version
        report.written += written
        report.stale += stale
        return outcome.refused

    @staticmethod
    def _emit(report: ChunkReport, flow: str | None, config: ObjectConfig | None, counted: bool = True) -> None:
        # Record counts per flow and object (what an operator filters by); chunk counts per service.
        # A chunk counted before adds zeros: the record metrics stay equal to the ledger's counts.
        emit_counts(
            {
                "RecordsRead": report.read if counted else 0,
                "RecordsWritten": report.written if counted else 0,
                "RecordsStale": report.stale if counted else 0,
                "RecordsQuarantined": report.quarantined if counted else 0,
            },
            flow=flow,
            object=config.object if config else None,
        )
        for name, value in (
            ("ChunksHandedOver", int(report.handed_over_at is not None)),
            ("ChunksSuperseded", int(report.superseded)),
        ):
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        logger.info("chunk ingested", extra={**report.as_dict(), "counted": counted})


def _end_of(batch: DecodedBatch) -> int:
    """The offset just after a batch's last line (where reading stood when the next batch failed)."""
    if batch.lines:
        return batch.offset + sum(map(len, batch.lines)) + len(batch.lines)
    offsets = [item.offset for item in batch.undecodable] + list(batch.offsets or ())
    return max(offsets, default=batch.offset)
