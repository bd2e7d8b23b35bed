"""Decode whole CSV records into records with pyarrow's CSV parser, a batch at a time.

Every column is read as a string and an empty field is null, as in Salesforce's Bulk API form
(``""`` means empty); typing is left to the record rules, which coerce both value forms. Offsets
come from ``csv_records``, so each decoded record and each rejected one carries the byte offset
where it starts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv

from appflow_ingest.domain.csv_records import CsvRecord, UnterminatedRecord
from appflow_ingest.domain.decoding import Decoded, DecodedItem, Undecodable

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

        def reject(row: Any) -> str:
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
