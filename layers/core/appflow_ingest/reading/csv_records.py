"""CSV record boundaries in a byte stream, found without parsing fields.

AppFlow's CSV quotes fields holding commas, quotes or newlines (RFC 4180), and Salesforce text
fields (descriptions, addresses) do hold newlines, so a newline ends a record only outside
quotes. RFC 4180 escapes a quote inside a quoted field by doubling it, which keeps the number
of quote characters even: a newline is a record boundary exactly when the count of ``"`` since
the record started is even. Counting quotes per line (``bytes.count``, no per-byte Python work)
is therefore enough to find every record and its byte offset; the fields themselves are parsed
by pyarrow, a batch of whole records at a time (see ``csv_decoding``).

No CSV parser does this for us: pyarrow's and the standard library's readers know neither the
byte offset of a record (needed in quarantine entries and to hand a file over at an exact
record boundary) nor how to resume in the middle of a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import NamedTuple

# A record longer than this whose quotes never balance is a stray quote, not a long text field
# (a Salesforce long text area holds at most 131,072 characters): it is reported and the scan
# resumes at the next line, so one bad quote cannot swallow the rest of the file into memory.
MAX_RECORD_BYTES = 8 * 1024 * 1024


class CsvRecord(NamedTuple):
    """One whole CSV record and the byte offset it starts at."""

    offset: int  # byte offset of the record's first byte in the file
    raw: bytes  # the record without its final newline (embedded newlines kept as they were)


class UnterminatedRecord(NamedTuple):
    """A record whose quoted field never closed: where it starts, its first line, and why."""

    offset: int
    raw: bytes  # the first line of the record whose quoted field never closed
    reason: str


def iter_csv_records(
    lines: Iterable[tuple[int, bytes]],
    end: int = 2**63,
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> Iterator[CsvRecord | UnterminatedRecord]:
    """Group ``(offset, line)`` pairs (from ``lines.iter_owned_lines``) into whole CSV records.

    ``lines`` must start at a record boundary (offset 0, or an offset a previous reader handed
    over). Records starting at or after ``end`` are not yielded. A quote that never closes (by
    the end of the file, or within ``max_record_bytes``) yields an ``UnterminatedRecord`` for the
    line where it opened, and the scan resumes with the line after it.
    """
    source: Iterator[tuple[int, bytes]] = iter(lines)
    while True:
        open_lines: list[tuple[int, bytes]] = []  # lines of a record whose quotes are still open
        open_size = 0
        runaway = False
        for offset, line in source:
            odd = line.count(b'"') & 1
            if not open_lines:
                if offset >= end:
                    return
                if not odd:  # the common case: a record on one line
                    yield CsvRecord(offset, line)
                    continue
                open_lines.append((offset, line))
                open_size = len(line)
                continue
            open_lines.append((offset, line))
            open_size += len(line) + 1
            if odd:  # this line closes the quoted field the record left open
                yield CsvRecord(open_lines[0][0], b"\n".join(part for _, part in open_lines))
                open_lines = []
            elif open_size > max_record_bytes:
                runaway = True
                break
        if not open_lines:
            return
        first_offset, first_line = open_lines[0]
        why = f"more than {max_record_bytes} bytes" if runaway else "the end of the file"
        yield UnterminatedRecord(
            first_offset,
            first_line,
            f"a quoted field opened on this line is not closed by {why}; "
            'expected RFC 4180 quoting (a quote inside a quoted field is doubled: "")',
        )
        # Parity is unknown after a stray quote: assume the next line starts a record.
        source = chain(open_lines[1:], source)
