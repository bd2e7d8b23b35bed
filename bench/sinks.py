"""Sinks of the read benchmarks: the ingest path's writes, hand-overs and quarantine, counted in memory.

Light on purpose (no boto3, no Powertools streaming): bench/memory.py measures a child's peak RSS.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.domain.records.versions import RecordVersion
from appflow_ingest.ports.entities import WriteOutcome


class CountingStore:
    """An EntityStore that accepts every version and counts it."""

    def __init__(self) -> None:
        self.versions = 0

    def write_newest(
        self, versions: Sequence[RecordVersion], source: str, *, writer: str | None = None
    ) -> WriteOutcome:
        self.versions += len(versions)
        return WriteOutcome(written=len(versions))


class CollectingQueue:
    def __init__(self) -> None:
        self.chunks: list[Chunk] = []

    def send(self, chunks: list[Chunk]) -> None:
        self.chunks.extend(chunks)


class CountingQuarantine:
    def __init__(self) -> None:
        self.entries = 0

    def put(self, chunk: Chunk, entries: list[dict[str, Any]]) -> str:
        self.entries += len(entries)
        return f"memory://{chunk.id}"
