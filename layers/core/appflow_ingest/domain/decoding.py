"""Decode JSON Lines into records, keeping the byte offset of each for quarantine messages."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import orjson


# NamedTuples rather than dataclasses: one is built per record on the hot path, and a tuple is
# several times cheaper to construct than a frozen dataclass.
class Decoded(NamedTuple):
    offset: int
    record: Any


class Undecodable(NamedTuple):
    offset: int
    raw: bytes
    reason: str


DecodedItem = Decoded | Undecodable

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
        if type(item) is Undecodable:
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
