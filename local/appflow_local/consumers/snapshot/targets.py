"""Where snapshot events go: an EventBridge bus, or S3 as JSON Lines (one object per scan page)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.domain.bus_events.envelope import BusEvent
from appflow_local.consumers.snapshot.errors import SnapshotError


class SnapshotTarget(Protocol):
    """Where snapshot events go; ``deliver`` is retried with the same (segment, part) after a crash."""

    description: str

    def deliver(self, segment: int, part: int, events: Sequence[BusEvent]) -> None: ...

    def finish(self, summary: dict[str, Any]) -> None: ...


class BusTarget:
    """PutEvents to a bus, through the publisher the stream handler uses (groups of ten, retries)."""

    def __init__(self, events_client: Any, bus_name: str, source: str) -> None:
        self._publisher = EventBridgePublisher(events_client, bus_name)
        self._source = source
        self.description = f"bus {bus_name}"

    def deliver(self, segment: int, part: int, events: Sequence[BusEvent]) -> None:
        self._publisher.publish(events, self._source)

    def finish(self, summary: dict[str, Any]) -> None:
        return None


class S3Target:
    """JSON Lines under ``<prefix>/<snapshot id>/``: one object per scan page, then ``manifest.json``."""

    def __init__(self, s3_client: Any, uri: str, snapshot_id: str, source: str) -> None:
        parts = urlsplit(uri)
        if parts.scheme != "s3" or not parts.netloc:
            raise SnapshotError(f"--to-s3 {uri!r}: expected s3://BUCKET[/PREFIX]")
        self._s3 = s3_client
        self.bucket = parts.netloc
        prefix = parts.path.strip("/")
        self.prefix = f"{prefix}/{snapshot_id}" if prefix else snapshot_id
        self._source = source
        self.description = f"s3://{self.bucket}/{self.prefix}/"

    def key(self, segment: int, part: int) -> str:
        return f"{self.prefix}/segment-{segment:04d}-part-{part:06d}.jsonl"

    def deliver(self, segment: int, part: int, events: Sequence[BusEvent]) -> None:
        lines = b"".join(
            orjson.dumps({"source": self._source, "detail-type": e.detail_type, "detail": e.detail}) + b"\n"
            for e in events
        )
        self._s3.put_object(Bucket=self.bucket, Key=self.key(segment, part), Body=lines)

    def finish(self, summary: dict[str, Any]) -> None:
        body = json.dumps(summary, indent=2).encode()
        self._s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}/manifest.json", Body=body)
