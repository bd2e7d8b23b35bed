"""How a record's body is stored in its entity item: JSON text, or gzip-compressed JSON above a size.

DynamoDB bills a write per started KB of the whole item, and a realistic Account with the ~60
fields a full mapping brings is 2.3-3 KB of JSON: 3 write units a version as text, 2 compressed
(measured on bench/wide_accounts.py: gzip takes the JSON to ~43% of its size, 40-50 µs a record).

The item says which, so any reader can tell without guessing:

- ``record`` is a string (``S``): the record as JSON text (every body up to the threshold, and
  every item written before compression existed);
- ``record`` is binary (``B``) and ``codec`` is ``"gzip"``: the JSON text, UTF-8, gzip-compressed
  (RFC 1952). Python: ``json.loads(gzip.decompress(item["record"]["B"]))``; any gunzip reads it.

gzip because every platform's standard library reads it (Python ``gzip``/``zlib``, Java
``GZIPInputStream``, Node ``zlib.gunzipSync``, Go ``compress/gzip``), not because it compresses
best: a preset dictionary of Account's field names took bodies to ~0.7 of gzip's size, but the
dictionary would become part of the contract every reader must hold.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Mapping
from typing import Any, cast

import orjson

GZIP = "gzip"
CODECS = (GZIP,)
# Bodies of up to this many bytes of JSON stay text. An item's other attributes take ~150-250
# bytes (key, object, id, version, source URI), so from ~800 bytes of JSON an item crosses 1 KB,
# and compressing it can save a write unit. 0 turns compression off.
DEFAULT_COMPRESS_OVER = 800
# Level 1: on the wide Accounts, 5% larger than zlib's default 6 at ~30% less CPU (37 against 52
# µs a record), and no item crossed a KB boundary at one level that it did not at the other.
_LEVEL = 1
_GZIP_WBITS = 31  # zlib's container selector for the gzip format (16 + the 15-bit window)


class UnknownCodec(ValueError):
    """An item names a codec this version cannot read (written by a newer version of the stack)."""


def body_attributes(record: Mapping[str, Any], compress_over: int = DEFAULT_COMPRESS_OVER) -> dict[str, Any]:
    """The item attributes that hold ``record``: ``{"record": {"S": json}}`` or the gzip form with its ``codec``."""
    return json_body_attributes(orjson.dumps(record), compress_over)


def json_body_attributes(text: bytes, compress_over: int = DEFAULT_COMPRESS_OVER) -> dict[str, Any]:
    """``body_attributes`` of a record already encoded as JSON (UTF-8)."""
    if compress_over and len(text) > compress_over:
        packed = zlib.compress(text, _LEVEL, wbits=_GZIP_WBITS)
        if len(packed) < len(text):
            return {"record": {"B": packed}, "codec": {"S": GZIP}}
    return {"record": {"S": text.decode()}}


def decode_body(value: str | bytes | bytearray | memoryview | None, codec: str | None) -> dict[str, Any] | None:
    """The record from an item's ``record`` value and ``codec`` (as a stream image or a deserialized item holds them)."""
    if value is None:
        return None
    if codec is None:
        if not isinstance(value, str):
            raise UnknownCodec(f"record is binary but the item names no codec (expected one of {CODECS})")
        # orjson.loads returns Any: a body is the JSON object body_attributes wrote from a record.
        return cast(dict[str, Any], orjson.loads(value))
    if codec != GZIP:
        raise UnknownCodec(f"codec {codec!r}: expected one of {CODECS} (written by a newer version?)")
    if isinstance(value, str):  # as bytes(value) would: a compressed body is binary (callers decode base64)
        raise TypeError("a gzip record body must be binary, got text")
    return cast(dict[str, Any], orjson.loads(zlib.decompress(bytes(value), wbits=_GZIP_WBITS)))


def record_of_item(item: Mapping[str, Any], read_body: Callable[[str], Any] | None = None) -> dict[str, Any] | None:
    """The record of a low-level DynamoDB item (``{"record": {"S": ...}}`` / ``{"B": ...}``); None if it has none.

    An item whose body is in S3 (``record_ref``) is read with ``read_body`` when given.
    """
    value = item.get("record")
    if not value:
        ref = item.get("record_ref", {}).get("S")
        return read_body(ref) if ref and read_body is not None else None
    ((_, data),) = value.items()
    codec = item.get("codec", {}).get("S")
    return decode_body(data, codec)


def record_of_image(image: Mapping[str, Any], read_body: Callable[[str], Any] | None = None) -> dict[str, Any] | None:
    """The record of a deserialized item (a Lambda stream image, or boto3's resource layer); None if it has none.

    An item whose body is in S3 (``record_ref``, adapters/record_bodies.py) is read with
    ``read_body`` when given (None when not, or when the body is gone).
    """
    value = image.get("record")
    if value is None or value == "":
        ref = image.get("record_ref")
        return read_body(str(ref)) if ref and read_body is not None else None
    codec = image.get("codec")
    if hasattr(value, "value"):  # boto3.dynamodb.types.Binary
        value = value.value
    elif codec is not None and isinstance(value, str):
        # A Lambda stream event is JSON: binary attributes arrive base64-encoded, and Powertools'
        # deserializer passes them on as that text.
        value = base64.b64decode(value)
    return decode_body(value, codec)
