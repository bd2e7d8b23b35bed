"""``appflow-ingest snapshot``: publish the current stored state as events, to bootstrap a new consumer.

The table is read with a parallel ``Scan`` (one thread per segment), paced by the read capacity
DynamoDB reports so the pipeline's own reads and writes are not starved, and every item becomes the
snapshot event of :mod:`appflow_ingest.domain.bus_events.snapshots` (the change event's detail, its own
detail-type and id). Events go to an EventBridge bus (``PutEvents`` by ten, failed entries resent)
or to S3 as JSON Lines, one object per scan page.

Resumable: after a page is delivered, the segment's position (``LastEvaluatedKey``) is written to a
checkpoint file; running the same command again with the same snapshot id continues from there. A
crash between delivering a page and recording it delivers that page again: on the bus, with the
same event ids (consumers drop repeats); on S3, into the same object key (overwritten, no repeat).

The package's parts: :mod:`.scan` (the paced scan, ``take_snapshot``), :mod:`.targets` (bus, S3),
:mod:`.checkpoint` (progress on disk), :mod:`.errors`.
"""

from __future__ import annotations

from appflow_local.consumers.snapshot.checkpoint import (
    Checkpoint,
    CheckpointFile,
    SegmentProgress,
    default_checkpoint_path,
    default_snapshot_id,
)
from appflow_local.consumers.snapshot.errors import SnapshotError, SnapshotInterrupted
from appflow_local.consumers.snapshot.scan import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_READ_UNITS_PER_SECOND,
    DEFAULT_SEGMENTS,
    MAX_SEGMENTS,
    MEMBER_PASS,
    ReadPacer,
    SnapshotProgress,
    SnapshotSource,
    resumable_checkpoint,
    take_snapshot,
)
from appflow_local.consumers.snapshot.targets import BusTarget, S3Target, SnapshotTarget

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_READ_UNITS_PER_SECOND",
    "DEFAULT_SEGMENTS",
    "MAX_SEGMENTS",
    "MEMBER_PASS",
    "BusTarget",
    "Checkpoint",
    "CheckpointFile",
    "ReadPacer",
    "S3Target",
    "SegmentProgress",
    "SnapshotError",
    "SnapshotInterrupted",
    "SnapshotProgress",
    "SnapshotSource",
    "SnapshotTarget",
    "default_checkpoint_path",
    "default_snapshot_id",
    "resumable_checkpoint",
    "take_snapshot",
]
