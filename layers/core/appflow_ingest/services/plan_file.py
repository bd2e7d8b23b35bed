"""Plan a landed file: head it, tell its format, cut it into byte ranges, queue one message per range.

The planner never downloads the file: a head request and a few KiB to sniff the format are all
it reads, so its work does not grow with file size beyond one message per chunk.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, S3EventBridgeNotificationEvent

from appflow_ingest.domain.landing.chunks import Chunk, LandedObject, plan_ranges
from appflow_ingest.domain.landing.keys import (
    decode_notification_key,
    is_data_object_key,
    is_run_metadata,
    parse_landing_key,
)
from appflow_ingest.observability import correlate, logger, metrics
from appflow_ingest.ports.landing import ChunkQueue, LandingObjects
from appflow_ingest.ports.runs import RunFiles
from appflow_ingest.reading.formats import SNIFF_BYTES, detect_format, is_splittable


@dataclass
class FilePlan:
    """A landed file's plan: its format and chunks, or why it was skipped."""

    uri: str
    format: str | None = None
    chunks: list[Chunk] = field(default_factory=list)
    skipped: str | None = None

    def summary(self) -> dict[str, Any]:
        """The plan in short (chunk count, not the chunks), for the response and the log line."""
        return {"uri": self.uri, "format": self.format, "chunks": len(self.chunks), "skipped": self.skipped}


def landed_objects_from_event(event: Mapping[str, Any]) -> list[LandedObject]:
    """The objects an S3 creation notification names, in every form a planner can be handed.

    - EventBridge "Object Created" (the template's trigger);
    - the classic notification ``Records[]`` (S3 -> Lambda, ``sam local generate-event s3 put``),
      whose keys are URL-encoded (``red flower.jpg`` arrives as ``red+flower.jpg``);
    - either of those as the body of SQS messages (S3 -> SQS -> Lambda, EventBridge -> SQS);
    - S3's ``s3:TestEvent``, sent once when a notification is configured: names no object.
    """
    records = event.get("Records")
    if isinstance(records, list):
        if records and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records):
            return [obj for record in records for obj in landed_objects_from_event(orjson.loads(record["body"]))]
        return [
            LandedObject(
                bucket=record.s3.bucket.name,
                key=decode_notification_key(record.s3.get_object.key),  # always URL-encoded in this form
                size=int(record.s3.get_object.get("size") or 0),
                etag=record.s3.get_object.etag or None,
                version_id=record.s3.get_object.version_id,
            )
            for record in S3Event(dict(event)).records
            if record.event_name.startswith("ObjectCreated")
        ]
    if event.get("Event") == "s3:TestEvent":
        return []
    detail = S3EventBridgeNotificationEvent(dict(event)).detail
    obj = detail.object
    return [
        LandedObject(
            bucket=detail.bucket.name,
            # The key as delivered, not Powertools' ``.key`` (which URL-decodes it and turns a literal
            # "+" into a space): the planner heads it as given, then decoded (see _head), so it
            # works whether or not the key arrived encoded.
            key=obj["key"],
            size=int(obj.get("size") or 0),
            # AWS says "etag"; moto's emulator says "eTag".
            etag=obj.get("etag") or obj.get("eTag"),
            version_id=obj.get("version-id"),
        )
    ]


class FilePlanner:
    """Plans landed files: heads each one, tells its format, queues one message per byte range."""

    def __init__(
        self,
        objects: LandingObjects,
        queue: ChunkQueue,
        chunk_size: int,
        formats: Mapping[str, str] | None = None,
        flows: Collection[str] = (),
        runs: RunFiles | None = None,
    ) -> None:
        self._objects = objects
        self._queue = queue
        self._chunk_size = chunk_size
        self._formats = formats or {}
        self._flows = frozenset(flows)  # configured flow names anchor the key layout
        self._runs = runs

    def plan(self, notified: LandedObject) -> FilePlan:
        """Plan the object a notification names (the version it names); a folder marker or gone object is skipped."""
        landing = parse_landing_key(decode_notification_key(notified.key), self._flows)
        correlate(flow=landing.flow_name, execution_id=landing.execution_id, file=notified.uri)
        plan = self._plan(notified)
        if plan.skipped:
            metrics.add_metric(name="FilesSkipped", unit=MetricUnit.Count, value=1)
            logger.info("file skipped", extra={"uri": plan.uri, "reason": plan.skipped})
        else:
            metrics.add_metric(name="FilesPlanned", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="ChunksPlanned", unit=MetricUnit.Count, value=len(plan.chunks))
            logger.info("file planned", extra=plan.summary())
        return plan

    def _plan(self, notified: LandedObject) -> FilePlan:
        if not is_data_object_key(notified.key):
            return FilePlan(notified.uri, skipped="folder marker")
        obj = self._head(notified)
        if obj is None:
            return FilePlan(notified.uri, skipped="object no longer exists")
        if notified.etag and obj.etag and notified.etag.strip('"') != obj.etag and not obj.version_id:
            # Overwritten since this notification: the new version's own notification plans it.
            return FilePlan(obj.uri, skipped=f"object changed since notified (etag {notified.etag} -> {obj.etag})")
        if obj.size == 0:
            return FilePlan(obj.uri, skipped="empty object")
        landing = parse_landing_key(obj.key, self._flows)
        if is_run_metadata(landing):
            return FilePlan(obj.uri, skipped="AppFlow run metadata object")

        head = self._objects.read_range(obj, 0, min(SNIFF_BYTES, obj.size))
        file_format = detect_format(head, self._formats.get(landing.flow_name or ""))
        ranges = plan_ranges(obj.size, self._chunk_size) if is_splittable(file_format) else [(0, obj.size)]
        chunks = [
            Chunk(
                bucket=obj.bucket,
                key=obj.key,
                size=obj.size,
                start=start,
                end=end,
                format=file_format,
                etag=obj.etag,
                version_id=obj.version_id,
                landing=landing,
                index=index,
                count=len(ranges),
            )
            for index, (start, end) in enumerate(ranges)
        ]
        if self._runs is not None:
            # Counted before queueing: a chunk can never finish before its run knows it is planned.
            self._runs.file_planned(obj, landing, len(chunks))
        self._queue.send(chunks)
        return FilePlan(obj.uri, format=file_format, chunks=chunks)

    def _head(self, notified: LandedObject) -> LandedObject | None:
        """Head the notified key; if absent, its URL-decoded form (keys arrive encoded in some forms)."""
        obj = self._objects.head(notified.bucket, notified.key, notified.version_id)
        decoded = decode_notification_key(notified.key)
        if obj is None and decoded != notified.key:
            obj = self._objects.head(notified.bucket, decoded, notified.version_id)
        return obj
