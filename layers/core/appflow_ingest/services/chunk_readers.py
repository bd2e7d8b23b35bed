"""Turn a chunk into decoded records, per file format, in constant memory."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from typing import Protocol

from appflow_ingest.domain.chunks import Chunk
from appflow_ingest.domain.decoding import DecodedItem, Undecodable, decode_json_document, decode_json_lines
from appflow_ingest.domain.formats import GZIP_SUFFIX, JSON_DOCUMENT, JSON_LINES
from appflow_ingest.domain.lines import iter_owned_lines, read_start

DECOMPRESSED_BLOCK = 8 * 1024 * 1024


class ChunkBytes(Protocol):
    def blocks(self, obj: Chunk, offset: int) -> Iterator[bytes]: ...
    def stream(self, obj: Chunk) -> io.RawIOBase: ...


ChunkReader = Callable[[Chunk, ChunkBytes], Iterator[DecodedItem]]


def read_json_lines(chunk: Chunk, source: ChunkBytes) -> Iterator[DecodedItem]:
    blocks = source.blocks(chunk, read_start(chunk.start))
    return decode_json_lines(iter_owned_lines(blocks, chunk.start, chunk.end))


def read_json_document(chunk: Chunk, source: ChunkBytes) -> Iterator[DecodedItem]:
    # A JSON array cannot be split or streamed without a streaming parser; AppFlow writes JSON
    # Lines, so this path exists for hand-made files and is bounded by the function's memory.
    return decode_json_document(0, b"".join(source.blocks(chunk, 0)))


def read_gzip_json_lines(chunk: Chunk, source: ChunkBytes) -> Iterator[DecodedItem]:
    """Gzip is read front to back; offsets are in decompressed bytes, so a hand-over skips forward."""
    decompressed = gzip.GzipFile(fileobj=source.stream(chunk))

    def blocks() -> Iterator[bytes]:
        skip = read_start(chunk.start)
        while block := decompressed.read(DECOMPRESSED_BLOCK):
            if skip >= len(block):
                skip -= len(block)
                continue
            yield block[skip:]
            skip = 0

    return decode_json_lines(iter_owned_lines(blocks(), chunk.start, 2**63))


READERS: dict[str, ChunkReader] = {
    JSON_LINES: read_json_lines,
    JSON_DOCUMENT: read_json_document,
    JSON_LINES + GZIP_SUFFIX: read_gzip_json_lines,
}


def read_chunk(chunk: Chunk, source: ChunkBytes) -> Iterator[DecodedItem]:
    """Decoded records of a chunk; a format with no reader yields one Undecodable naming it."""
    reader = READERS.get(chunk.format)
    if reader is None:
        return iter([Undecodable(chunk.start, b"", f"no reader for file format {chunk.format!r}")])
    return reader(chunk, source)
