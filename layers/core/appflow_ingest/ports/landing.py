"""Ports of the landing side: landed objects and their bytes, and the chunk queue."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from appflow_ingest.domain.landing.chunks import Chunk, LandedObject


class ObjectChanged(Exception):
    """The object was overwritten or deleted after it was planned; its new version is planned on its own."""


class ChunkQueueError(Exception):
    """Some chunk messages could not be queued."""


class ByteStream(Protocol):
    """A binary stream read front to back (an S3 object's body)."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all the rest for -1); ``b""`` at the end."""
        ...


class LandingObjects(Protocol):
    """Landed objects as the planner sees them: a head request and a ranged read to sniff the format."""

    def head(self, bucket: str, key: str, version_id: str | None = None) -> LandedObject | None:
        """The object as it is now (None: it no longer exists)."""
        ...

    def read_range(self, obj: LandedObject, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the object's pinned version."""
        ...


class ChunkBytes(Protocol):
    """The bytes of the (pinned) object a chunk belongs to, read in blocks, as a stream or by range.

    Every read raises ``ObjectChanged`` when the object was replaced after it was planned.
    """

    def blocks(self, obj: Chunk, offset: int, stop: int | None = None) -> Iterator[bytes]:
        """Consecutive blocks from ``offset`` (to ``stop``, or to the end of the object)."""
        ...

    def stream(self, obj: Chunk) -> ByteStream:
        """The whole object as a file-like stream, read front to back (gzip)."""
        ...

    def read_range(self, obj: Chunk, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the object."""
        ...


class ChunkQueue(Protocol):
    """The queue of chunk messages the ingest function consumes."""

    def send(self, chunks: Sequence[Chunk]) -> None:
        """Queue every chunk; raises ``ChunkQueueError`` when some could not be queued."""
        ...
