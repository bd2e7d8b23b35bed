"""Decode whole CSV records into records with pyarrow's CSV parser, a batch at a time.

Every column is read as a string and an empty field is null, as in Salesforce's Bulk API form
(``""`` means empty); typing is left to the record rules, which coerce both value forms. Offsets
come from ``csv_records``, so each decoded record and each rejected one carries the byte offset
where it starts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Iterable, Iterator
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pa_csv

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.ports.landing import ChunkBytes
from appflow_ingest.reading.csv_records import CsvRecord, UnterminatedRecord, iter_csv_records
from appflow_ingest.reading.decoded import Decoded, DecodedBatch, DecodedItem, Undecodable, grouped, undecodable_batch
from appflow_ingest.reading.gzip_stream import BrokenStream, corrupt_gzip, decompressed_blocks, items_then_break
from appflow_ingest.reading.lines import iter_owned_lines, read_start

# Whole records are handed to pyarrow in batches of about this many bytes: large enough that
# pyarrow's per-call cost vanishes (~5,000 records a call), small enough to keep memory flat.
# A batch is held three times over while parsed (its records, their joined bytes, the parsed
# table); at 4 MiB that was ~15 MiB more at the peak for no CPU gained (bench/memory.py --format csv).
BATCH_BYTES = 1024 * 1024
ROWS_PER_SLICE = 1000

_UTF8_BOM = b"\xef\xbb\xbf"


class CsvHeaderError(ValueError):
    """The file's first record is not a usable header row."""


def parse_header(record: CsvRecord | UnterminatedRecord) -> list[str]:
    """Column names from the file's first record (RFC 4180 quoting; a byte order mark is dropped)."""
    if isinstance(record, UnterminatedRecord):
        raise CsvHeaderError(f"expected a header row at offset {record.offset}: {record.reason}")
    try:
        text = record.raw.removeprefix(_UTF8_BOM).removesuffix(b"\r").decode("utf-8")
    except UnicodeDecodeError as error:
        raise CsvHeaderError(f"expected a UTF-8 header row at offset {record.offset}: {error}") from None
    try:
        names = next(csv.reader([text], strict=True), [])
    except csv.Error as error:
        # Uncaught, a stray quote in the first line failed the chunk on every retry until the
        # dead-letter queue, and nothing of the file was counted or quarantined.
        raise CsvHeaderError(f"expected a header row of column names at offset {record.offset}: {error}") from None
    if not names or not any(name.strip() for name in names):
        raise CsvHeaderError(f"expected a header row of column names at offset {record.offset}, got {text[:200]!r}")
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise CsvHeaderError(f"expected distinct column names in the header row, got duplicates {duplicates}")
    return names


class CsvDecoder:
    """Turns whole CSV records (with their offsets) into ``Decoded``/``Undecodable`` items."""

    def __init__(self, columns: list[str], batch_bytes: int = BATCH_BYTES) -> None:
        self._columns = columns
        self._batch_bytes = batch_bytes
        # One parse block per batch (a batch ends with the record that reaches batch_bytes), parsed
        # on this thread: pyarrow's thread pool spent more CPU on a batch this small, and with the
        # system allocator each of its threads keeps a malloc arena of its own (peak 6-9 MiB higher).
        self._read_options = pa_csv.ReadOptions(
            column_names=columns, block_size=max(2 * batch_bytes, 1 << 20), use_threads=False
        )
        self._convert_options = pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in columns},
            null_values=[""],  # not pyarrow's default list: "NULL", "NA" or "nan" are real values
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        )

    def decode(self, records: Iterable[CsvRecord | UnterminatedRecord]) -> Iterator[DecodedItem]:
        """Decoded records and Undecodable entries, in order, parsed a batch of records at a time."""
        batch: list[CsvRecord] = []
        size = 0
        for record in records:
            if isinstance(record, UnterminatedRecord):
                yield from self._parse(batch)
                batch, size = [], 0
                yield Undecodable(record.offset, record.raw, record.reason)
                continue
            raw = record.raw
            if not raw or raw == b"\r":
                continue  # a blank line is no record
            batch.append(record)
            size += len(raw) + 1
            if size >= self._batch_bytes:
                yield from self._parse(batch)
                batch, size = [], 0
        yield from self._parse(batch)

    def _parse(self, batch: list[CsvRecord]) -> Iterator[DecodedItem]:
        if not batch:
            return
        table, invalid = self._read(b"\n".join(record.raw for record in batch))
        if table is not None and not invalid and table.num_rows == len(batch):
            # Python objects for a slice of rows at a time: a whole batch of dicts would weigh
            # ten times its CSV bytes, and memory is meant to stay flat.
            for first in range(0, table.num_rows, ROWS_PER_SLICE):
                rows = table_to_rows(table.slice(first, ROWS_PER_SLICE))
                for record, row in zip(batch[first : first + ROWS_PER_SLICE], rows, strict=True):
                    yield Decoded(record.offset, row)
            return
        # Rare: some record in the batch is malformed. Parse one record at a time to name each
        # bad one by its offset; the good ones are kept.
        for record in batch:
            table, invalid = self._read(record.raw)
            if invalid:
                yield Undecodable(record.offset, record.raw, invalid[0])
            elif table is None or table.num_rows != 1:
                yield Undecodable(record.offset, record.raw, "expected one CSV record")
            else:
                yield Decoded(record.offset, table_to_rows(table)[0])

    def _read(self, data: bytes) -> tuple[pa.Table | None, list[str]]:
        """The table pyarrow parsed from ``data`` and, for rows it could not read, why."""
        invalid: list[str] = []

        def reject(row: pa_csv.InvalidRow) -> Literal["skip"]:
            invalid.append(
                f"expected {row.expected_columns} comma-separated fields as in the header row, got {row.actual_columns}"
            )
            return "skip"

        try:
            table = pa_csv.read_csv(
                io.BytesIO(data),
                read_options=self._read_options,
                parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=reject),
                convert_options=self._convert_options,
            )
        except pa.ArrowInvalid as error:
            return None, [*invalid, f"expected a UTF-8 CSV record: {error}"]
        return table, invalid


def table_to_rows(table: pa.Table) -> list[dict[str, Any]]:
    """One dict per row (``None`` for nulls); column-wise conversion is much faster than row-wise."""
    names = table.column_names
    columns = [column.to_pylist() for column in table.columns]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def read_csv(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    """Whole CSV records from the chunk's start (a record boundary) to the end of the file.

    A CSV file is planned as one chunk, read front to back: a byte range cannot be aligned on a
    record from an arbitrary offset (whether it starts inside quotes is unknown). A remainder
    handed over near the time limit starts at an exact record boundary and re-reads the header
    from the start of the file.
    """
    lines = iter_owned_lines(source.blocks(chunk, read_start(chunk.start)), chunk.start, 2**63)
    header = _file_head_lines(chunk, source) if chunk.start > 0 else None
    return grouped(_decode_csv(iter_csv_records(lines, chunk.end), header), max_records)


def read_gzip_csv(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    """Gzip CSV is read as one stream; offsets are in decompressed bytes."""
    if (corrupt := corrupt_gzip(chunk, source)) is not None:
        return iter([undecodable_batch(corrupt)])
    broken = BrokenStream(chunk)
    blocks = decompressed_blocks(chunk, source, read_start(chunk.start), broken)
    lines = iter_owned_lines(blocks, chunk.start, 2**63)
    # The header of a remainder is read again from the start; a break there is the main read's to report.
    header_blocks = decompressed_blocks(chunk, source, 0, BrokenStream(chunk)) if chunk.start > 0 else None
    header = iter_owned_lines(header_blocks, 0, 2**63) if header_blocks is not None else None
    return grouped(items_then_break(_decode_csv(iter_csv_records(lines), header), broken), max_records)


def _decode_csv(
    records: Iterator[CsvRecord | UnterminatedRecord], header_lines: Iterator[tuple[int, bytes]] | None
) -> Iterator[DecodedItem]:
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
