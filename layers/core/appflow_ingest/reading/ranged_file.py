"""A read-only, seekable file over ranged reads of one pinned object version, for pyarrow's Parquet reader.

pyarrow reads a Parquet file by seeking: the footer at the end, then each column chunk. Over S3
every read is a ranged GET, so the reader first ``prefetch``es the byte span of a whole row group
in one request and serves pyarrow's reads from it; reads outside the window (the footer) are
ranged GETs of their own. Memory holds at most one row group's compressed bytes.
"""

from __future__ import annotations

import io

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.ports.landing import ChunkBytes


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
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
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

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _read(self, start: int, stop: int) -> bytes:
        self.requests += 1
        return self._source.read_range(self._obj, start, stop)
