"""The snapshot itself: a paced parallel scan whose pages are delivered to a target and checkpointed."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from boto3.dynamodb.types import TypeDeserializer

from appflow_ingest.domain.bus_events.envelope import BusEvent
from appflow_ingest.domain.bus_events.snapshots import check_snapshot_id, member_pass_snapshot, record_snapshot
from appflow_local.consumers.snapshot.checkpoint import Checkpoint, CheckpointFile, SegmentProgress
from appflow_local.consumers.snapshot.errors import SnapshotError, SnapshotInterrupted
from appflow_local.consumers.snapshot.targets import SnapshotTarget

MEMBER_PASS = "MemberPass"
DEFAULT_SEGMENTS = 4
MAX_SEGMENTS = 1000
DEFAULT_PAGE_SIZE = 200
# 100 read units a second is a small share of what an on-demand table serves (AWS: 12,000 for a new
# one); a scan costs half a unit per 4 KB read, so ~800 KB of items a second (computed, not measured).
DEFAULT_READ_UNITS_PER_SECOND = 100.0

_deserializer = TypeDeserializer()


# ------------------------------------------------------------------------------------------ pacing
class ReadPacer:
    """Keeps the scan's read units per second at or under a limit, across all segment threads.

    Each page's consumed units push the earliest start of the next request further out (a leaky
    bucket): the average rate never exceeds the limit, whatever the number of threads.
    """

    def __init__(
        self,
        units_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if units_per_second <= 0:
            raise SnapshotError(f"--read-units-per-second {units_per_second}: expected a number above 0")
        self.rate = units_per_second
        self._clock, self._sleep = clock, sleep
        self._next = clock()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until a request may start."""
        with self._lock:
            delay = self._next - self._clock()
        if delay > 0:
            self._sleep(delay)

    def consumed(self, units: float) -> None:
        with self._lock:
            self._next = max(self._next, self._clock()) + units / self.rate


# ------------------------------------------------------------------------------------------ progress
class SnapshotProgress:
    """Counts shared by the segment threads, shown on stderr at most every ``interval`` seconds."""

    def __init__(self, snapshot_id: str, total_segments: int, stream: TextIO | None = None, interval: float = 2.0):
        self.snapshot_id = snapshot_id
        self.total_segments = total_segments
        self.stream = stream or sys.stderr
        self.interval = interval
        self.started = time.monotonic()
        self.scanned = self.published = self.segments_done = 0
        self._shown_at = 0.0
        self._lock = threading.Lock()

    def add(self, scanned: int, published: int, segment_done: bool) -> None:
        with self._lock:
            self.scanned += scanned
            self.published += published
            self.segments_done += segment_done
            if time.monotonic() - self._shown_at >= self.interval:
                self._show()

    def _show(self) -> None:
        elapsed = time.monotonic() - self.started
        rate = self.published / elapsed if elapsed else 0.0
        self.stream.write(
            f"snapshot {self.snapshot_id}: {elapsed:6.1f}s  segments done {self.segments_done}/{self.total_segments}"
            f"  scanned {self.scanned:,}  published {self.published:,} ({rate:,.0f}/s)\n"
        )
        self.stream.flush()
        self._shown_at = time.monotonic()

    def finish(self) -> None:
        with self._lock:
            self._show()


# ------------------------------------------------------------------------------------------ the snapshot
@dataclass(frozen=True)
class SnapshotSource:
    """The table to scan and which of its items are the object's state."""

    table: str
    object_name: str

    def scan_filter(self) -> dict[str, Any]:
        if self.object_name == MEMBER_PASS:
            return {
                "FilterExpression": "#kind = :kind",
                "ExpressionAttributeNames": {"#kind": "kind"},
                "ExpressionAttributeValues": {":kind": {"S": "pass"}},
            }
        return {
            "FilterExpression": "#object = :object AND attribute_exists(#version)",
            "ExpressionAttributeNames": {"#object": "object", "#version": "version"},
            "ExpressionAttributeValues": {":object": {"S": self.object_name}},
        }


def _image(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def take_snapshot(
    dynamodb: Any,
    source: SnapshotSource,
    target: SnapshotTarget,
    *,
    snapshot_id: str,
    checkpoints: CheckpointFile,
    segments: int = DEFAULT_SEGMENTS,
    page_size: int = DEFAULT_PAGE_SIZE,
    pacer: ReadPacer | None = None,
    progress: SnapshotProgress | None = None,
    stop: threading.Event | None = None,
    read_body: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Scan ``source`` in ``segments`` parallel segments and deliver every item's snapshot event.

    ``read_body`` reads a record body kept in S3 (``record_ref``), so its event's ``changed_fields``
    names every field as for any other record.

    Continues a checkpointed snapshot of the same id (refusing one started with other arguments).
    Returns the summary; raises the first segment's error after every segment has stopped, with
    the checkpoint saved up to the last delivered page.
    """
    check_snapshot_id(snapshot_id)
    if not 1 <= segments <= MAX_SEGMENTS:
        raise SnapshotError(f"--segments {segments}: expected 1 to {MAX_SEGMENTS}")
    checkpoint = resumable_checkpoint(checkpoints, source, target, snapshot_id)
    resumed = checkpoint is not None
    if checkpoint is None:
        checkpoint = Checkpoint(
            snapshot_id=snapshot_id,
            object_name=source.object_name,
            table=source.table,
            target=target.description,
            total_segments=segments,
            segments=[SegmentProgress() for _ in range(segments)],
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    pacer = pacer or ReadPacer(DEFAULT_READ_UNITS_PER_SECOND)
    progress = progress or SnapshotProgress(snapshot_id, checkpoint.total_segments)
    progress.segments_done = sum(s.done for s in checkpoint.segments)
    stop = stop or threading.Event()
    started = time.monotonic()

    def run_segment(index: int) -> None:
        try:
            _scan_segment(
                dynamodb, source, target, checkpoint, index, checkpoints, page_size, pacer, progress, stop, read_body
            )
        except BaseException:
            stop.set()  # the other segments stop after their current page; their progress is kept
            raise

    pending = [i for i, s in enumerate(checkpoint.segments) if not s.done]
    checkpoints.save(checkpoint)
    pool = ThreadPoolExecutor(max_workers=max(1, len(pending)), thread_name_prefix="snapshot")
    futures = [pool.submit(run_segment, i) for i in pending]
    try:
        while wait(futures, timeout=0.5).not_done:
            pass  # short waits: Ctrl-C reaches this thread between them
    except KeyboardInterrupt:
        stop.set()  # every segment finishes the page in hand and records it, then stops
        wait(futures)
        raise SnapshotInterrupted(
            f"snapshot {snapshot_id} interrupted; its progress is in {checkpoints.path}: "
            "run the same command again to resume"
        ) from None
    finally:
        pool.shutdown(wait=True)
        progress.finish()
    errors = [error for f in futures if (error := f.exception()) is not None]
    if errors:
        raise errors[0]
    if stop.is_set() and not checkpoint.complete:
        raise SnapshotInterrupted(f"snapshot {snapshot_id} stopped; run the same command again to resume")
    summary = {
        "snapshot_id": snapshot_id,
        "object": source.object_name,
        "table": source.table,
        "destination": target.description,
        "segments": checkpoint.total_segments,
        "scanned": sum(s.scanned for s in checkpoint.segments),
        "published": sum(s.published for s in checkpoint.segments),
        "skipped": sum(s.skipped for s in checkpoint.segments),
        "complete": checkpoint.complete,
        "resumed": resumed,
        "checkpoint": str(checkpoints.path),
        "elapsed_seconds": round(time.monotonic() - started, 3),
    }
    if checkpoint.complete:
        target.finish(summary)
    return summary


def resumable_checkpoint(
    checkpoints: CheckpointFile, source: SnapshotSource, target: SnapshotTarget, snapshot_id: str
) -> Checkpoint | None:
    """The saved progress of this snapshot (None: it starts afresh); a SnapshotError if it is another's."""
    checkpoint = checkpoints.load()
    if checkpoint is None:
        return None
    wanted = {"snapshot_id": snapshot_id, "object_name": source.object_name, "table": source.table}
    wanted["target"] = target.description
    found = {key: getattr(checkpoint, key) for key in wanted}
    if found != wanted:
        differing = ", ".join(
            f"{k}: {found[k]!r} in the checkpoint, {wanted[k]!r} now" for k in wanted if found[k] != wanted[k]
        )
        raise SnapshotError(
            f"checkpoint {checkpoints.path} belongs to another snapshot ({differing}): "
            "use another --snapshot-id, or delete the checkpoint to start over"
        )
    return checkpoint


def _scan_segment(
    dynamodb: Any,
    source: SnapshotSource,
    target: SnapshotTarget,
    checkpoint: Checkpoint,
    index: int,
    checkpoints: CheckpointFile,
    page_size: int,
    pacer: ReadPacer,
    progress: SnapshotProgress,
    stop: threading.Event,
    read_body: Callable[[str], Any] | None = None,
) -> None:
    state = checkpoint.segments[index]
    while not state.done and not stop.is_set():
        request: dict[str, Any] = {
            "TableName": source.table,
            "Segment": index,
            "TotalSegments": checkpoint.total_segments,
            "Limit": page_size,
            "ReturnConsumedCapacity": "TOTAL",
            **source.scan_filter(),
        }
        if state.next_key:
            request["ExclusiveStartKey"] = state.next_key
        pacer.wait()
        page = dynamodb.scan(**request)
        # Without a reported figure, half a unit per item scanned: a generous bound for items up to 4 KB.
        reported = (page.get("ConsumedCapacity") or {}).get("CapacityUnits")
        pacer.consumed(float(reported if reported is not None else 0.5 * page["ScannedCount"]))
        events = list(_snapshot_events(page["Items"], source, checkpoint.snapshot_id, read_body))
        if events:
            target.deliver(index, state.next_part, events)
        # Recorded only once delivered: a crash before this point delivers the page again on resume.
        with checkpoints.lock:
            state.next_part += 1 if events else 0
            state.scanned += page["ScannedCount"]
            state.published += len(events)
            state.skipped += len(page["Items"]) - len(events)
            state.next_key = page.get("LastEvaluatedKey")
            state.done = state.next_key is None
            checkpoints.save(checkpoint)
        progress.add(page["ScannedCount"], len(events), state.done)


def _snapshot_events(
    items: Iterable[dict[str, Any]],
    source: SnapshotSource,
    snapshot_id: str,
    read_body: Callable[[str], Any] | None = None,
) -> Iterable[BusEvent]:
    for item in items:
        image = _image(item)
        event = (
            member_pass_snapshot(image, snapshot_id=snapshot_id)
            if source.object_name == MEMBER_PASS
            else record_snapshot(image, table=source.table, snapshot_id=snapshot_id, read_body=read_body)
        )
        if event is not None:
            yield event
