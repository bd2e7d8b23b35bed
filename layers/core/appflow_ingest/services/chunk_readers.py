"""Turn a chunk into decoded records, per file format, in constant memory."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Generator, Iterator
from typing import Any, Protocol

from appflow_ingest.adapters.ranged_file import RangedObjectFile
from appflow_ingest.domain.chunks import Chunk
from appflow_ingest.domain.csv_records import CsvRecord, UnterminatedRecord, iter_csv_records
from appflow_ingest.domain.decoding import (
    Decoded,
    DecodedBatch,
    DecodedItem,
    Undecodable,
    decode_json_document,
    decode_json_line_batch,
    decode_json_lines,
)
from appflow_ingest.domain.formats import CSV, GZIP_SUFFIX, JSON_DOCUMENT, JSON_LINES, PARQUET
from appflow_ingest.domain.lines import iter_owned_line_batches, iter_owned_lines, read_start

DECOMPRESSED_BLOCK = 8 * 1024 * 1024
PARQUET_BATCH_ROWS = 10_000
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


class ChunkBytes(Protocol):
    def blocks(self, obj: Chunk, offset: int, stop: int | None = None) -> Iterator[bytes]: ...
    def stream(self, obj: Chunk) -> io.RawIOBase: ...
    def read_range(self, obj: Chunk, start: int, stop: int) -> bytes: ...


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
    if (corrupt := corrupt_gzip(chunk, source)) is not None:
        return iter([corrupt])
    broken = BrokenStream(chunk)
    blocks = _decompressed_blocks(chunk, source, read_start(chunk.start), broken)
    return _then_break(decode_json_lines(iter_owned_lines(blocks, chunk.start, 2**63)), broken)


def read_csv(chunk: Chunk, source: ChunkBytes) -> Iterator[DecodedItem]:
    """Whole CSV records from the chunk's start (a record boundary) to the end of the file.

    A CSV file is planned as one chunk, read front to back: a byte range cannot be aligned on a
    record from an arbitrary offset (whether it starts inside quotes is unknown). A remainder
    handed over near the time limit starts at an exact record boundary and re-reads the header
    from the start of the file.
    """
    lines = iter_owned_lines(source.blocks(chunk, read_start(chunk.start)), chunk.start, 2**63)
    header = _file_head_lines(chunk, source) if chunk.start > 0 else None
    return _decode_csv(iter_csv_records(lines, chunk.end), header)


def read_gzip_csv(chunk: Chunk, source: ChunkBytes) -> Iterator[DecodedItem]:
    """Gzip CSV is read as one stream; offsets are in decompressed bytes."""
    if (corrupt := corrupt_gzip(chunk, source)) is not None:
        return iter([corrupt])
    broken = BrokenStream(chunk)
    blocks = _decompressed_blocks(chunk, source, read_start(chunk.start), broken)
    lines = iter_owned_lines(blocks, chunk.start, 2**63)
    # The header of a remainder is read again from the start; a break there is the main read's to report.
    header_blocks = _decompressed_blocks(chunk, source, 0, BrokenStream(chunk)) if chunk.start > 0 else None
    header = iter_owned_lines(header_blocks, 0, 2**63) if header_blocks is not None else None
    return _then_break(_decode_csv(iter_csv_records(lines), header), broken)


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


def _then_break(items: Iterator[DecodedItem], broken: BrokenStream) -> Iterator[DecodedItem]:
    """The items, then the break of their stream as one Undecodable (after everything decoded before it)."""
    yield from items
    if (failure := broken.report()) is not None:
        yield failure


def _decode_csv(
    records: Iterator[CsvRecord | UnterminatedRecord], header_lines: Iterator[tuple[int, bytes]] | None
) -> Iterator[DecodedItem]:
    # pyarrow is imported only by invocations that read CSV or Parquet (it adds to cold starts).
    from appflow_ingest.domain.csv_decoding import CsvDecoder, CsvHeaderError, parse_header

    head = records if header_lines is None else iter_csv_records(header_lines)
    first = next(head, None)
    if header_lines is not None and isinstance(head, Generator):
        head.close()  # stop reading the start of the file once the header is known
    if first is None:
        return
    try:
        columns = parse_header(first)
    except CsvHeaderError as error:
        yield Undecodable(first.offset, first.raw, str(error))
        return
    yield from CsvDecoder(columns).decode(records)


def _file_head_lines(chunk: Chunk, source: ChunkBytes) -> Iterator[tuple[int, bytes]]:
    """Lines from the start of the file, read in small growing ranges (only the header is needed)."""

    def blocks() -> Iterator[bytes]:
        offset, size = 0, 64 * 1024
        while offset < chunk.size:
            stop = min(offset + size, chunk.size)
            yield source.read_range(chunk, offset, stop)
            offset, size = stop, size * 2

    return iter_owned_lines(blocks(), 0, 2**63)


class _CountingReader(io.RawIOBase):
    """A file object that counts the bytes read through it (how far into a broken file gzip got)."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _decompressed_blocks(chunk: Chunk, source: ChunkBytes, skip: int, broken: BrokenStream) -> Iterator[bytes]:
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


def read_parquet(chunk: Chunk, source: ChunkBytes) -> Iterator[DecodedItem]:
    """The records of every row group whose first byte lies in the chunk's range, one by one."""
    for batch in read_parquet_batches(chunk, source, PARQUET_BATCH_ROWS):
        yield from batch.undecodable
        for offset, record in zip(batch.record_offsets(), batch.records, strict=True):
            yield Decoded(offset, record)


def read_parquet_batches(chunk: Chunk, source: ChunkBytes, max_rows: int) -> Iterator[DecodedBatch]:
    """Batches of at most ``max_rows`` records of the row groups whose first byte lies in the chunk's range.

    The footer is read with ranged reads, then each owned row group with one ranged read of its
    whole byte span, and decoded ``max_rows`` rows at a time, so memory holds one row group's
    compressed bytes and one batch of records. A batch's offset is its row group's first byte and
    its ``row`` the row within that group: a hand-over can resume between any two batches.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from appflow_ingest.domain.parquet_decoding import iter_row_group_records, owned_row_groups, row_group_span

    file = RangedObjectFile(source, chunk)
    try:
        parquet = pq.ParquetFile(file)
    except (pa.ArrowException, OSError) as error:
        if chunk.start == 0:  # one report per file, from the chunk that owns its first byte
            reason = f"expected a Parquet file (footer and PAR1 magic): {error}"
            yield DecodedBatch(0, [], [Undecodable(0, b"", reason)], [], [])
        return
    for index, first_byte in owned_row_groups(parquet.metadata, chunk.start, chunk.end):
        skip = chunk.first_row if first_byte == chunk.start else 0
        file.prefetch(*row_group_span(parquet.metadata, index))
        row = skip
        try:
            for records in iter_row_group_records(parquet, index, max_rows, skip):
                yield DecodedBatch(first_byte, records, [], [], [first_byte] * len(records), row)
                row += len(records)
        except (pa.ArrowException, OSError) as error:
            reason = f"expected a readable Parquet row group {index} (rows from {row}): {error}"
            yield DecodedBatch(first_byte, [], [Undecodable(first_byte, b"", reason)], [], [], row)
        finally:
            file.release()


READERS: dict[str, ChunkReader] = {
    JSON_LINES: read_json_lines,
    JSON_DOCUMENT: read_json_document,
    JSON_LINES + GZIP_SUFFIX: read_gzip_json_lines,
    CSV: read_csv,
    CSV + GZIP_SUFFIX: read_gzip_csv,
    PARQUET: read_parquet,
}


def read_chunk(chunk: Chunk, source: ChunkBytes) -> Iterator[DecodedItem]:
    """Decoded records of a chunk; a format with no reader yields one Undecodable naming it."""
    reader = READERS.get(chunk.format)
    if reader is None:
        return iter([Undecodable(chunk.start, b"", f"no reader for file format {chunk.format!r}")])
    return reader(chunk, source)


def read_chunk_batches(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    """Decoded records of a chunk in batches of at most ``max_records`` lines (or records).

    Every batch starts on a line (record) boundary, so an invocation may hand over between two
    batches; records sharing an offset (a JSON array line) are never split between batches.
    JSON Lines, the format AppFlow writes most, take the batch path: whole blocks split once and
    a batch decoded in one C-level loop, no generator step per line. Other formats are grouped
    from their per-record readers.
    """
    if chunk.format == JSON_LINES:
        blocks = source.blocks(chunk, read_start(chunk.start), chunk.end)
        return _decoded_line_batches(iter_owned_line_batches(blocks, chunk.start, chunk.end), max_records)
    if chunk.format == JSON_LINES + GZIP_SUFFIX:
        if (corrupt := corrupt_gzip(chunk, source)) is not None:
            return iter([DecodedBatch(0, [], [corrupt], [], [])])
        broken = BrokenStream(chunk)
        blocks = _decompressed_blocks(chunk, source, read_start(chunk.start), broken)
        batches = _decoded_line_batches(iter_owned_line_batches(blocks, chunk.start, 2**63), max_records)
        return _batches_then_break(batches, broken)
    if chunk.format == PARQUET:
        return read_parquet_batches(chunk, source, max_records)
    return _grouped(read_chunk(chunk, source), max_records)


def _decoded_line_batches(line_batches: Iterator[tuple[int, list[bytes]]], max_lines: int) -> Iterator[DecodedBatch]:
    """Decoded batches of ``max_lines`` consecutive lines (the last one shorter), whatever the block size.

    Blocks are small (a MiB), so the lines left over from one block wait for the next one's: the
    writer gets full batches, not a short one per block.
    """
    offset, waiting = 0, []
    for block_offset, lines in line_batches:
        if waiting:
            lines = waiting + lines
        else:
            offset = block_offset
        first = 0
        while len(lines) - first >= max_lines:
            part = lines[first : first + max_lines]
            yield decode_json_line_batch(offset, part)
            offset += sum(map(len, part)) + len(part)
            first += max_lines
        waiting = lines[first:]
    if waiting:
        yield decode_json_line_batch(offset, waiting)


def _batches_then_break(batches: Iterator[DecodedBatch], broken: BrokenStream) -> Iterator[DecodedBatch]:
    yield from batches
    if (failure := broken.report()) is not None:
        yield DecodedBatch(failure.offset, [], [failure], [], [])


def _grouped(items: Iterator[DecodedItem], max_records: int) -> Iterator[DecodedBatch]:
    """Group per-record items into batches, cut only where the offset changes (a record boundary)."""
    records: list[Any] = []
    offsets: list[int] = []
    undecodable: list[Undecodable] = []
    first = previous = -1
    for item in items:
        if item.offset != previous and len(records) + len(undecodable) >= max_records:
            yield DecodedBatch(first, records, undecodable, [], offsets)
            records, offsets, undecodable = [], [], []
        if not records and not undecodable:
            first = item.offset
        previous = item.offset
        if type(item) is Undecodable:
            undecodable.append(item)
        else:
            records.append(item.record)
            offsets.append(item.offset)
    if records or undecodable:
        yield DecodedBatch(first, records, undecodable, [], offsets)
