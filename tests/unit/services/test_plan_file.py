"""FilePlanner against in-memory ports: how a landed file is cut into chunks, and who is told."""

from __future__ import annotations

import gzip

import pytest
from fakes import MemoryLandingObjects, RecordingQueue

from appflow_ingest.domain.landing.chunks import LandedObject
from appflow_ingest.domain.landing.keys import LandingKey
from appflow_ingest.reading.formats import CSV, GZIP_SUFFIX, JSON_DOCUMENT, JSON_LINES
from appflow_ingest.services.plan_file import FilePlanner

BUCKET = "landing"
FLOW = "sf-accounts"
RUN_KEY = f"raw/{FLOW}/exec-1/part-0000"


class RecordingRunFiles:
    """The run ledger's file side (RunFiles): each call kept."""

    def __init__(self) -> None:
        self.planned: list[tuple[str, str | None, int]] = []

    def file_planned(self, obj: LandedObject, landing: LandingKey, chunks: int) -> None:
        self.planned.append((obj.uri, landing.execution_id, chunks))


def json_lines(count: int) -> bytes:
    return b"".join(b'{"Id":"%d","Name":"account %d"}\n' % (i, i) for i in range(count))


def planner(objects, queue, *, chunk_size=100, formats=None, runs=None) -> FilePlanner:
    return FilePlanner(objects, queue, chunk_size=chunk_size, formats=formats, flows=[FLOW], runs=runs)


def test_a_json_lines_file_is_cut_into_byte_ranges_that_cover_it_exactly_once_and_every_chunk_is_queued():
    # Given a JSON Lines file of 1,000-odd bytes and 100-byte chunks
    objects, queue = MemoryLandingObjects(), RecordingQueue()
    notified = objects.put(BUCKET, RUN_KEY, json_lines(40))
    # When it is planned
    plan = planner(objects, queue).plan(notified)
    # Then the ranges are consecutive, start at 0, end at the size, and none is longer than a chunk
    ranges = [(chunk.start, chunk.end) for chunk in plan.chunks]
    assert ranges[0][0] == 0 and ranges[-1][1] == notified.size
    assert all(end == next_start for (_, end), (next_start, _) in zip(ranges, ranges[1:], strict=False))
    assert all(0 < end - start <= 100 for start, end in ranges)
    assert len(ranges) == -(-notified.size // 100)
    # And every chunk names the file's format, its pinned version and its place among the others
    assert {(c.format, c.etag, c.count) for c in plan.chunks} == {(JSON_LINES, notified.etag, len(ranges))}
    assert [c.index for c in plan.chunks] == list(range(len(ranges)))
    assert queue.sent == plan.chunks


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"Id,Name\n" + b"001,Acme\n" * 50, CSV),
        (gzip.compress(json_lines(40)), JSON_LINES + GZIP_SUFFIX),
        (b"[" + b",".join(b'{"Id":"%d"}' % i for i in range(60)) + b"]", JSON_DOCUMENT),
    ],
    ids=["csv", "gzip", "json array"],
)
def test_a_file_that_cannot_be_cut_by_byte_ranges_is_one_chunk(data, expected):
    # Given a file larger than a chunk, in a format a range cannot be aligned in
    objects, queue = MemoryLandingObjects(), RecordingQueue()
    notified = objects.put(BUCKET, RUN_KEY, data)
    assert notified.size > 100
    # When it is planned, then it is one chunk over the whole file
    plan = planner(objects, queue).plan(notified)
    assert [(c.start, c.end, c.format) for c in plan.chunks] == [(0, notified.size, expected)]


def test_the_flows_configured_format_wins_over_sniffing():
    # Given lines that sniff as JSON Lines (most of them start like objects)
    data = b"not json\n" + json_lines(20)
    objects = MemoryLandingObjects()
    notified = objects.put(BUCKET, RUN_KEY, data)
    # Then unconfigured they are JSON Lines; configured as CSV, they are CSV
    assert planner(objects, RecordingQueue()).plan(notified).format == JSON_LINES
    assert planner(objects, RecordingQueue(), formats={FLOW: "csv"}).plan(notified).format == CSV


@pytest.mark.parametrize(
    ("key", "reason"),
    [(f"raw/{FLOW}/exec-1/exec-1", "AppFlow run metadata object"), (f"raw/{FLOW}/exec-1/", "folder marker")],
)
def test_run_metadata_and_folder_markers_plan_nothing(key, reason):
    objects, queue, runs = MemoryLandingObjects(), RecordingQueue(), RecordingRunFiles()
    notified = objects.put(BUCKET, key, b'{"executionId":"exec-1"}\n')
    plan = planner(objects, queue, runs=runs).plan(notified)
    assert (plan.skipped, plan.chunks, queue.sent, runs.planned) == (reason, [], [], [])


def test_an_object_gone_before_it_is_planned_plans_nothing():
    # Given a notification for an object that no longer exists (head finds nothing)
    objects, queue, runs = MemoryLandingObjects(), RecordingQueue(), RecordingRunFiles()
    gone = LandedObject(BUCKET, RUN_KEY, 100, "etag-gone")
    # When it is planned, then nothing is queued and the run is not told
    plan = planner(objects, queue, runs=runs).plan(gone)
    assert (plan.skipped, queue.sent, runs.planned) == ("object no longer exists", [], [])


def test_the_run_is_told_once_per_file_with_its_chunk_count_before_anything_is_queued():
    # Given a run ledger that checks, when told, that nothing of the file is queued yet
    objects, queue = MemoryLandingObjects(), RecordingQueue()

    class CheckingRunFiles(RecordingRunFiles):
        def file_planned(self, obj: LandedObject, landing: LandingKey, chunks: int) -> None:
            assert queue.sent == [], "a chunk was queued before its run counted the file"
            super().file_planned(obj, landing, chunks)

    runs = CheckingRunFiles()
    notified = objects.put(BUCKET, RUN_KEY, json_lines(40))
    # When the file is planned
    plan = planner(objects, queue, runs=runs).plan(notified)
    # Then its run (the execution id in its key) is told once, with the number of chunks queued
    assert runs.planned == [(notified.uri, "exec-1", len(plan.chunks))]
    assert len(queue.sent) == len(plan.chunks) > 1
