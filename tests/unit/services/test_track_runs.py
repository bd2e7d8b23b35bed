"""RunTracker against an in-memory ledger: when a run settles, how, and that it is published once."""

from __future__ import annotations

from dataclasses import dataclass

from fakes import MemoryRunLedger, RecordingPublisher

from appflow_ingest.domain.bus_events.flow_runs import FLOW_RUN_COMPLETED, FLOW_RUN_INCOMPLETE
from appflow_ingest.domain.landing.chunks import Chunk, HandOver, LandedObject
from appflow_ingest.domain.landing.keys import LandingKey
from appflow_ingest.services.track_runs import RunTracker

FLOW, EXECUTION = "sf-accounts", "exec-1"
LANDING = LandingKey(prefix="raw", flow_name=FLOW, execution_id=EXECUTION, file_name="part-0")


@dataclass
class Finished:
    """A chunk's report as the ingest path gives it (FinishedChunk)."""

    read: int
    written: int
    stale: int = 0
    quarantined: int = 0
    handed_over_at: int | None = None


def end_report(processed: int, status: str = "Execution Successful", event_id: str = "end-1") -> dict:
    return {
        "id": event_id,
        "detail-type": "AppFlow End Flow Run Report",
        "detail": {
            "flow-name": FLOW,
            "execution-id": EXECUTION,
            "destination": "S3",
            "destination-object": "s3://landing/raw/",
            "status": status,
            "num-of-records-processed": str(processed),
        },
    }


def chunk(index: int, count: int, reingestion: str | None = None) -> Chunk:
    size = 100 * count
    return Chunk(
        bucket="landing",
        key=f"raw/{FLOW}/{EXECUTION}/part-0",
        size=size,
        start=100 * index,
        end=100 * (index + 1),
        format="jsonl",
        etag="e1",
        landing=LANDING,
        index=index,
        count=count,
        reingestion=reingestion,
    )


def tracker() -> tuple[RunTracker, MemoryRunLedger, RecordingPublisher]:
    ledger, publisher = MemoryRunLedger(), RecordingPublisher()
    return RunTracker(ledger, publisher, event_source="appflow-ingest", landing_bucket="landing"), ledger, publisher


def plan_file(runs: RunTracker, chunks: int) -> None:
    runs.file_planned(LandedObject("landing", f"raw/{FLOW}/{EXECUTION}/part-0", 100 * chunks, "e1"), LANDING, chunks)


def test_a_run_settles_only_when_the_end_report_and_every_planned_chunk_are_in():
    # Given a run with one file of two chunks
    runs, _ledger, publisher = tracker()
    plan_file(runs, 2)
    # When the first chunk finishes and the End report arrives, then nothing is published yet
    runs.chunk_finished(chunk(0, 2), Finished(read=3, written=3))
    assert runs.record_report(end_report(processed=5)).settled is None
    assert publisher.events == []
    # When the last chunk finishes, then the run is settled and reconciled: completed, once
    runs.chunk_finished(chunk(1, 2), Finished(read=2, written=1, stale=1))
    [event] = publisher.events
    assert event.detail_type == FLOW_RUN_COMPLETED
    assert event.detail["ingested"] == {
        "files": 1,
        "chunks": 2,
        "read": 5,
        "written": 4,
        "stale": 1,
        "quarantined": 0,
    }


def test_a_run_whose_records_do_not_add_up_is_incomplete_and_says_why():
    # Given a run AppFlow says processed 5 records, of which the files gave 3
    runs, _ledger, publisher = tracker()
    plan_file(runs, 1)
    runs.chunk_finished(chunk(0, 1), Finished(read=3, written=3))
    # When its End report arrives, then it is published as incomplete, naming the gap
    assert runs.record_report(end_report(processed=5)).settled == "INCOMPLETE"
    [event] = publisher.events
    assert event.detail_type == FLOW_RUN_INCOMPLETE
    assert event.detail["missing"] == 2
    assert event.detail["reasons"] == [
        "2 of the 5 records AppFlow processed were not read from the landing bucket (3 read from 1 file(s))"
    ]


def test_a_failed_run_is_incomplete_even_when_the_counts_agree():
    runs, _ledger, publisher = tracker()
    plan_file(runs, 1)
    runs.chunk_finished(chunk(0, 1), Finished(read=4, written=4))
    runs.record_report(end_report(processed=4, status="Execution Failed"))
    [event] = publisher.events
    assert event.detail_type == FLOW_RUN_INCOMPLETE
    assert event.detail["reasons"] == ["AppFlow ended the run with status 'Execution Failed'"]


def test_reports_and_chunks_delivered_twice_publish_the_settlement_once_and_count_once():
    # Given a settled run
    runs, ledger, publisher = tracker()
    plan_file(runs, 1)
    assert runs.chunk_finished(chunk(0, 1), Finished(read=4, written=4)) is True
    runs.record_report(end_report(processed=4))
    # When the chunk, the file and the End report are delivered again
    assert runs.chunk_finished(chunk(0, 1), Finished(read=4, written=4)) is False
    plan_file(runs, 1)
    outcome = runs.record_report(end_report(processed=4))
    # Then the repeat is recorded, but nothing is counted or published a second time
    assert (outcome.recorded, outcome.settled) == (True, None)
    assert [event.detail_type for event in publisher.events] == [FLOW_RUN_COMPLETED]
    assert len(ledger.published) == 1
    assert ledger.read(EXECUTION).read == 4


def test_a_re_ingested_chunk_is_counted_on_its_re_ingestion_and_the_run_stays_as_settled():
    # Given a settled run
    runs, ledger, publisher = tracker()
    plan_file(runs, 1)
    runs.chunk_finished(chunk(0, 1), Finished(read=4, written=4))
    runs.record_report(end_report(processed=4))
    # When one of its chunks is re-ingested
    assert runs.chunk_finished(chunk(0, 1, reingestion="r1"), Finished(read=4, written=0, stale=4)) is True
    # Then the re-ingestion has its own counts; the run's and what was published stay
    assert ledger.runs[EXECUTION].reingestions["r1"] == {
        "chunks_finished": 1,
        "read": 4,
        "written": 0,
        "stale": 4,
        "quarantined": 0,
    }
    assert (ledger.read(EXECUTION).read, ledger.read(EXECUTION).stale) == (4, 0)
    assert len(publisher.events) == 1


def test_a_hand_over_counts_one_more_chunk_and_the_first_writers_offset_wins():
    # Given a one-chunk file whose chunk hands over at offset 40
    runs, ledger, publisher = tracker()
    plan_file(runs, 1)
    assert runs.hand_over(chunk(0, 1), HandOver(40)) == HandOver(40)
    # When a duplicate invocation of the chunk hands over later, then it gets the first offset
    assert runs.hand_over(chunk(0, 1), HandOver(70)) == HandOver(40)
    assert runs.recorded_hand_over(chunk(0, 1)) == HandOver(40)
    # And the run waits for the remainder: planned 2, not 3
    assert ledger.read(EXECUTION).chunks_planned == 2
    runs.chunk_finished(chunk(0, 1), Finished(read=2, written=2, handed_over_at=40))
    runs.record_report(end_report(processed=4))
    assert publisher.events == []
    runs.chunk_finished(chunk(0, 1).remainder_from(40), Finished(read=2, written=2))
    assert [event.detail_type for event in publisher.events] == [FLOW_RUN_COMPLETED]


def test_a_report_for_another_bucket_is_ignored_and_a_malformed_one_rejected():
    runs, ledger, _publisher = tracker()
    elsewhere = end_report(processed=1)
    elsewhere["detail"]["destination-object"] = "s3://another-bucket/raw/"
    assert runs.record_report(elsewhere).ignored == "lands in another-bucket, not in landing"
    malformed = end_report(processed=1)
    del malformed["detail"]["execution-id"]
    outcome = runs.record_report(malformed)
    assert (outcome.recorded, outcome.execution_id) == (False, None)
    assert ledger.runs == {}
