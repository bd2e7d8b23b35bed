"""Port of the quarantine: where rejected lines, records, messages and events are kept, with why."""

from __future__ import annotations

from typing import Any, Protocol

from appflow_ingest.domain.landing.chunks import Chunk


class Quarantine(Protocol):
    """Rejected input, kept with its file, offset and reason (masked: domain/records/quarantine_entries.py)."""

    def put(self, chunk: Chunk, entries: list[dict[str, Any]]) -> str:
        """Write a chunk's rejects (one object per range, rewritten by a retry); return where."""
        ...

    def put_event(self, name: str, entry: dict[str, Any]) -> str:
        """Write one rejected event or message under ``name``; return where."""
        ...
