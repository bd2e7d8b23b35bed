"""Ranged block reads from the landing bucket over HTTP: every byte once, and no GET wasted past a chunk."""

import pytest

from appflow_ingest.adapters.landing_objects import TAIL_BLOCK, S3LandingObjects
from appflow_ingest.domain.chunks import LandedObject

pytestmark = pytest.mark.integration


@pytest.fixture
def landed(core_stack):
    s3 = core_stack.client("s3")
    data = bytes(range(256)) * 2000  # 512,000 bytes
    s3.put_object(Bucket=core_stack.landing_bucket, Key="flow/run/part-0", Body=data)
    gets = []
    s3.meta.events.register("before-call.s3.GetObject", lambda params, **_: gets.append(params["headers"]["Range"]))
    return s3, LandedObject(core_stack.landing_bucket, "flow/run/part-0", len(data)), data, gets


@pytest.mark.parametrize(("offset", "stop"), [(0, None), (0, 100_000), (99_999, 200_000), (500_000, 512_000), (7, 8)])
def test_blocks_run_from_the_offset_to_the_end_of_the_object(landed, offset, stop):
    s3, obj, data, _ = landed
    assert b"".join(S3LandingObjects(s3, block_size=64 * 1024).blocks(obj, offset, stop)) == data[offset:]


def test_a_chunk_costs_its_blocks_and_reads_past_its_end_only_on_demand(landed):
    s3, obj, data, gets = landed
    blocks = S3LandingObjects(s3, block_size=100_000).blocks(obj, 99_999, 200_000)
    # [99_999, 200_000 + TAIL_BLOCK): a block, then the rest (under 1.25 blocks) in one more, not two.
    assert len(next(blocks)) == 100_000
    assert len(next(blocks)) == 200_000 + TAIL_BLOCK - 199_999
    assert len(gets) == 2
    # Past the margin, reads are small and happen only when pulled.
    assert len(next(blocks)) == TAIL_BLOCK
    assert len(gets) == 3
