"""Streamed ranged reads from the landing bucket over HTTP: every byte once, one GET per segment,
no GET wasted past a chunk, and a body that breaks mid-stream resumed where it broke."""

import pytest
from botocore.exceptions import ResponseStreamingError

from appflow_ingest.adapters.landing_objects import READ_ATTEMPTS, TAIL_BLOCK, S3LandingObjects
from appflow_ingest.domain.landing.chunks import LandedObject

pytestmark = pytest.mark.integration


@pytest.fixture
def landed(core_stack):
    s3 = core_stack.client("s3")
    data = bytes(range(256)) * 2000  # 512,000 bytes
    s3.put_object(Bucket=core_stack.landing_bucket, Key="flow/run/part-0", Body=data)
    gets = []
    s3.meta.events.register("before-call.s3.GetObject", lambda params, **_: gets.append(params["headers"]["Range"]))
    return s3, LandedObject(core_stack.landing_bucket, "flow/run/part-0", len(data)), data, gets


class BreakingBody:
    """A GET body whose connection drops after ``good`` bytes, as botocore reports it."""

    def __init__(self, body, good: int) -> None:
        self._body, self._left, self.closed = body, good, False

    def read(self, amount: int) -> bytes:
        if amount > self._left:  # the bytes of a read that breaks are lost with it
            raise ResponseStreamingError(error="Connection broken: IncompleteRead")
        self._left -= amount
        return self._body.read(amount)

    def close(self) -> None:
        self.closed = True
        self._body.close()


def break_bodies(s3, good_bytes: list[int]) -> list[BreakingBody]:
    """The next GETs' bodies break after these many bytes each; later GETs are left intact."""
    broken: list[BreakingBody] = []

    def after_get(parsed, **_):
        if len(broken) < len(good_bytes):
            parsed["Body"] = BreakingBody(parsed["Body"], good_bytes[len(broken)])
            broken.append(parsed["Body"])

    s3.meta.events.register("after-call.s3.GetObject", after_get)
    return broken


@pytest.mark.parametrize(("offset", "stop"), [(0, None), (0, 100_000), (99_999, 200_000), (500_000, 512_000), (7, 8)])
def test_blocks_run_from_the_offset_to_the_end_of_the_object(landed, offset, stop):
    s3, obj, data, _ = landed
    assert b"".join(S3LandingObjects(s3, block_size=64 * 1024).blocks(obj, offset, stop)) == data[offset:]


def test_a_chunk_costs_one_get_and_reads_past_its_end_only_on_demand(landed):
    s3, obj, data, gets = landed
    blocks = S3LandingObjects(s3, block_size=40_000).blocks(obj, 99_999, 200_000)
    # [99_999, 200_000 + TAIL_BLOCK) streamed by one GET, 40,000 bytes a block.
    streamed = [next(blocks) for _ in range(5)]
    assert [len(block) for block in streamed] == [40_000] * 4 + [200_000 + TAIL_BLOCK - 99_999 - 160_000]
    assert gets == [f"bytes=99999-{200_000 + TAIL_BLOCK - 1}"]
    # Past the margin, reads are small and happen only when pulled.
    assert len(next(blocks)) == TAIL_BLOCK
    assert len(gets) == 2


def test_a_long_range_is_read_in_segments_of_one_get_each(landed):
    s3, obj, data, gets = landed
    objects = S3LandingObjects(s3, block_size=30_000, segment_size=100_000)
    assert b"".join(objects.blocks(obj, 12_345)) == data[12_345:]
    assert gets == ["bytes=12345-112344", "bytes=112345-212344", "bytes=212345-312344", "bytes=312345-412344",
                    "bytes=412345-511999"]  # fmt: skip


def test_a_chunk_a_little_longer_than_a_segment_is_still_one_get(landed):
    s3, obj, data, gets = landed
    objects = S3LandingObjects(s3, block_size=100_000, segment_size=300_000)
    assert b"".join(objects.blocks(obj, 0, 300_000)) == data
    assert gets[0] == f"bytes=0-{300_000 + TAIL_BLOCK - 1}"  # the chunk and its tail margin
    assert gets[1:] == ["bytes=365536-431071", "bytes=431072-511999"]  # pulled past it: 64 KiB, doubling


def test_a_body_that_breaks_mid_stream_is_resumed_from_the_first_byte_not_read(landed):
    s3, obj, data, gets = landed
    broken = break_bodies(s3, [70_000, 5])  # the first GET breaks in its third block, its retry in its first
    blocks = list(S3LandingObjects(s3, block_size=30_000).blocks(obj, 1_000, 400_000))
    assert b"".join(blocks) == data[1_000:]
    assert gets[:3] == ["bytes=1000-465535", "bytes=61000-465535", "bytes=61000-465535"]
    assert all(body.closed for body in broken)


def test_a_body_that_keeps_breaking_fails_the_read(landed):
    s3, obj, data, gets = landed
    break_bodies(s3, [0] * READ_ATTEMPTS)
    with pytest.raises(ResponseStreamingError):
        list(S3LandingObjects(s3).blocks(obj, 0))
    assert len(gets) == READ_ATTEMPTS


def test_a_reader_that_stops_early_releases_its_get(landed):
    s3, obj, data, gets = landed
    bodies = break_bodies(s3, [len(data) + 1])  # never breaks: only watches close()
    blocks = S3LandingObjects(s3, block_size=10_000).blocks(obj, 0)
    assert next(blocks) == data[:10_000]
    assert not bodies[0].closed
    blocks.close()  # a hand-over stops pulling blocks
    assert bodies[0].closed
