"""Line alignment: however a file is cut, the chunks together yield every line exactly once."""

import pytest

from appflow_ingest.domain.landing.chunks import plan_ranges
from appflow_ingest.reading.lines import iter_owned_lines, read_start


def blocks_of(data: bytes, offset: int, block_size: int):
    for position in range(offset, len(data), block_size):
        yield data[position : position + block_size]


def lines_by_chunks(data: bytes, cuts: list[int], block_size: int) -> list[tuple[int, bytes]]:
    bounds = [0, *cuts, len(data)]
    owned = []
    for start, end in zip(bounds, bounds[1:], strict=False):
        owned.extend(iter_owned_lines(blocks_of(data, read_start(start), block_size), start, end))
    return owned


def expected_lines(data: bytes) -> list[tuple[int, bytes]]:
    lines, offset = [], 0
    for line in data.split(b"\n"):
        lines.append((offset, line))
        offset += len(line) + 1
    if lines and lines[-1][1] == b"":
        lines.pop()  # the file ends with a newline: no line after it
    return lines


FILES = {
    "crlf": b'{"Id":"1"}\r\n{"Id":"2"}\r\n{"Id":"3"}\r\n',
    "no final newline": b'{"Id":"1"}\n{"Id":"22"}\n{"Id":"333"}',
    "empty lines": b'\n{"Id":"1"}\n\n\n{"Id":"2"}\n\n',
    "line longer than a chunk": b'{"Id":"1"}\n{"Id":"' + b"x" * 40 + b'"}\n{"Id":"3"}\n',
    "single line": b'{"Id":"only"}',
}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("block_size", [1, 3, 7, 4096])
def test_every_single_cut_position_yields_each_line_once(name, block_size):
    data = FILES[name]
    for cut in range(1, len(data)):
        assert lines_by_chunks(data, [cut], block_size) == expected_lines(data), f"cut at {cut}"


@pytest.mark.parametrize("name", FILES)
def test_every_pair_of_cuts_yields_each_line_once(name):
    data = FILES[name]
    for first in range(1, len(data)):
        for second in range(first + 1, len(data)):
            assert lines_by_chunks(data, [first, second], 5) == expected_lines(data), (first, second)


@pytest.mark.parametrize("chunk_size", [1, 2, 5, 11, 64])
def test_planned_ranges_cover_the_file_and_its_lines(chunk_size):
    data = FILES["line longer than a chunk"] + FILES["crlf"]
    ranges = plan_ranges(len(data), chunk_size)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    owned = [
        line for start, end in ranges for line in iter_owned_lines(blocks_of(data, read_start(start), 4), start, end)
    ]
    assert owned == expected_lines(data)


def test_a_reader_stops_pulling_blocks_soon_after_its_end():
    data = b"a\n" * 1000
    pulled = []

    def blocks():
        for block in blocks_of(data, 0, 10):
            pulled.append(block)
            yield block

    assert [line for _, line in iter_owned_lines(blocks(), 0, 20)] == [b"a"] * 10
    assert len(pulled) <= 3


def test_empty_range_yields_nothing():
    assert list(iter_owned_lines(iter([b"abc\n"]), 5, 5)) == []
