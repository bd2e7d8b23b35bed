"""What decoding a chunk yields: records with the byte offset each came from, and what did not decode."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple


# NamedTuples rather than dataclasses: one is built per record on the hot path, and a tuple is
# several times cheaper to construct than a frozen dataclass.
class Decoded(NamedTuple):
    """One decoded record and the byte offset of the line (record, row group) it came from."""

    offset: int
    record: Any


class Undecodable(NamedTuple):
    """Input that did not decode: where it starts, its bytes, and why (a quarantine entry)."""

    offset: int
    raw: bytes
    reason: str


DecodedItem = Decoded | Undecodable


class DecodedBatch(NamedTuple):
    """Records decoded from consecutive lines, and the lines that did not decode."""

    offset: int  # where the first line starts: a line boundary, where a hand-over may resume
    records: list[Any]
    undecodable: list[Undecodable]
    lines: list[bytes]
    offsets: list[int] | None = None  # each record's line offset, when records and lines do not pair up
    row: int = 0  # Parquet: the first record's row within the row group starting at ``offset``

    def record_offsets(self) -> list[int]:
        """Byte offset of each record's line (computed on demand: only rejected records need it)."""
        if self.offsets is not None:
            return self.offsets
        offsets, offset = [], self.offset
        for line in self.lines:
            offsets.append(offset)
            offset += len(line) + 1
        return offsets


def undecodable_batch(item: Undecodable) -> DecodedBatch:
    """A batch holding one undecodable entry and no record."""
    return DecodedBatch(item.offset, [], [item], [], [])


def grouped(items: Iterator[DecodedItem], max_records: int) -> Iterator[DecodedBatch]:
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
        if isinstance(item, Undecodable):
            undecodable.append(item)
        else:
            records.append(item.record)
            offsets.append(item.offset)
    if records or undecodable:
        yield DecodedBatch(first, records, undecodable, [], offsets)
