"""Ports of the landing side: the bytes of a landing object."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Protocol

from appflow_ingest.domain.landing.chunks import Chunk


class ChunkBytes(Protocol):
    """The bytes of the (pinned) object a chunk belongs to, read in blocks, as a stream or by range."""

    def blocks(self, obj: Chunk, offset: int, stop: int | None = None) -> Iterator[bytes]:
        """Consecutive blocks from ``offset`` (to ``stop``, or to the end of the object)."""
        ...

    def stream(self, obj: Chunk) -> io.RawIOBase:
        """The whole object as a file-like stream, read front to back (gzip)."""
        ...

    def read_range(self, obj: Chunk, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the object."""
        ...
