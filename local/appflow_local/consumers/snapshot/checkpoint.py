"""A snapshot's progress per segment on disk, so an interrupted snapshot resumes where it stopped."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appflow_ingest.domain.bus_events.snapshots import check_snapshot_id
from appflow_local.consumers.snapshot.errors import SnapshotError


@dataclass
class SegmentProgress:
    next_key: dict[str, Any] | None = None  # ExclusiveStartKey of the next page (low-level form)
    next_part: int = 0
    done: bool = False
    scanned: int = 0
    published: int = 0
    skipped: int = 0


@dataclass
class Checkpoint:
    """What a snapshot has delivered so far, per segment; saved after every delivered page."""

    snapshot_id: str
    object_name: str
    table: str
    target: str
    total_segments: int
    segments: list[SegmentProgress] = field(default_factory=list)
    started_at: str = ""

    @property
    def complete(self) -> bool:
        return all(s.done for s in self.segments)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        data = json.loads(text)
        data["segments"] = [SegmentProgress(**s) for s in data["segments"]]
        return cls(**data)


class CheckpointFile:
    """The checkpoint on disk, replaced atomically so a crash mid-write leaves the previous one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Held while a segment updates its progress and saves: a saved file never holds a segment
        # half-updated (a new part number with the old position would skip or repeat a page).
        self.lock = threading.RLock()

    def load(self) -> Checkpoint | None:
        if not self.path.is_file():
            return None
        try:
            return Checkpoint.from_json(self.path.read_text())
        except (ValueError, TypeError, KeyError) as error:
            raise SnapshotError(f"checkpoint {self.path} is unreadable ({error}): delete it to start over") from None

    def save(self, checkpoint: Checkpoint) -> None:
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_suffix(self.path.suffix + ".tmp")
            scratch.write_text(checkpoint.to_json())
            os.replace(scratch, self.path)


def default_checkpoint_path(snapshot_id: str) -> Path:
    return Path(".appflow-ingest") / "snapshots" / f"{snapshot_id}.json"


def default_snapshot_id(object_name: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return check_snapshot_id(f"{object_name}-{stamp}")
