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


def decode_json_lines(lines: Iterable[tuple[int, bytes]]) -> Iterator[DecodedItem]:
    """One record per line; blank lines are skipped; a line holding a JSON array yields each element.

    CRLF endings and a UTF-8 byte order mark at the start of the file are tolerated.
    """
    loads = orjson.loads
    for offset, line in lines:
        if line.endswith(b"\r"):
            line = line[:-1]
        if offset == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
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


def decode_json_document(offset: int, document: bytes) -> Iterator[DecodedItem]:
    """A whole file holding one JSON array of records (or a single object)."""
    try:
        value = orjson.loads(document)
    except orjson.JSONDecodeError as error:
        yield Undecodable(offset, document, f"expected a JSON array of records: {error}")
        return
    for element in value if isinstance(value, list) else [value]:
        yield Decoded(offset, element)
