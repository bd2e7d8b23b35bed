"""CSV: record boundaries by quote parity, at every block cut and every hand-over point."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from reading_helpers import read_items

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.reading.csv_records import CsvRecord, UnterminatedRecord, iter_csv_records
from appflow_ingest.reading.decoded import Decoded, Undecodable
from appflow_ingest.reading.lines import iter_owned_lines

# AppFlow-style CSV: header, quoted fields with commas, doubled quotes, LF and CRLF newlines
# inside quotes, an empty quoted field, a field that is only a quote, a blank line, no final newline.
SALESFORCE_CSV = (
    b"Id,Name,Description,AnnualRevenue,LastModifiedDate\r\n"
    b'001A,"Acme, Inc.","Line one\nline two, with ""quotes""",100.0,2024-04-16T19:00:00.000Z\r\n'
    b'001B,Globex,,,"2024-04-16T19:00:01.000Z"\r\n'
    b'001C,"Initech","""",23,2024-04-16T19:00:02.000+0000\r\n'
    b"\r\n"
    b'001D,"Umbrella","first\r\n\r\nthird ""x"" line\r\n",,2024-04-16T19:00:03.000Z\r\n'
    b'001E,"Q""uote",plain,"1,000",2024-04-16T19:00:04.000Z'
)


def expected_rows(data: bytes) -> list[dict[str, str | None]]:
    """The oracle: Python's csv module on the whole file, empty fields as null."""
    reader = csv.DictReader(io.StringIO(data.decode(), newline=""))
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in reader if any(row.values())]


def blocks_of(data: bytes, offset: int, block_size: int) -> Iterator[bytes]:
    for position in range(offset, len(data), block_size):
        yield data[position : position + block_size]


class BytesSource:
    """An in-memory object: the ChunkBytes interface over bytes (pure logic, no S3)."""

    def __init__(self, data: bytes, block_size: int) -> None:
        self.data = data
        self.block_size = block_size

    def blocks(self, chunk: Chunk, offset: int) -> Iterator[bytes]:
        return blocks_of(self.data, offset, self.block_size)

    def read_range(self, chunk: Chunk, start: int, stop: int) -> bytes:
        return self.data[start:stop]

    def stream(self, chunk: Chunk) -> io.BytesIO:
        return io.BytesIO(self.data)


def csv_chunk(data: bytes, start: int = 0) -> Chunk:
    return Chunk(bucket="b", key="k", size=len(data), start=start, end=len(data), format="csv")


def record_offsets(data: bytes) -> list[int]:
    return [r.offset for r in iter_csv_records(iter_owned_lines([data], 0, len(data)))]


@pytest.mark.parametrize("block_size", [1, 2, 3, 5, 8, 13, 64, 4096])
def test_records_are_found_whatever_the_block_cuts(block_size):
    whole = list(iter_csv_records(iter_owned_lines([SALESFORCE_CSV], 0, 2**63)))
    cut = list(iter_csv_records(iter_owned_lines(blocks_of(SALESFORCE_CSV, 0, block_size), 0, 2**63)))
    assert cut == whole
    # Every record's bytes are exactly the file's bytes at its offset.
    for record in whole:
        assert SALESFORCE_CSV[record.offset : record.offset + len(record.raw)] == record.raw
    assert [r.raw.split(b",")[0] for r in whole if r.raw.strip()] == [
        b"Id",
        b"001A",
        b"001B",
        b"001C",
        b"001D",
        b"001E",
    ]


def test_quoted_newlines_and_doubled_quotes_decode_as_the_csv_module_does():
    items = list(read_items(csv_chunk(SALESFORCE_CSV), BytesSource(SALESFORCE_CSV, 7)))
    assert all(isinstance(item, Decoded) for item in items)
    assert [item.record for item in items] == expected_rows(SALESFORCE_CSV)
    assert items[0].record["Description"] == 'Line one\nline two, with "quotes"'
    assert items[3].record["Description"] == 'first\r\n\r\nthird "x" line\r\n'
    assert items[1].record["AnnualRevenue"] is None  # empty means null (Bulk API form)
    assert items[4].record["AnnualRevenue"] == "1,000"  # every value stays a string for the rules


@pytest.mark.parametrize("block_size", [3, 16, 4096])
def test_a_remainder_from_any_record_boundary_yields_exactly_the_rest(block_size):
    offsets = [offset for offset in record_offsets(SALESFORCE_CSV)[1:]]
    full = [
        (item.offset, item.record) for item in read_items(csv_chunk(SALESFORCE_CSV), BytesSource(SALESFORCE_CSV, 9))
    ]
    for start in offsets:
        rest = read_items(csv_chunk(SALESFORCE_CSV, start), BytesSource(SALESFORCE_CSV, block_size))
        assert [(item.offset, item.record) for item in rest] == [pair for pair in full if pair[0] >= start]


def test_rows_with_a_wrong_number_of_fields_are_rejected_by_offset_and_the_rest_kept():
    data = b'Id,Name\n1,a\n2,b,extra\n3\n4,"multi\nline"\n5,e\n'
    items = list(read_items(csv_chunk(data), BytesSource(data, 4096)))
    bad = [item for item in items if isinstance(item, Undecodable)]
    assert [(item.offset, item.raw) for item in bad] == [(data.index(b"2,b"), b"2,b,extra"), (data.index(b"3\n"), b"3")]
    assert "expected 2 comma-separated fields as in the header row, got 3" in bad[0].reason
    assert "got 1" in bad[1].reason
    good = [item for item in items if isinstance(item, Decoded)]
    assert [(item.offset, item.record["Id"]) for item in good] == [
        (data.index(b"1,a"), "1"),
        (data.index(b"4,"), "4"),
        (data.index(b"5,e"), "5"),
    ]
    assert good[1].record["Name"] == "multi\nline"


def test_invalid_utf8_is_rejected_by_offset():
    data = b"Id,Name\n1,a\n2,\xff\xfe\n3,c\n"
    items = list(read_items(csv_chunk(data), BytesSource(data, 4096)))
    assert [type(item).__name__ for item in items] == ["Decoded", "Undecodable", "Decoded"]
    assert items[1].offset == data.index(b"2,") and "UTF8" in items[1].reason


def test_a_quote_that_never_closes_costs_one_line_not_the_rest_of_the_file():
    data = b'Id,Name\n1,"open\n2,b\n3,c\n'
    items = list(read_items(csv_chunk(data), BytesSource(data, 4096)))
    assert isinstance(items[0], Undecodable) and items[0].offset == data.index(b'1,"')
    assert "not closed by the end of the file" in items[0].reason
    assert [item.record["Id"] for item in items[1:]] == ["2", "3"]


def test_a_runaway_quote_is_cut_at_the_record_size_limit():
    lines = [(i * 10, b'x"' if i == 0 else b"a,b") for i in range(100)]
    records = list(iter_csv_records(lines, max_record_bytes=30))
    assert isinstance(records[0], UnterminatedRecord) and "more than 30 bytes" in records[0].reason
    assert records[1:] == [CsvRecord(i * 10, b"a,b") for i in range(1, 100)]


def test_records_starting_at_or_after_the_end_belong_to_someone_else():
    data = b'h\n"a\nb"\nc\n'
    records = list(iter_csv_records(iter_owned_lines([data], 0, 2**63), end=data.index(b"c")))
    assert records == [CsvRecord(0, b"h"), CsvRecord(2, b'"a\nb"')]


def test_a_header_only_file_and_an_empty_file_yield_nothing():
    for data in (b"Id,Name\n", b"Id,Name", b""):
        assert list(read_items(csv_chunk(data), BytesSource(data, 4096))) == []


def test_a_bad_header_is_reported_not_guessed():
    data = b"Id,Id\n1,2\n"
    (item,) = read_items(csv_chunk(data), BytesSource(data, 4096))
    assert isinstance(item, Undecodable) and item.offset == 0 and "duplicates ['Id']" in item.reason


def test_a_header_with_a_stray_quote_is_reported_not_raised():
    # It raised csv.Error: the chunk failed on every retry and went to the dead-letter queue.
    data = b'"Id" x,Name\n1,2\n'
    (item,) = read_items(csv_chunk(data), BytesSource(data, 4096))
    assert isinstance(item, Undecodable) and item.offset == 0 and "expected a header row" in item.reason


def test_gzip_csv_is_read_as_one_stream_and_resumes_at_a_record():
    import gzip

    compressed = gzip.compress(SALESFORCE_CSV)
    chunk = Chunk(bucket="b", key="k", size=len(compressed), start=0, end=len(compressed), format="csv.gz")
    full = [(item.offset, item.record) for item in read_items(chunk, BytesSource(compressed, 10))]
    assert [record for _, record in full] == expected_rows(SALESFORCE_CSV)
    start = full[2][0]
    rest = read_items(Chunk(**{**chunk.__dict__, "start": start}), BytesSource(compressed, 10))
    assert [(item.offset, item.record) for item in rest] == full[2:]
