"""A read-only, seekable file over ranged reads of one pinned object version, for pyarrow's Parquet reader.

pyarrow reads a Parquet file by seeking: the footer at the end, then each column chunk. Over S3
every read is a ranged GET, so the reader first ``prefetch``es the byte span of a whole row group
in one request and serves pyarrow's reads from it; reads outside the window (the footer) are
ranged GETs of their own. Memory holds at most one row group's compressed bytes.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.ports.landing import ChunkBytes

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class RangedObjectFile(io.RawIOBase):
    """A seekable file over ranged reads of a chunk's object (only ``read_range`` is used)."""

    def __init__(self, source: ChunkBytes, obj: Chunk) -> None:
        self._source = source
        self._obj = obj
        self._size = obj.size
        self._position = 0
        self._window_start = 0
        self._window = b""
        self.requests = 0  # ranged reads made, for tests and logs

    def readable(self) -> bool:
        """Always: the file is read-only."""
        return True

    def seekable(self) -> bool:
        """Always: any position is one ranged read away."""
        return True

    def tell(self) -> int:
        """The current position in the object."""
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset`` from the start, the current position or the end; the new position."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def prefetch(self, start: int, stop: int) -> None:
        """Hold bytes ``[start, stop)`` in memory; reads inside them need no request."""
        stop = min(stop, self._size)
        self._window_start, self._window = start, self._read(start, stop)

    def release(self) -> None:
        """Drop the prefetched bytes."""
        self._window = b""

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the position (all the rest for -1): from the window, else one ranged read."""
        start = self._position
        stop = self._size if size is None or size < 0 else min(self._size, start + size)
        if stop <= start:
            return b""
        window_stop = self._window_start + len(self._window)
        if self._window_start <= start and stop <= window_stop:
            data = self._window[start - self._window_start : stop - self._window_start]
        else:
            data = self._read(start, stop)
        self._position = stop
        return data

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read into ``buffer``; the number of bytes read."""
        view = memoryview(buffer)
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _read(self, start: int, stop: int) -> bytes:
        self.requests += 1
        return self._source.read_range(self._obj, start, stop)
