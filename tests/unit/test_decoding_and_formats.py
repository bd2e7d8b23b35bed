import gzip

import pytest

from appflow_ingest.reading.decoded import Decoded, Undecodable
from appflow_ingest.reading.formats import detect_format
from appflow_ingest.reading.json_lines import decode_json_document, decode_json_lines


def test_json_lines_keep_offsets_and_report_what_does_not_parse():
    lines = [
        (0, b'\xef\xbb\xbf{"Id":"1"}\r'),
        (12, b""),
        (13, b"   "),
        (17, b'{"Id":'),
        (24, b'[{"Id":"2"},{"Id":"3"}]'),
    ]
    items = list(decode_json_lines(lines))
    assert items[0] == Decoded(0, {"Id": "1"})
    assert isinstance(items[1], Undecodable) and items[1].offset == 17 and "expected one JSON object" in items[1].reason
    assert items[2:] == [Decoded(24, {"Id": "2"}), Decoded(24, {"Id": "3"})]


def test_a_json_document_yields_its_elements():
    assert list(decode_json_document(0, b'[{"a":1},{"a":2}]')) == [Decoded(0, {"a": 1}), Decoded(0, {"a": 2})]
    assert isinstance(next(decode_json_document(0, b"[{")), Undecodable)


def test_a_json_document_may_start_with_a_byte_order_mark():
    # detect_format calls a BOM-prefixed "[" a JSON document; orjson alone refuses the BOM.
    assert list(decode_json_document(0, b'\xef\xbb\xbf[{"a":1}]')) == [Decoded(3, {"a": 1})]


def test_json_lines_whose_first_line_is_an_array_are_decoded_line_by_line():
    items = list(decode_json_document(0, b'[{"a":1},{"a":2}]\n{broken\n{"a":3}'))
    assert items[:2] == [Decoded(0, {"a": 1}), Decoded(0, {"a": 2})]
    assert isinstance(items[2], Undecodable) and items[2].offset == 18
    assert items[3] == Decoded(26, {"a": 3})
    # a pretty-printed array that does not parse stays one undecodable document (not one per line)
    assert len(list(decode_json_document(0, b'[\n  {"a": 1},\n  {"a": \n'))) == 1


@pytest.mark.parametrize(
    ("head", "configured", "expected"),
    [
        (b'{"Id":"1"}\n', None, "jsonl"),
        (b'{"Id":"1"}\n', "json", "jsonl"),
        (b'  [\n {"Id":"1"}', "json", "json"),
        (b"PAR1\x15\x04", None, "parquet"),
        (b"\x1f\x8b\x08\x00", None, "jsonl.gz"),
        (b"Id,Name\n1,Acme\n", None, "csv"),
        (b'"Id","Name"\n', "csv", "csv"),
        (b'\xef\xbb\xbf{"Id":"1"}', None, "jsonl"),
        # gzip: what is inside decides, even from the first bytes of a longer stream
        (gzip.compress(b"Id,Name\r\n1,Acme\r\n" * 2000, mtime=0)[:300], None, "csv.gz"),
        (gzip.compress(b'{"Id":"1"}\n', mtime=0), "csv", "jsonl.gz"),
        (gzip.compress(b"Id,Name\n", mtime=0), "json", "jsonl.gz"),  # ambiguous text: the configuration decides
        (b"\x1f\x8bnot really gzip", None, "jsonl.gz"),
        # JSON Lines whose first line lost its "{": the lines after it decide, not the first alone
        (b'"Id": "1"}\n{"Id": "2"}\n{"Id": "3"}\n', None, "jsonl"),
        (b'Id,Name\n"{1}",A\n2,B\n', None, "csv"),
    ],
)
def test_format_is_told_from_content_first(head, configured, expected):
    assert detect_format(head, configured) == expected
