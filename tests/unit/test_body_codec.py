"""How record bodies are stored: JSON text up to a size, gzip above it, and read back either way."""

import gzip
import json

import pytest

from appflow_ingest.domain.records.body_codec import (
    GZIP,
    UnknownCodec,
    body_attributes,
    decode_body,
    record_of_image,
    record_of_item,
)

SMALL = {"Id": "001", "Name": "Acme"}
WIDE = {"Id": "001", "Name": "Acme", "Description": "renewal contract regional office " * 40, "Ümlaut": "Zürich ✓"}


def test_a_small_body_stays_json_text():
    assert body_attributes(SMALL) == {"record": {"S": '{"Id":"001","Name":"Acme"}'}}


def test_a_body_over_the_threshold_is_gzip_and_says_so():
    stored = body_attributes(WIDE, compress_over=800)
    assert stored["codec"] == {"S": GZIP}
    assert len(stored["record"]["B"]) < len(json.dumps(WIDE)) / 3
    # what a consumer with nothing but the standard library does
    assert json.loads(gzip.decompress(stored["record"]["B"])) == WIDE
    assert record_of_item(stored) == WIDE


def test_zero_turns_compression_off_and_incompressible_bodies_stay_text():
    assert "codec" not in body_attributes(WIDE, compress_over=0)
    random_text = {"x": "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(400))}
    assert body_attributes(random_text, compress_over=10).get("codec") in (None, {"S": GZIP})


def test_images_and_items_read_alike():
    stored = body_attributes(WIDE, compress_over=800)
    assert record_of_image({"record": stored["record"]["B"], "codec": "gzip"}) == WIDE
    assert record_of_image({"record": '{"Id":"001","Name":"Acme"}'}) == SMALL
    assert record_of_image({}) is None and record_of_item({}) is None


def test_an_unknown_codec_is_named():
    with pytest.raises(UnknownCodec, match="zstd"):
        decode_body(b"...", "zstd")
    with pytest.raises(UnknownCodec, match="names no codec"):
        decode_body(b"...", None)


def test_a_stream_image_holds_binary_as_base64_text():
    import base64

    stored = body_attributes(WIDE, compress_over=800)
    assert record_of_image({"record": base64.b64encode(stored["record"]["B"]).decode(), "codec": "gzip"}) == WIDE
