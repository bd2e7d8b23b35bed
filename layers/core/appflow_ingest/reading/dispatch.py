"""One dispatch: a chunk's format decides which reader turns its byte range into record batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.ports.landing import ChunkBytes
from appflow_ingest.reading.decoded import DecodedBatch, Undecodable, undecodable_batch
from appflow_ingest.reading.formats import CSV, GZIP_SUFFIX, JSON_DOCUMENT, JSON_LINES, PARQUET
from appflow_ingest.reading.json_lines import read_gzip_json_lines, read_json_document, read_json_lines

BatchReader = Callable[[Chunk, ChunkBytes, int], Iterator[DecodedBatch]]


# pyarrow is imported only by invocations that read CSV or Parquet (it adds to cold starts).
def _read_csv(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    from appflow_ingest.reading.csv_decoding import read_csv

    return read_csv(chunk, source, max_records)


def _read_gzip_csv(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    from appflow_ingest.reading.csv_decoding import read_gzip_csv

    return read_gzip_csv(chunk, source, max_records)


def _read_parquet(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    from appflow_ingest.reading.parquet import read_parquet

    return read_parquet(chunk, source, max_records)


READERS: dict[str, BatchReader] = {
    JSON_LINES: read_json_lines,
    JSON_DOCUMENT: read_json_document,
    JSON_LINES + GZIP_SUFFIX: read_gzip_json_lines,
    CSV: _read_csv,
    CSV + GZIP_SUFFIX: _read_gzip_csv,
    PARQUET: _read_parquet,
}


def read_batches(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    """Decoded records of a chunk in batches of at most ``max_records`` lines (or records).

    Every batch starts on a line (record) boundary, so an invocation may hand over between two
    batches; records sharing an offset (a JSON array line) are never split between batches. A
    format with no reader yields one batch holding one Undecodable that names it.
    """
    reader = READERS.get(chunk.format)
    if reader is None:
        return iter([undecodable_batch(Undecodable(chunk.start, b"", f"no reader for file format {chunk.format!r}"))])
    return reader(chunk, source, max_records)
