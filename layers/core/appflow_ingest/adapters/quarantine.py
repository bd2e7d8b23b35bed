"""Quarantine: rejected lines and records as JSON Lines in S3, one object per chunk."""

from __future__ import annotations

from typing import Any

from appflow_ingest.domain.chunks import Chunk
from appflow_ingest.domain.quarantine import to_json_lines


class S3Quarantine:
    def __init__(self, s3: Any, bucket: str, prefix: str = "quarantine/") -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix

    def key_for(self, chunk: Chunk) -> str:
        # Deterministic per range: a retried chunk overwrites its own quarantine object instead of
        # adding a second copy of the same rejects.
        row = f"+{chunk.first_row}" if chunk.first_row else ""  # a Parquet hand-over inside a row group
        return f"{self._prefix}{chunk.key}/{chunk.start:015d}{row}-{chunk.end:015d}.jsonl"

    def put(self, chunk: Chunk, entries: list[dict[str, Any]]) -> str:
        key = self.key_for(chunk)
        self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=to_json_lines(entries), ContentType="application/x-ndjson"
        )
        return f"s3://{self._bucket}/{key}"

    def put_event(self, name: str, entry: dict[str, Any]) -> str:
        """A rejected event (not a file's line), one object per event: ``<prefix>events/<name>.json``."""
        key = f"{self._prefix}events/{name}.json"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=to_json_lines([entry]), ContentType="application/json")
        return f"s3://{self._bucket}/{key}"
