"""A chunk: one byte range of one pinned object, the unit of work of the ingest function."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, NamedTuple

import orjson

from appflow_ingest.domain.landing.keys import LandingKey


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
        """The object's ``s3://bucket/key``."""
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
        """The object's ``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    @property
    def id(self) -> str:
        """Stable per range: a retried or duplicated message names the same chunk."""
        row = f"+{self.first_row}" if self.first_row else ""
        return f"{self.uri}@{self.etag or ''}[{self.start}{row}:{self.end})"

    @property
    def writer(self) -> str:
        """Who writes this chunk's records (``written_by`` on the items).

        A retry or a duplicate of the chunk is the same writer, so it recognizes its own earlier
        writes; a re-ingestion of the same range is another, whose records already stored count
        stale, not written.
        """
        return f"{self.id}#{self.reingestion}" if self.reingestion else self.id

    def remainder_from(self, offset: int, first_row: int = 0) -> Chunk:
        """The rest of this chunk from a line boundary ``offset`` (Parquet: row ``first_row`` of the row group there)."""
        return replace(self, start=offset, first_row=first_row, handed_over_from=self.start)

    def to_json(self) -> str:
        """The chunk as its queue message."""
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, body: str | bytes) -> Chunk:
        """Read a chunk message, from this planner or a newer or older one.

        Unknown fields (a newer planner's) are ignored and missing optional ones take their
        defaults; a message that is not JSON, or lacks a field without a default, raises
        ChunkMessageRejected naming it: no retry could read it, so it is quarantined, not retried.
        """
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise ChunkMessageRejected(f"expected a JSON chunk message: {error}") from None
        if not isinstance(data, dict):
            raise ChunkMessageRejected(f"expected a JSON object (a chunk message), got {type(data).__name__}")
        landing = data.get("landing") or {}
        if not isinstance(landing, dict):
            raise ChunkMessageRejected(f"field 'landing': expected an object, got {type(landing).__name__}")
        known = _known(cls, data)
        known["landing"] = LandingKey(**_known(LandingKey, landing))
        missing = [f.name for f in fields(cls) if f.name not in known and _required(f)]
        if missing:
            raise ChunkMessageRejected(f"expected the fields {', '.join(missing)} of a chunk message")
        try:
            chunk = cls(**known)
        except TypeError as error:
            raise ChunkMessageRejected(f"expected a chunk message: {error}") from None
        for name in ("size", "start", "end", "first_row"):
            if type(getattr(chunk, name)) is not int:
                raise ChunkMessageRejected(f"field {name!r}: expected an integer, got {getattr(chunk, name)!r}")
        if not 0 <= chunk.start <= chunk.end:
            raise ChunkMessageRejected(f"expected 0 <= start <= end, got [{chunk.start}, {chunk.end})")
        return chunk


class ChunkMessageRejected(ValueError):
    """A chunk message that cannot be read; it is quarantined with this reason."""


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {name: value for name, value in data.items() if name in names}


def _required(f: Any) -> bool:
    from dataclasses import MISSING

    return f.default is MISSING and f.default_factory is MISSING


class HandOver(NamedTuple):
    """Where a chunk hands the rest of its range over: a line boundary (Parquet: a row of the group there)."""

    offset: int
    row: int = 0


def plan_ranges(size: int, chunk_size: int) -> list[tuple[int, int]]:
    """Cut ``[0, size)`` into consecutive ranges of at most ``chunk_size`` bytes."""
    if chunk_size < 1:
        raise ValueError(f"chunk size must be positive, got {chunk_size}")
    return [(start, min(start + chunk_size, size)) for start in range(0, size, chunk_size)]
