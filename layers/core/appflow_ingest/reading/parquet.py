"""Parquet: which row groups a byte range owns, and Arrow values as the JSON values JSON Lines gives.

A Parquet file is split like a line-delimited one, by byte ranges, but its unit is the row
group: **a chunk owns every row group whose first byte lies inside its range** (the rule Hadoop
and Spark use). Every worker reads the footer and picks its own row groups, so the planner needs
neither pyarrow nor the footer, and chunks together cover each row group exactly once.

Typed files (``preserveSourceDataTyping=true``) and all-string files (``false``) must end up as
the same stored records. Typed values are converted to exactly what the JSON Lines path
produces for the same Salesforce record (numbers as numbers, booleans as booleans, date-times as
``2024-04-16T19:00:00.000Z``, dates as ``2024-04-16``); all-string values stay strings, and the
object's rules coerce both to one canonical form, as they do for CSV and Bulk API values. An
empty string is null in both, as Salesforce stores no empty text.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.ports.landing import ChunkBytes
from appflow_ingest.reading.decoded import DecodedBatch, Undecodable
from appflow_ingest.reading.ranged_file import RangedObjectFile


def _column_start(column: pq.ColumnChunkMetaData) -> int:
    start = column.data_page_offset
    dictionary = column.dictionary_page_offset  # None without a dictionary page
    # Some writers record a dictionary page offset of 0 for "none": only an earlier real one counts.
    if column.has_dictionary_page and dictionary is not None and 0 < dictionary < start:
        start = dictionary
    return start


def row_group_start(metadata: pq.FileMetaData, index: int) -> int:
    """Byte offset of the first page (dictionary or data) of any column of row group ``index``."""
    group = metadata.row_group(index)
    return min((_column_start(group.column(c)) for c in range(group.num_columns)), default=0)


def row_group_span(metadata: pq.FileMetaData, index: int) -> tuple[int, int]:
    """``[first byte, end)`` of row group ``index`` in the file: one ranged read fetches all of it."""
    group = metadata.row_group(index)
    columns = [group.column(c) for c in range(group.num_columns)]
    start = min((_column_start(column) for column in columns), default=0)
    end = max((_column_start(column) + column.total_compressed_size for column in columns), default=start)
    return start, end


def owned_row_groups(metadata: pq.FileMetaData, start: int, end: int) -> list[tuple[int, int]]:
    """``(index, first byte)`` of each row group whose first byte lies in ``[start, end)``, in file order."""
    owned = []
    for index in range(metadata.num_row_groups):
        first = row_group_start(metadata, index)
        if start <= first < end and metadata.row_group(index).num_rows:
            owned.append((index, first))
    return owned


def batch_to_records(batch: pa.RecordBatch | pa.Table) -> list[dict[str, Any]]:
    """One JSON-like dict per row, column by column (much faster than row by row)."""
    names = batch.schema.names
    columns = [_column_values(batch.column(i)) for i in range(batch.num_columns)]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _column_values(column: pa.Array[Any] | pa.ChunkedArray[Any]) -> list[Any]:
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [value or None for value in column.to_pylist()]
    if pa.types.is_timestamp(kind):
        # Salesforce's fixed-width UTC form; a naive timestamp is taken as UTC.
        millis = column.cast(pa.timestamp("ms", tz="UTC"), safe=False).cast(pa.timestamp("ms"))
        # The stub's strftime wants TimestampScalar arrays and its cast returns Scalar[TimestampType] ones: the same.
        seconds = pc.strftime(millis, format="%Y-%m-%dT%H:%M:%S")  # type: ignore[arg-type]
        return _with_suffix(seconds, "Z")
    if pa.types.is_date(kind):
        return column.cast(pa.string()).to_pylist()
    if pa.types.is_time(kind):
        text = column.cast(pa.time32("ms"), safe=False).cast(pa.string())
        return _with_suffix(text, "Z")
    if pa.types.is_decimal(kind):
        return column.cast(pa.int64() if kind.scale <= 0 else pa.float64()).to_pylist()
    if pa.types.is_null(kind) or pa.types.is_boolean(kind) or pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return column.to_pylist()
    return [_json_value(value) for value in column.to_pylist()]


def _with_suffix(text: pa.Array[Any] | pa.ChunkedArray[Any], suffix: str) -> list[str | None]:
    """Each string of ``text`` with ``suffix`` appended (a null stays null), as Python values."""
    # The stub's overloads want every argument to be an array of one type; pyarrow takes a Python
    # string as a scalar, as its documentation shows.
    joined = pc.binary_join_element_wise(text, suffix, "")  # type: ignore[call-overload]
    values: list[str | None] = joined.to_pylist()
    return values


def _json_value(value: Any) -> Any:
    """Nested and rarer values (lists, structs, binary) as JSON-serializable values."""
    if isinstance(value, dict):
        return {key: _json_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_value(item) for item in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        instant = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        millis = instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        return millis + "Z"
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return str(value)
    return value


def iter_row_group_records(
    parquet: pq.ParquetFile, index: int, batch_rows: int = 10_000, skip_rows: int = 0
) -> Iterator[list[dict[str, Any]]]:
    """The records of one row group from row ``skip_rows`` on, at most ``batch_rows`` at a time."""
    seen = 0
    for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[index], use_threads=False):
        seen += batch.num_rows
        if seen <= skip_rows:
            continue  # skipped rows are never turned into Python objects
        if seen - batch.num_rows < skip_rows:
            batch = batch.slice(skip_rows - (seen - batch.num_rows))
        yield batch_to_records(batch)


def read_parquet(chunk: Chunk, source: ChunkBytes, max_rows: int) -> Iterator[DecodedBatch]:
    """Batches of at most ``max_rows`` records of the row groups whose first byte lies in the chunk's range.

    The footer is read with ranged reads, then each owned row group with one ranged read of its
    whole byte span, and decoded ``max_rows`` rows at a time, so memory holds one row group's
    compressed bytes and one batch of records. A batch's offset is its row group's first byte and
    its ``row`` the row within that group: a hand-over can resume between any two batches.
    """
    file = RangedObjectFile(source, chunk)
    try:
        # pyarrow reads any Python file object (it wraps it in a PythonFile); the stub names IO[Any] only.
        parquet = pq.ParquetFile(file)  # type: ignore[arg-type]
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
