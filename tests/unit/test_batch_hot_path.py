"""The batch hot path (whole blocks split once, a batch decoded and versioned in one loop) gives
exactly what the one-line-at-a-time functions give: same lines, offsets, records and rejections."""

import copy

import orjson
import pytest

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.domain.records.versions import ObjectConfig, RecordRejected, to_record_version, to_record_versions
from appflow_ingest.reading import read_batches
from appflow_ingest.reading.formats import JSON_LINES
from appflow_ingest.reading.json_lines import decode_json_line_batch, decode_json_lines
from appflow_ingest.reading.lines import iter_owned_line_batches, read_start

FILES = {
    "crlf": b'{"Id":"1"}\r\n{"Id":"2"}\r\n{"Id":"3"}\r\n',
    "no final newline": b'{"Id":"1"}\n{"Id":"22"}\n{"Id":"333"}',
    "empty lines": b'\n{"Id":"1"}\n\n\n{"Id":"2"}\n\n',
    "line longer than a block": b'{"Id":"1"}\n{"Id":"' + b"x" * 40 + b'"}\n{"Id":"3"}\n',
}


def blocks_of(data, offset, block_size):
    for position in range(offset, len(data), block_size):
        yield data[position : position + block_size]


def expected_lines(data):
    lines, offset = [], 0
    for line in data.split(b"\n"):
        lines.append((offset, line))
        offset += len(line) + 1
    if lines and lines[-1][1] == b"":
        lines.pop()
    return lines


def flatten(batches):
    owned = []
    for offset, lines in batches:
        for line in lines:
            owned.append((offset, line))
            offset += len(line) + 1
    return owned


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("block_size", [1, 4, 4096])
def test_batches_carry_the_offset_of_their_first_line_at_every_cut(name, block_size):
    data = FILES[name]
    for cut in range(1, len(data)):
        owned = []
        for start, end in ((0, cut), (cut, len(data))):
            batches = list(iter_owned_line_batches(blocks_of(data, read_start(start), block_size), start, end))
            assert all(lines for _, lines in batches)
            owned.extend(flatten(batches))
        assert owned == expected_lines(data), f"cut at {cut}"


def with_offsets(offset, lines):
    for line in lines:
        yield offset, line
        offset += len(line) + 1


@pytest.mark.parametrize(
    "lines",
    [
        [b'{"Id":"1"}', b'{"Id":"2"}\r', b' {"Id":"3"} '],  # clean: the one-pass path
        [b'\xef\xbb\xbf{"Id":"1"}', b"", b"   ", b'{"Id":', b'[{"Id":"2"},{"Id":"3"}]', b'{"Id":"4"}'],
        [b'{"Id":"1"}', b"[]", b"\xff\xfe"],
    ],
)
def test_a_decoded_batch_matches_line_by_line_decoding(lines):
    batch = decode_json_line_batch(0, lines)
    one_by_one = list(decode_json_lines(with_offsets(0, lines)))
    decoded = [item for item in one_by_one if hasattr(item, "record")]
    assert batch.records == [item.record for item in decoded]
    assert batch.record_offsets() == [item.offset for item in decoded]
    assert batch.undecodable == [item for item in one_by_one if not hasattr(item, "record")]


def test_record_offsets_of_a_clean_batch_are_line_starts():
    batch = decode_json_line_batch(100, [b'{"a":1}', b'{"bb":22}', b"{}"])
    assert batch.record_offsets() == [100, 108, 118]


RECORDS = [
    {"Id": "0015g00000AbcDEAAZ", "LastModifiedDate": "2021-03-01T10:00:00.000+0000", "attributes": {"type": "Account"}},
    {"Id": " 001 ", "LastModifiedDate": "2021-03-01T10:00:00.000Z", "IsDeleted": True},
    {"Id": "001", "LastModifiedDate": "2021-03-01T10:00:00.123456+02:00", "IsDeleted": False},
    {"Id": "001", "LastModifiedDate": "2021-03-01T10:00:00"},  # naive: UTC
    {"Id": "001", "LastModifiedDate": "2021-03-01"},  # a date alone is no version
    {"Id": "001", "LastModifiedDate": ""},
    {"Id": "001", "LastModifiedDate": "yesterday"},
    {"Id": "001", "LastModifiedDate": 1614592800},  # epoch seconds
    {"Id": 42, "LastModifiedDate": "2021-03-01T10:00:00Z"},
    {"Id": "", "LastModifiedDate": "2021-03-01T10:00:00Z"},
    {"Id": "   ", "LastModifiedDate": "2021-03-01T10:00:00Z"},
    {"LastModifiedDate": "2021-03-01T10:00:00Z"},
    {"Id": "001", "LastModifiedDate": "2021-03-01T10:00:00Z", "IsDeleted": "true"},
    {"Id": "001", "LastModifiedDate": "2021-03-01T10:00:00Z", "IsDeleted": "maybe"},
    {"Id": "001", "LastModifiedDate": "2021-03-01T10:00:00Z", "IsDeleted": None},
    {"Id": "a0B5g00000XyZabEAF", "LastModifiedDate": "2021-03-01T10:00:00Z"},  # custom object, no type
    {"Id": "a0B", "LastModifiedDate": "2021-03-01T10:00:00Z", "attributes": {"type": "Thing__c"}},
    [1, 2],
    "text",
    None,
]


def fresh(records):
    return copy.deepcopy(records)


@pytest.mark.parametrize("config", [None, ObjectConfig("Account")])
def test_batch_versioning_matches_one_record_at_a_time(config):
    expected_versions, expected_rejected = [], []
    for index, record in enumerate(fresh(RECORDS)):
        try:
            expected_versions.append(to_record_version(record, config))
        except RecordRejected as error:
            expected_rejected.append((index, record, str(error)))
    versions, rejected = to_record_versions(fresh(RECORDS), config)
    assert versions == expected_versions
    assert [(index, record, str(error)) for index, record, error in rejected] == expected_rejected
    assert all(type(version.deleted) is bool for version in versions)


class SmallBlocks:
    """Chunk bytes in blocks much smaller than a batch, as the S3 adapter's streamed reads give them."""

    def __init__(self, data: bytes, block_size: int) -> None:
        self._data, self._block_size = data, block_size

    def blocks(self, obj, offset, stop=None):
        return blocks_of(self._data, offset, self._block_size)


@pytest.mark.parametrize(("start", "block_size"), [(0, 7), (0, 1000), (53, 7), (53, 64)])
def test_json_lines_batches_are_full_whatever_the_block_size(start, block_size):
    data = b"".join(b'{"Id":"%d","n":"%s"}\n' % (i, b"x" * (i % 13)) for i in range(95))
    chunk = Chunk(bucket="b", key="k", size=len(data), start=start, end=len(data), format=JSON_LINES)
    batches = list(read_batches(chunk, SmallBlocks(data, block_size), max_records=10))
    owned = [(offset, line) for offset, line in expected_lines(data) if offset >= start]
    assert [len(batch.records) for batch in batches[:-1]] == [10] * (len(batches) - 1)
    assert [record["Id"] for batch in batches for record in batch.records] == [
        orjson.loads(line)["Id"] for _, line in owned
    ]
    # Each batch starts on the line boundary a hand-over would resume from.
    assert [batch.offset for batch in batches] == [offset for offset, _ in owned[::10]]
