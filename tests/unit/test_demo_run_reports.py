"""The End Flow Run Reports the demo sends for its generated runs, and how it checks the ledger."""

import json
from datetime import UTC, datetime
from pathlib import Path

from appflow_ingest.domain.runs.reports import parse_run_report
from appflow_local.runs.demo import run_differences
from appflow_local.sample_run.generator import end_flow_run_report, generate_run

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "appflow-end-flow-run-report.json"
ENDED = datetime(2024, 4, 16, 7, 0, tzinfo=UTC)


def test_one_report_per_run_shaped_like_appflows_and_counting_every_line_written():
    run = generate_run(accounts=30, opportunities=40, seed=11)
    runs = run.flow_runs()
    assert len(runs) == 6 and sum(len(files) for files in runs.values()) == len(run.files)
    sample = json.loads(SAMPLE.read_text())
    for execution_id, files in runs.items():
        event = end_flow_run_report(files, "landing", ended=ENDED, prefix="raw/sf")
        assert set(event) == set(sample) and set(event["detail"]) == set(sample["detail"])
        counts = [v for k, v in event["detail"].items() if k.startswith(("num-of-", "data-"))]
        assert counts and all(isinstance(v, str) and v.isdigit() for v in counts)
        assert event["detail"]["end-time"] == "2024-04-16T07:00:00.000Z[UTC]"
        report = parse_run_report(event)
        assert (report.kind, report.execution_id, report.outcome) == ("END", execution_id, "SUCCEEDED")
        # malformed lines count: AppFlow wrote them, and the ledger counts them as read (quarantined)
        assert report.records_processed == sum(f.body.count(b"\n") for f in files)
        assert (report.destination_bucket, report.landing_prefix) == ("landing", f"raw/sf/{files[0].flow}/")
        assert all(f.key.startswith(f"{files[0].flow}/") and execution_id in f.key for f in files)
    # the run with the truncated and otherwise malformed lines is counted with them
    malformed = next(files for files in runs.values() if any(b"Truncated by a cancelled run" in f.body for f in files))
    report = parse_run_report(end_flow_run_report(malformed, "landing", ended=ENDED, short_by=3))
    assert report.records_processed == sum(f.lines for f in malformed) + 3


def test_the_demo_fails_unless_every_reported_run_reconciled():
    reports = [{"detail": {"execution-id": e}} for e in ("a", "b", "c")]
    completed = {"outcome": "COMPLETED", "reasons": []}
    runs = [{"execution_id": "a", **completed}, {"execution_id": "b", **completed}]
    assert run_differences(reports, [*runs, {"execution_id": "c", **completed}]) == []
    assert run_differences(reports, runs) == ["run c is not in the run ledger"]
    short = {"execution_id": "c", "outcome": "INCOMPLETE", "reasons": ["2 of the 9 records ..."]}
    assert run_differences(reports, [*runs, short]) == [
        "run c: INCOMPLETE, expected COMPLETED (2 of the 9 records ...)"
    ]
    unsettled = {"execution_id": "c", "outcome": None, "reasons": []}
    assert run_differences(reports, [*runs, unsettled]) == ["run c: UNSETTLED, expected COMPLETED (not settled)"]
    assert run_differences(reports[:2], [*runs, short]) == ["run c is in the ledger without a report"]
