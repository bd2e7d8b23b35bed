"""Gzip files read as one stream in constant memory: a corrupt file told apart, a broken stream kept to its last whole line.

Gzip is not an AppFlow option but is accepted (hand-made and re-compressed files); its offsets
are in decompressed bytes, so a hand-over skips forward in the stream.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.ports.landing import ByteStream, ChunkBytes
from appflow_ingest.reading.decoded import DecodedBatch, DecodedItem, Undecodable, undecodable_batch

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

DECOMPRESSED_BLOCK = 8 * 1024 * 1024
# What a broken compressed stream raises; no retry reads past it. (Network errors reading the
# compressed bytes are botocore's and are not among these: they fail the chunk and it is retried.)
BROKEN_STREAM_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_TAIL_SHOWN = 64 * 1024  # of the unterminated line a broken stream ended in, kept in its quarantine entry


class BrokenStream:
    """Where a compressed stream broke, if it did: filled while reading, reported after the last record."""

    def __init__(self, chunk: Chunk) -> None:
        self._chunk = chunk
        self.error: BaseException | None = None
        self.offset = 0  # decompressed offset of the first byte not ingested: the unterminated line's start
        self.tail = b""
        self.compressed_read = 0

    def report(self) -> Undecodable | None:
        """The one quarantine entry for the break (None if the stream was whole)."""
        if self.error is None:
            return None
        return Undecodable(
            self.offset,
            self.tail[:_TAIL_SHOWN],
            f"expected a complete gzip stream: it broke after {self.offset + len(self.tail)} decompressed bytes "
            f"({self.compressed_read} of the file's {self._chunk.size} bytes read): {type(self.error).__name__}: "
            f"{self.error}; the records before offset {self.offset} were ingested, nothing after it can be read",
        )


def corrupt_gzip(chunk: Chunk, source: ChunkBytes) -> Undecodable | None:
    """Decompress the whole stream once, without keeping it: the one entry of a *corrupt* file, or None.

    Cut short (EOFError), what deflate decoded before the cut is exact and is ingested. Corrupt
    (a checksum that fails, invalid deflate data), it is not: deflate decodes garbage from the
    damaged byte on, and gzip can tell only at the end of the stream. Measured on a file with bytes
    inserted mid-stream: garbled lines that parsed as records with ids no one sent, written before
    the checksum failed. So a corrupt file is checked first, and nothing of it is ingested: one
    quarantine entry. The cost is one more decompression of gzip files (not an AppFlow format).
    """
    raw = _CountingReader(source.stream(chunk))
    decompressed = gzip.GzipFile(fileobj=raw)
    position = 0
    try:
        while block := decompressed.read1(DECOMPRESSED_BLOCK):
            position += len(block)
    except EOFError:
        return None  # cut short: the second pass keeps what came before the cut
    except BROKEN_STREAM_ERRORS as error:
        return Undecodable(
            0,
            b"",
            f"expected a gzip stream that decompresses: it is corrupt ({type(error).__name__}: {error}, found after "
            f"{position} decompressed bytes, {raw.count} of the file's {chunk.size} bytes read); gzip can tell "
            "corrupt data only at the end of a stream, so nothing of this file was ingested",
        )
    return None


def items_then_break(items: Iterator[DecodedItem], broken: BrokenStream) -> Iterator[DecodedItem]:
    """The items, then the break of their stream as one Undecodable (after everything decoded before it)."""
    yield from items
    if (failure := broken.report()) is not None:
        yield failure


def batches_then_break(batches: Iterator[DecodedBatch], broken: BrokenStream) -> Iterator[DecodedBatch]:
    """The batches, then the break of their stream as a batch of its own (after everything decoded before it)."""
    yield from batches
    if (failure := broken.report()) is not None:
        yield undecodable_batch(failure)


class _CountingReader(io.RawIOBase):
    """A file object that counts the bytes read through it (how far into a broken file gzip got)."""

    def __init__(self, raw: ByteStream) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        """Always: a stream to read."""
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of the stream, counted."""
        data = self._raw.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read into ``buffer``; the number of bytes read."""
        view = memoryview(buffer)
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


def decompressed_blocks(chunk: Chunk, source: ChunkBytes, skip: int, broken: BrokenStream) -> Iterator[bytes]:
    """Decompressed blocks from ``skip``, each ending on a newline; a break is kept in ``broken``.

    A block's bytes after its last newline are held back until the next block shows the line whole,
    so when the stream breaks (a truncated or corrupt file) the unterminated line it broke in is not
    read as a record: it goes to ``broken``, everything before it is read, and the generator ends
    normally so that the records decoded so far are written. Hand-written: GzipFile gives no way to
    know where complete data ends.
    """
    raw = _CountingReader(source.stream(chunk))
    decompressed = gzip.GzipFile(fileobj=raw)
    held: list[bytes] = []  # the unterminated line so far (parts, joined once its newline arrives)
    position = 0  # decompressed bytes emitted or held

    def emit(piece: bytes) -> Iterator[bytes]:
        nonlocal skip
        if skip >= len(piece):
            skip -= len(piece)
            return
        yield piece[skip:] if skip else piece
        skip = 0

    while True:
        try:
            # read1: at most one read of the compressed stream. read() fills all 8 MiB through a
            # BufferedReader and, when the stream breaks, raises and drops what it had decoded.
            block = decompressed.read1(DECOMPRESSED_BLOCK)
        except BROKEN_STREAM_ERRORS as error:
            tail = b"".join(held)
            broken.error, broken.offset, broken.tail = error, position - len(tail), tail
            broken.compressed_read = raw.count
            return
        if not block:
            break
        position += len(block)
        newline = block.rfind(b"\n")
        if newline < 0:
            held.append(block)
            continue
        whole = b"".join((*held, block[: newline + 1])) if held else block[: newline + 1]
        held = [block[newline + 1 :]] if newline + 1 < len(block) else []
        yield from emit(whole)
    if held:
        yield from emit(b"".join(held))  # the last line of a whole stream needs no newline
