"""Parquet: byte ranges own the row groups that start in them; typed and all-string files agree."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reading_helpers import read_items

from appflow_ingest.domain.landing.chunks import Chunk, plan_ranges
from appflow_ingest.domain.records.versions import ObjectConfig, to_record_version
from appflow_ingest.domain.rules import RULE_SETS, ObjectRules
from appflow_ingest.reading.decoded import Decoded, Undecodable
from appflow_ingest.reading.parquet import owned_row_groups, read_parquet, row_group_start
from appflow_ingest.reading.ranged_file import RangedObjectFile


class BytesSource:
    """The ChunkBytes interface over an in-memory object, counting ranged reads."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    def read_range(self, chunk: Chunk, start: int, stop: int) -> bytes:
        self.reads.append((start, stop))
        return self.data[start:stop]


def accounts_table(count: int, *, typed: bool) -> pa.Table:
    """Accounts as AppFlow writes them with preserveSourceDataTyping true (typed) or false (all strings)."""
    base = dt.datetime(2024, 4, 16, 19, 0, tzinfo=dt.UTC)
    rows = [
        {
            "Id": f"001{i:015d}",
            "Name": f"Account {i}",
            "IsDeleted": i % 7 == 3,
            "AnnualRevenue": Decimal(f"{1000 * i}.50") if i % 5 else None,
            "NumberOfEmployees": i * 10,
            "LastModifiedDate": base + dt.timedelta(seconds=i, milliseconds=i % 1000),
            "BillingCity": "" if i % 4 == 0 else "Austin",
        }
        for i in range(count)
    ]
    if typed:
        schema = pa.schema(
            [
                ("Id", pa.string()),
                ("Name", pa.string()),
                ("IsDeleted", pa.bool_()),
                ("AnnualRevenue", pa.decimal128(18, 2)),
                ("NumberOfEmployees", pa.int32()),
                ("LastModifiedDate", pa.timestamp("ms", tz="UTC")),
                ("BillingCity", pa.string()),
            ]
        )
        return pa.Table.from_pylist(rows, schema=schema)

    def as_text(value):
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
        return str(value)

    return pa.Table.from_pylist([{k: as_text(v) for k, v in row.items()} for row in rows])


def parquet_bytes(table: pa.Table, row_group_size: int) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=row_group_size)
    return out.getvalue()


def chunk_of(data: bytes, start: int, end: int) -> Chunk:
    return Chunk(bucket="b", key="k", size=len(data), start=start, end=end, format="parquet")


def read_all(data: bytes, chunk_size: int) -> list[Decoded]:
    items = []
    for start, end in plan_ranges(len(data), chunk_size):
        items += read_items(chunk_of(data, start, end), BytesSource(data))
    return items


TYPED = parquet_bytes(accounts_table(50, typed=True), row_group_size=8)
STRINGS = parquet_bytes(accounts_table(50, typed=False), row_group_size=8)


@pytest.mark.parametrize("data", [TYPED, STRINGS], ids=["typed", "all-string"])
def test_any_cut_into_byte_ranges_reads_each_row_group_exactly_once(data):
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert metadata.num_row_groups == 7
    for chunk_size in (1, 97, 500, 1000, 1777, len(data) // 3, len(data)):
        items = read_all(data, chunk_size)
        assert [item.record["Id"] for item in items] == [f"001{i:015d}" for i in range(50)], chunk_size
        # A record's offset is the first byte of its row group.
        starts = [row_group_start(metadata, g) for g in range(7)]
        assert [item.offset for item in items] == [starts[i // 8] for i in range(50)]


def test_each_row_group_is_one_ranged_read_after_the_footer():
    source = BytesSource(TYPED)
    items = list(read_items(chunk_of(TYPED, 0, len(TYPED)), source))
    assert len(items) == 50
    footer_reads = [read for read in source.reads if read[1] == len(TYPED)]
    assert len(footer_reads) <= 2 and len(source.reads) == len(footer_reads) + 7


def test_a_range_owns_only_the_row_groups_starting_in_it():
    metadata = pq.ParquetFile(io.BytesIO(TYPED)).metadata
    second = row_group_start(metadata, 1)
    assert [index for index, _ in owned_row_groups(metadata, 0, second)] == [0]
    assert [index for index, _ in owned_row_groups(metadata, second, second + 1)] == [1]
    assert owned_row_groups(metadata, len(TYPED) - 8, len(TYPED)) == []  # the footer owns nothing


def test_typed_values_are_what_json_lines_gives_for_the_same_record():
    first = [item.record for item in read_all(TYPED, len(TYPED))][:5]
    assert first[1] == {
        "Id": "001000000000000001",
        "Name": "Account 1",
        "IsDeleted": False,
        "AnnualRevenue": 1000.5,
        "NumberOfEmployees": 10,
        "LastModifiedDate": "2024-04-16T19:00:01.001Z",
        "BillingCity": "Austin",
    }
    assert first[0]["AnnualRevenue"] is None and first[0]["BillingCity"] is None  # "" is null
    assert first[3]["IsDeleted"] is True
    # Exactly the JSON values: the record survives a JSON round trip unchanged.
    assert orjson.loads(orjson.dumps(first)) == first


def test_typed_and_all_string_files_store_the_same_records():
    rules = ObjectRules({"Account": RULE_SETS["account-member"]})
    config = ObjectConfig("Account")

    def stored(data: bytes) -> list[tuple]:
        versions = [rules.apply(to_record_version(item.record, config)) for item in read_all(data, 1000)]
        return [(v.object, v.id, v.version, v.deleted, v.record) for v in versions]

    typed, strings = stored(TYPED), stored(STRINGS)
    assert typed == strings
    assert typed[1][4]["AnnualRevenue"] == 1000.5 and typed[10][4]["NumberOfEmployees"] == 100
    assert sum(1 for v in typed if v[3]) == len([i for i in range(50) if i % 7 == 3])


def test_a_file_that_is_not_parquet_is_reported_once():
    data = b"PAR1 but then nothing of the kind"
    items = list(read_items(chunk_of(data, 0, 10), BytesSource(data)))
    assert len(items) == 1 and isinstance(items[0], Undecodable) and "expected a Parquet file" in items[0].reason
    assert list(read_items(chunk_of(data, 10, len(data)), BytesSource(data))) == []


def test_the_ranged_file_serves_reads_inside_the_prefetched_window_without_requests():
    data = bytes(range(256)) * 4
    file = RangedObjectFile(BytesSource(data), chunk_of(data, 0, len(data)))
    file.prefetch(100, 300)
    file.seek(150)
    assert file.read(10) == data[150:160] and file.requests == 1
    file.seek(-4, io.SEEK_END)
    assert file.read() == data[-4:] and file.requests == 2


def test_a_remainder_from_any_row_of_any_row_group_yields_exactly_the_rest():
    metadata = pq.ParquetFile(io.BytesIO(TYPED)).metadata
    whole = chunk_of(TYPED, 0, len(TYPED))
    ids = [f"001{i:015d}" for i in range(50)]
    for group in range(metadata.num_row_groups):
        start = row_group_start(metadata, group)
        for row in range(metadata.row_group(group).num_rows):
            rest = whole.remainder_from(start, row)
            batches = list(read_parquet(rest, BytesSource(TYPED), max_rows=3))
            assert [r["Id"] for b in batches for r in b.records] == ids[group * 8 + row :]
            # Each batch says where it can be resumed from: its row group's first byte and its row.
            assert (batches[0].offset, batches[0].row) == (start, row)
            assert all(len(b.records) <= 3 for b in batches)
