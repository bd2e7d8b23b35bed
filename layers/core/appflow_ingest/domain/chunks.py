"""A chunk: one byte range of one pinned object, the unit of work of the ingest function."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson

from appflow_ingest.domain.landing_keys import LandingKey


@dataclass(frozen=True)
class LandedObject:
    """An object in the landing bucket, as a creation notification or a head request describes it."""

    bucket: str
    key: str
    size: int
    etag: str | None = None
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Chunk:
    """Byte range ``[start, end)`` of one object version, with where in AppFlow's layout it landed."""

    bucket: str
    key: str
    size: int
    start: int
    end: int
    format: str
    etag: str | None = None
    version_id: str | None = None
    landing: LandingKey = field(default_factory=LandingKey)
    index: int = 0  # position among the file's chunks, for logs and the run ledger
    count: int = 1
    handed_over_from: int | None = None  # set on the remainder of a chunk that ran out of time
    # Parquet only: rows of the row group starting at ``start`` that an earlier invocation already
    # ingested (a hand-over inside a row group, so that one large row group never outlasts a Lambda).
    first_row: int = 0
    # Set by `appflow-ingest reingest`: the run ledger counts this chunk under that re-ingestion of its
    # execution, not as AppFlow's run again (which would double its counts).
    reingestion: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def id(self) -> str:
        """Stable per range: a retried or duplicated message names the same chunk."""
        row = f"+{self.first_row}" if self.first_row else ""
        return f"{self.uri}@{self.etag or ''}[{self.start}{row}:{self.end})"

    def remainder_from(self, offset: int, first_row: int = 0) -> Chunk:
        """The rest of this chunk from a line boundary ``offset`` (Parquet: row ``first_row`` of the row group there)."""
        return replace(self, start=offset, first_row=first_row, handed_over_from=self.start)

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, body: str | bytes) -> Chunk:
        data: dict[str, Any] = orjson.loads(body)
        data["landing"] = LandingKey(**data.get("landing") or {})
        return cls(**data)


def plan_ranges(size: int, chunk_size: int) -> list[tuple[int, int]]:
    """Cut ``[0, size)`` into consecutive ranges of at most ``chunk_size`` bytes."""
    if chunk_size < 1:
        raise ValueError(f"chunk size must be positive, got {chunk_size}")
    return [(start, min(start + chunk_size, size)) for start in range(0, size, chunk_size)]
