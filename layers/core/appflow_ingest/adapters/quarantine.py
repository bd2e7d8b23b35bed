"""Quarantine: rejected lines, records and events as JSON Lines in S3, one object per chunk or event.

Entries go to the quarantine bucket with nothing in clear (domain/records/quarantine_entries.py); content that could
not be masked goes, under the same key, to the raw quarantine bucket, and its entry says where.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.domain.records.quarantine_entries import split_clear_content, to_json_lines

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Quarantine:
    """Writes quarantine entries to S3, masked, with the unmaskable content in the raw quarantine bucket."""

    def __init__(self, s3: S3Client, bucket: str, *, raw_bucket: str, prefix: str = "quarantine/") -> None:
        self._s3 = s3
        self._bucket = bucket
        self._raw_bucket = raw_bucket
        self._prefix = prefix

    def key_for(self, chunk: Chunk) -> str:
        """The quarantine object key of a chunk: one per byte range, so a retry overwrites its own."""
        # Deterministic per range: a retried chunk overwrites its own quarantine object instead of
        # adding a second copy of the same rejects.
        row = f"+{chunk.first_row}" if chunk.first_row else ""  # a Parquet hand-over inside a row group
        return f"{self._prefix}{chunk.key}/{chunk.start:015d}{row}-{chunk.end:015d}.jsonl"

    def put(self, chunk: Chunk, entries: list[dict[str, Any]]) -> str:
        """A chunk's rejected entries as one JSON Lines object; returns its s3:// URI."""
        return self._put(self.key_for(chunk), entries, "application/x-ndjson")

    def put_event(self, name: str, entry: dict[str, Any]) -> str:
        """A rejected event (not a file's line), one object per event: ``<prefix>events/<name>.json``."""
        return self._put(f"{self._prefix}events/{name}.json", [entry], "application/json")

    def _put(self, key: str, entries: list[dict[str, Any]], content_type: str) -> str:
        entries, clear = split_clear_content(entries, raw_location=f"s3://{self._raw_bucket}/{key}")
        if clear:
            # First, so that no entry names a raw object that is not there (a retry rewrites both).
            self._s3.put_object(Bucket=self._raw_bucket, Key=key, Body=to_json_lines(clear), ContentType=content_type)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=to_json_lines(entries), ContentType=content_type)
        return f"s3://{self._bucket}/{key}"
