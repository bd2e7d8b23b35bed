"""bench/memory.py builds its Parquet files column by column with pyarrow compute (a 1 GB file is
~30 million records): the columns must hold exactly the records the JSON Lines and CSV files hold."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.memory import account_records, account_string_batch, generate  # noqa: E402


def as_strings(record):
    return {name: None if value is None else str(value) for name, value in record.items() if name != "attributes"}


@pytest.mark.parametrize("first", [0, 1, 86_399, 123_456_789_012])
def test_the_parquet_columns_are_the_records_as_strings(first):
    count = 2_000
    expected = [as_strings(record) for record in account_records(count, first)]
    assert account_string_batch(first, count).to_pylist() == expected


def test_a_generated_parquet_file_has_row_groups_and_every_record_once(tmp_path):
    path = tmp_path / "accounts.parquet"
    records, size = generate(path, 500_000, "parquet")
    metadata = pq.ParquetFile(path).metadata
    assert size >= 500_000 and metadata.num_rows == records
    assert metadata.num_row_groups == records // 20_000
    ids = pq.read_table(path, columns=["Id"]).column("Id").to_pylist()
    assert ids == [f"001{n:015d}" for n in range(records)]
    assert pq.read_table(path).slice(records - 3).to_pylist() == [
        as_strings(record) for record in itertools.islice(account_records(records), records - 3, None)
    ]
