"""Which AppFlow output format a file holds, told from configuration or from its first bytes.

AppFlow file names are opaque (often no extension), so the content decides when the flow's
configuration does not.
"""

from __future__ import annotations

import zlib

JSON_LINES = "jsonl"
JSON_DOCUMENT = "json"  # one top-level JSON array (or object) spanning the file
CSV = "csv"
PARQUET = "parquet"
GZIP_SUFFIX = ".gz"

_ALIASES = {"json": JSON_LINES, "jsonl": JSON_LINES, "ndjson": JSON_LINES, "csv": CSV, "parquet": PARQUET}
# The format names a flow may be configured with (FLOW_OBJECTS' "format").
FORMAT_NAMES = frozenset(_ALIASES)

SNIFF_BYTES = 4096

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_UTF8_BOM = b"\xef\xbb\xbf"


def detect_format(head: bytes, configured: str | None = None) -> str:
    """Return the format of a file from its first bytes, the flow's configured format breaking ties.

    AppFlow's ``fileType`` JSON means JSON Lines; a file whose first byte is ``[`` is a JSON
    document (an array) whatever the configuration says. Gzip is not an AppFlow option but is
    accepted: its format gets a ``.gz`` suffix and the file is read as one stream.
    """
    if head.startswith(_GZIP_MAGIC):
        # What is inside decides, as for a plain file: a gzipped CSV named without an extension
        # was read as JSON Lines, every row quarantined.
        inner = detect_format(_gunzipped_head(head), configured)
        return (inner if inner in (JSON_LINES, CSV) else _ALIASES.get(configured or "", JSON_LINES)) + GZIP_SUFFIX
    if head.startswith(_PARQUET_MAGIC):
        return PARQUET
    text = head.removeprefix(_UTF8_BOM).lstrip()
    if text.startswith(b"["):
        return JSON_DOCUMENT
    if text.startswith(b"{"):
        return JSON_LINES
    if configured:
        return _ALIASES.get(configured.lower(), configured.lower())
    if _mostly_json_objects(text.split(b"\n")[1:]):
        # JSON Lines whose first line is broken: read as CSV, every record would be rejected
        # (the broken line is only one bad record, quarantined with its offset).
        return JSON_LINES
    return CSV if text else JSON_LINES


def _mostly_json_objects(lines: list[bytes]) -> bool:
    """Whether most non-blank lines start like a JSON object (a CSV record never does)."""
    lines = [line for line in lines if line.strip()]
    return bool(lines) and 2 * sum(line.lstrip().startswith(b"{") for line in lines) > len(lines)


def is_splittable(file_format: str) -> bool:
    """Whether a file can be cut into byte ranges that readers align on their own.

    JSON Lines re-aligns on newlines and Parquet on row groups (a range owns the row groups
    starting in it). CSV cannot: whether an offset lies inside a quoted field is unknown without
    reading from the start, so a CSV file is one chunk read front to back (with hand-over).
    """
    return file_format in (JSON_LINES, PARQUET)


def _gunzipped_head(head: bytes) -> bytes:
    """The first decompressed bytes of a gzip stream's first bytes (b"" if they do not decompress)."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, SNIFF_BYTES)
    except zlib.error:
        return b""
