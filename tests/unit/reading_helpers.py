"""Reading a chunk one record at a time, for tests that look at each record and its offset."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.ports.landing import ChunkBytes
from appflow_ingest.reading import Decoded, DecodedItem, read_batches


def read_items(chunk: Chunk, source: ChunkBytes) -> Iterator[DecodedItem]:
    """The chunk's decoded records and undecodable entries in file order (``read_batches`` flattened).

    Within a batch, records and entries are merged by offset; at one offset (a Parquet row group)
    the entries come first, as the batch readers put them.
    """
    for batch in read_batches(chunk, source, 10_000):
        records = (
            Decoded(offset, record) for offset, record in zip(batch.record_offsets(), batch.records, strict=True)
        )
        yield from heapq.merge(batch.undecodable, records, key=lambda item: item.offset)
