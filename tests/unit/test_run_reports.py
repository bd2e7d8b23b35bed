import pytest

from appflow_ingest.domain.runs.ledger import COMPLETED, INCOMPLETE, RunState, settle
from appflow_ingest.domain.runs.reports import (
    RunReportRejected,
    classify_status,
    parse_count,
    parse_destination,
    parse_report_time,
    parse_run_report,
)

# The real End event quoted in docs/appflow.md §3 (aws-samples/aws-ai-appflow-veeva-integration).
REAL_END = {
    "version": "0", "id": "d314f162-1ab3-0f90-b46d-f5fc70512f10", "detail-type": "AppFlow End Flow Run Report",
    "source": "aws.appflow", "account": "123456789012", "time": "2021-08-24T09:06:21Z", "region": "us-east-1",
    "resources": ["12816f196abcfb429e2ab7d71a8b3493"],
    "detail": {"flow-name": "veeva-demo", "created-by": "arn:aws:sts::123456789012:assumed-role/Admin/Admin-Role",
        "flow-arn": "arn:aws:appflow:us-east-1:123456789012:flow/veeva-demo", "source": "VEEVA/veeva-appflow-connection",
        "destination": "S3", "source-object": "documents/types/component__c", "destination-object": "s3://veeva-test-bucket",
        "trigger-type": "ONDEMAND", "num-of-records-processed": "17", "execution-id": "9aa00099-9943-449a-9c7a-488dbc801242",
        "num-of-records-filtered": "0", "start-time": "2021-08-24T09:02:47.643Z[UTC]", "num-of-documents-processed": "29",
        "end-time": "2021-08-24T09:06:20.871Z[UTC]", "num-of-record-failures": "0", "data-processed": "36406626",
        "status": "Execution Successful"},
}  # fmt: skip


def test_the_real_end_report_parses():
    report = parse_run_report(REAL_END)
    assert (report.kind, report.execution_id, report.flow_name) == (
        "END",
        "9aa00099-9943-449a-9c7a-488dbc801242",
        "veeva-demo",
    )
    assert (report.records_processed, report.documents_processed, report.bytes_processed) == (17, 29, 36406626)
    assert report.start_time == 1629795767643 and report.end_time == 1629795980871
    assert (report.destination_bucket, report.destination_prefix, report.landing_prefix) == (
        "veeva-test-bucket",
        "",
        "veeva-demo/",
    )
    assert report.outcome == "SUCCEEDED" and report.trigger_type == "ONDEMAND"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("s3://b", ("b", "")),
        ("s3://b/", ("b", "")),
        ("s3://b/raw/sf", ("b", "raw/sf")),
        ("s3://b/raw/sf/", ("b", "raw/sf")),
        ("S3", (None, "")),
    ],
)
def test_destination_object_with_or_without_a_trailing_slash(value, expected):
    assert parse_destination(value) == expected


def test_counts_and_times_as_appflow_writes_them():
    assert parse_count("17", "n") == 17 and parse_count(17, "n") == 17 and parse_count("", "n") is None
    assert parse_report_time("2021-08-24T09:02:47.643Z[UTC]", "t") == 1629795767643
    assert parse_report_time("2021-08-24T09:02:47.643Z", "t") == 1629795767643
    with pytest.raises(RunReportRejected, match="num-of-records-processed"):
        parse_count("seventeen", "num-of-records-processed")
    with pytest.raises(RunReportRejected, match="start-time"):
        parse_report_time("soon[UTC]", "start-time")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("Execution Successful", "SUCCEEDED"),
        ("Execution Failed", "FAILED"),
        ("Execution Cancelled", "CANCELED"),
        ("Odd State", "ODD_STATE"),
    ],
)
def test_status_is_classified_by_what_it_says(status, outcome):
    assert classify_status(status, "END") == outcome


def test_a_report_without_an_execution_id_is_rejected_naming_the_field():
    event = {**REAL_END, "detail": {**REAL_END["detail"], "execution-id": ""}}
    with pytest.raises(RunReportRejected, match="execution-id"):
        parse_run_report(event)


def run(**fields):
    base = {"execution_id": "x", "reported": True, "appflow_status": "Execution Successful", "appflow_outcome": "SUCCEEDED",
            "records_processed": 5, "chunks_planned": 2, "chunks_finished": 2, "read": 5, "files_seen": 1}  # fmt: skip
    return RunState(**{**base, **fields})


def test_settling_needs_the_report_and_every_chunk():
    assert settle(run(reported=False)) is None
    assert settle(run(chunks_finished=1)) is None
    assert settle(run()).outcome == COMPLETED and settle(run()).reasons == ()


def test_mismatches_and_failures_say_why():
    assert "2 of the 5 records" in settle(run(read=3)).reasons[0]
    assert "7 records read" in settle(run(read=7)).reasons[0]
    failed = settle(run(appflow_outcome="FAILED", appflow_status="Execution Failed", appflow_error="quota"))
    assert failed.outcome == INCOMPLETE and "quota" in failed.reasons[1]
    assert settle(run(read=3)).signature != settle(run(read=5)).signature
    assert settle(run()).signature == settle(run()).signature


def test_an_unreported_run_shows_as_such():
    assert run(reported=False).status == "UNREPORTED"
    assert run(reported=False, started=True).status == "RUNNING"
