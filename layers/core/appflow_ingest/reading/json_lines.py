"""JSON Lines (plain or gzip) and JSON documents: a chunk's bytes into batches of records with their offsets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.ports.landing import ChunkBytes
from appflow_ingest.reading.decoded import Decoded, DecodedBatch, DecodedItem, Undecodable, grouped, undecodable_batch
from appflow_ingest.reading.gzip_stream import BrokenStream, batches_then_break, corrupt_gzip, decompressed_blocks
from appflow_ingest.reading.lines import iter_owned_line_batches, read_start

_UTF8_BOM = b"\xef\xbb\xbf"


def decode_json_lines(lines: Iterable[tuple[int, bytes]]) -> Iterator[DecodedItem]:
    """One record per line; blank lines are skipped; a line holding a JSON array yields each element.

    CRLF endings and a UTF-8 byte order mark at the start of the file are tolerated.
    """
    loads = orjson.loads
    for offset, line in lines:
        if line.endswith(b"\r"):
            line = line[:-1]
        if offset == 0:
            line = line.removeprefix(_UTF8_BOM)
        try:
            value = loads(line)
        except orjson.JSONDecodeError as error:
            if line.strip():
                yield Undecodable(offset, line, f"expected one JSON object per line: {error}")
            continue
        if isinstance(value, list):
            for element in value:
                yield Decoded(offset, element)
        else:
            yield Decoded(offset, value)


def decode_json_line_batch(offset: int, lines: list[bytes]) -> DecodedBatch:
    """``decode_json_lines`` for a list of consecutive lines starting at ``offset``, in one C-level pass.

    Clean JSON Lines (one object per line, which is what AppFlow writes) decode with a single
    ``map(orjson.loads, ...)``; a batch with a blank, undecodable or array line, or a byte order
    mark, is decoded again line by line by ``decode_json_lines``, with its rules.
    """
    try:
        records = list(map(orjson.loads, lines))
    except orjson.JSONDecodeError:
        pass
    else:
        if list not in set(map(type, records)):
            return DecodedBatch(offset, records, [], lines)
    records, undecodable, offsets = [], [], []
    for item in decode_json_lines(_with_offsets(offset, lines)):
        if isinstance(item, Undecodable):
            undecodable.append(item)
        else:
            records.append(item.record)
            offsets.append(item.offset)
    return DecodedBatch(offset, records, undecodable, lines, offsets)


def _with_offsets(offset: int, lines: list[bytes]) -> Iterator[tuple[int, bytes]]:
    for line in lines:
        yield offset, line
        offset += len(line) + 1


def decode_json_document(offset: int, document: bytes) -> Iterator[DecodedItem]:
    """A whole file holding one JSON array of records (or a single object)."""
    # orjson refuses a byte order mark, and detect_format tells a BOM-prefixed "[" a JSON document
    # (docs/appflow.md §1: accept a single top-level JSON array): without this the whole file was one
    # quarantined line.
    if document.startswith(_UTF8_BOM):
        document, offset = document[len(_UTF8_BOM) :], offset + len(_UTF8_BOM)
    try:
        value = orjson.loads(document)
    except orjson.JSONDecodeError as error:
        if _first_line_is_json(document):
            # JSON Lines whose first line is an array ("[" made it look like one document): read
            # line by line, so one bad line is one quarantined line, not the whole file.
            yield from decode_json_lines(_with_offsets(offset, document.split(b"\n")))
            return
        yield Undecodable(offset, document, f"expected a JSON array of records: {error}")
        return
    for element in value if isinstance(value, list) else [value]:
        yield Decoded(offset, element)


def _first_line_is_json(document: bytes) -> bool:
    first, newline, rest = document.partition(b"\n")
    if not newline or not rest.strip():
        return False
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return True


def read_json_lines(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    """The lines starting in the chunk's range, decoded ``max_records`` lines a batch.

    JSON Lines, the format AppFlow writes most, take the batch path: whole blocks split once and
    a batch decoded in one C-level loop, no generator step per line.
    """
    blocks = source.blocks(chunk, read_start(chunk.start), chunk.end)
    return _decoded_line_batches(iter_owned_line_batches(blocks, chunk.start, chunk.end), max_records)


def read_gzip_json_lines(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    """Gzip is read front to back; offsets are in decompressed bytes, so a hand-over skips forward."""
    if (corrupt := corrupt_gzip(chunk, source)) is not None:
        return iter([undecodable_batch(corrupt)])
    broken = BrokenStream(chunk)
    blocks = decompressed_blocks(chunk, source, read_start(chunk.start), broken)
    batches = _decoded_line_batches(iter_owned_line_batches(blocks, chunk.start, 2**63), max_records)
    return batches_then_break(batches, broken)


def read_json_document(chunk: Chunk, source: ChunkBytes, max_records: int) -> Iterator[DecodedBatch]:
    """A file holding one JSON array, read whole and grouped into batches."""
    # A JSON array cannot be split or streamed without a streaming parser; AppFlow writes JSON
    # Lines, so this path exists for hand-made files and is bounded by the function's memory.
    return grouped(decode_json_document(0, b"".join(source.blocks(chunk, 0))), max_records)


def _decoded_line_batches(line_batches: Iterator[tuple[int, list[bytes]]], max_lines: int) -> Iterator[DecodedBatch]:
    """Decoded batches of ``max_lines`` consecutive lines (the last one shorter), whatever the block size.

    Blocks are small (a MiB), so the lines left over from one block wait for the next one's: the
    writer gets full batches, not a short one per block.
    """
    offset = 0
    waiting: list[bytes] = []
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
