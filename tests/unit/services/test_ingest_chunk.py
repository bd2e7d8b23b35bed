"""ChunkIngester against in-memory ports: every record read ends in one count, rejects are quarantined with why."""

from __future__ import annotations

import orjson
import pytest
from fakes import MemoryEntityStore, MemoryLandingObjects, RecordingQuarantine, RecordingQueue

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.domain.landing.keys import LandingKey
from appflow_ingest.domain.records.versions import ObjectConfig
from appflow_ingest.ports.entities import WriteFailed
from appflow_ingest.services.ingest_chunk import ChunkIngester

BUCKET = "landing"
FLOW = "sf-accounts"


def account(n: int, modified: str = "2024-04-16T19:00:00.000Z", **fields: str) -> bytes:
    return orjson.dumps({"Id": f"001{n:015d}", "LastModifiedDate": modified, **fields}) + b"\n"


class Harness:
    """The ingester and its in-memory ports."""

    def __init__(self, store: MemoryEntityStore | None = None) -> None:
        self.objects = MemoryLandingObjects(block_size=64)
        self.store = store or MemoryEntityStore()
        self.quarantine = RecordingQuarantine()
        self.queue = RecordingQueue()
        self.ingester = ChunkIngester(
            self.objects, self.store, self.quarantine, self.queue, {FLOW: ObjectConfig("Account")}, batch_size=2
        )

    def land(self, name: str, body: bytes) -> Chunk:
        """A landed JSON Lines file as one chunk, pinned to the etag it was planned at."""
        key = f"raw/{FLOW}/exec-1/{name}"
        landed = self.objects.put(BUCKET, key, body)
        landing = LandingKey(prefix="raw", flow_name=FLOW, execution_id="exec-1", file_name=name)
        return Chunk(BUCKET, key, landed.size, 0, landed.size, "jsonl", etag=landed.etag, landing=landing)

    def quarantined(self) -> list[dict]:
        return [entry for entries in self.quarantine.chunks.values() for entry in entries]


def test_every_record_read_is_written_stale_or_quarantined_with_its_offset_and_reason():
    # Given a file with three good records, a line that is not JSON and a record without its id
    harness = Harness()
    good = [account(1), account(2), account(3)]
    body = good[0] + b"{not json\n" + good[1] + b'{"Name":"no id"}\n' + good[2]
    # When its chunk is ingested
    report = harness.ingester.ingest(harness.land("part-0", body))
    # Then each record is in exactly one count
    assert (report.read, report.written, report.stale, report.quarantined) == (5, 3, 0, 2)
    assert {key.split("#")[1] for key in harness.store.items} == {f"001{n:015d}" for n in (1, 2, 3)}
    # And each reject names its offset, its kind and the field at fault
    undecodable, invalid = harness.quarantined()
    assert (undecodable["kind"], undecodable["offset"], undecodable["line"]) == (
        "undecodable",
        len(good[0]),
        "{not json",
    )
    assert (invalid["kind"], invalid["offset"], invalid["field"]) == (
        "invalid",
        len(good[0]) + len(b"{not json\n") + len(good[1]),
        "Id",
    )
    assert report.quarantine in harness.quarantine.chunks


def test_a_retry_counts_its_own_writes_written_while_another_file_with_the_same_versions_is_stale():
    harness = Harness()
    body = account(1) + account(2)
    chunk = harness.land("part-0", body)
    first = harness.ingester.ingest(chunk)
    # When the same chunk is delivered again (a retry), then another file carries the same versions
    retry = harness.ingester.ingest(chunk)
    other = harness.ingester.ingest(harness.land("part-1", body))
    # Then the retry meets its own writes and counts them written; the other file's copies are stale
    assert (first.written, first.stale) == (2, 0)
    assert (retry.written, retry.stale) == (2, 0)
    assert (other.written, other.stale) == (0, 2)
    # And a newer version is written over the stored one, an older one is stale
    newer = harness.ingester.ingest(harness.land("part-2", account(1, "2024-04-17T00:00:00.000Z")))
    older = harness.ingester.ingest(harness.land("part-3", account(2, "2024-04-01T00:00:00.000Z")))
    assert (newer.written, older.stale) == (1, 1)
    assert harness.store.stored(f"Account#001{1:015d}").version_iso == "2024-04-17T00:00:00.000Z"


def test_a_record_the_store_refuses_is_quarantined_alone_with_the_stores_reason():
    refused = f"001{2:015d}"
    harness = Harness(MemoryEntityStore(refuse={refused}))
    report = harness.ingester.ingest(harness.land("part-0", account(1) + account(2) + account(3)))
    assert (report.read, report.written, report.quarantined) == (3, 2, 1)
    (entry,) = harness.quarantined()
    assert entry["offset"] == len(account(1)) and "refused this one" in entry["reason"]


def test_a_store_that_keeps_failing_fails_the_chunk_for_a_retry_and_quarantines_nothing():
    harness = Harness(MemoryEntityStore(fail=True))
    with pytest.raises(WriteFailed):
        harness.ingester.ingest(harness.land("part-0", account(1)))
    assert harness.quarantine.chunks == {} and harness.store.items == {}


def test_a_file_replaced_after_planning_is_superseded_and_nothing_of_it_is_written():
    harness = Harness()
    chunk = harness.land("part-0", account(1))
    harness.objects.put(BUCKET, chunk.key, account(1) + account(2))  # a new version under the same key
    report = harness.ingester.ingest(chunk)
    assert report.superseded and (report.read, report.written) == (0, 0)
    assert harness.store.items == {}


def test_a_chunk_message_that_does_not_parse_is_quarantined_once_and_not_retried():
    harness = Harness()
    report = harness.ingester.ingest_message("not a chunk message")
    assert report.quarantined == 1 and report.quarantine in harness.quarantine.events
    (entry,) = harness.quarantine.events.values()
    assert entry["kind"] == "unreadable-message" and entry["message"] == "not a chunk message"
    assert harness.store.calls == 0
