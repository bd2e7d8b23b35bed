"""The envelope of every event published to the downstream bus (records, derived items, runs, resyncs, snapshots)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MAX_ENTRY_BYTES = 256 * 1024  # EventBridge's limit per PutEvents entry


@dataclass(frozen=True)
class BusEvent:
    """One outbound event: its deterministic id (consumers deduplicate on it), detail-type and detail."""

    event_id: str
    detail_type: str
    detail: dict[str, Any]

    def detail_json(self) -> str:
        """The detail as the JSON text PutEvents sends."""
        return orjson.dumps(self.detail).decode()
