"""AppFlow's Start/End Flow Run Report events, read as AppFlow writes them (docs/appflow.md §3).

Every count is a string, times end in ``[UTC]``, ``destination-object`` may or may not end in a
slash, ``resources`` holds a hex id rather than an ARN. The failure status string and the error
field are not documented, so a status is classified by what it says rather than matched exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appflow_ingest.domain.timestamps import InvalidTimestamp, to_epoch_millis

START_REPORT = "AppFlow Start Flow Run Report"
END_REPORT = "AppFlow End Flow Run Report"

SUCCEEDED, FAILED, CANCELED, RUNNING = "SUCCEEDED", "FAILED", "CANCELED", "RUNNING"


class RunReportRejected(ValueError):
    """A run report that cannot be recorded; the message names the field and what was expected."""

    def __init__(self, field: str, expected: str, got: Any = None) -> None:
        self.field = field
        super().__init__(f"run report field {field!r}: expected {expected}" + ("" if got is None else f", got {got!r}"))


@dataclass(frozen=True)
class FlowRunReport:
    """One Start or End Flow Run Report, as read from AppFlow's event."""

    kind: str  # "START" or "END"
    event_id: str
    execution_id: str
    flow_name: str
    trigger_type: str | None
    status: str | None  # AppFlow's own words, e.g. "Execution Successful"
    outcome: str  # SUCCEEDED, FAILED, CANCELED, RUNNING, or the status upper-cased when unknown
    source: str | None
    source_object: str | None
    destination: str | None
    destination_bucket: str | None
    destination_prefix: str  # the flow's bucket prefix, "" when files land at the flow name
    start_time: int | None  # epoch ms
    end_time: int | None
    records_processed: int | None
    records_filtered: int | None
    record_failures: int | None
    documents_processed: int | None
    bytes_processed: int | None
    error: str | None

    @property
    def landing_prefix(self) -> str:
        """Where this run's files land: ``<prefix>/<flow-name>/`` (the execution id folder follows)."""
        return f"{self.destination_prefix}/{self.flow_name}/" if self.destination_prefix else f"{self.flow_name}/"


def parse_count(value: Any, field: str) -> int | None:
    """``"17"`` -> 17 (AppFlow writes counts as strings); absent or empty -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RunReportRejected(field, "a count", value)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RunReportRejected(field, "a count (a whole number, possibly as a string)", value) from None
    if number < 0:
        raise RunReportRejected(field, "a count of zero or more", value)
    return number


def parse_report_time(value: Any, field: str) -> int | None:
    """``2021-08-24T09:02:47.643Z[UTC]`` -> epoch ms; the bracketed zone name is dropped."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.endswith("]") and "[" in text:
        text = text[: text.rindex("[")]
    try:
        return to_epoch_millis(text)
    except InvalidTimestamp:
        raise RunReportRejected(field, "a time like 2021-08-24T09:02:47.643Z[UTC]", value) from None


def parse_destination(value: Any) -> tuple[str | None, str]:
    """``s3://bucket/some/prefix/`` -> ("bucket", "some/prefix"); ``s3://bucket`` -> ("bucket", "")."""
    if not isinstance(value, str) or not value.startswith("s3://"):
        return None, ""
    bucket, _, prefix = value[5:].partition("/")
    return bucket or None, prefix.strip("/")


def classify_status(status: str | None, kind: str) -> str:
    """AppFlow's run status text as RUNNING, SUCCEEDED, CANCELED, FAILED, or the status itself in upper case."""
    if kind == "START" and not status:
        return RUNNING
    text = (status or "").lower()
    if "success" in text:
        return SUCCEEDED
    if "cancel" in text:
        return CANCELED
    if "fail" in text or "error" in text:
        return FAILED
    return (status or "UNKNOWN").upper().replace(" ", "_")


def _text(detail: Mapping[str, Any], field: str) -> str | None:
    value = detail.get(field)
    return None if value is None or value == "" else str(value)


def parse_run_report(event: Mapping[str, Any]) -> FlowRunReport:
    """The report an AppFlow run event carries; raises ``RunReportRejected`` naming the field at fault."""
    detail_type = event.get("detail-type")
    if detail_type not in (START_REPORT, END_REPORT):
        raise RunReportRejected("detail-type", f"{START_REPORT!r} or {END_REPORT!r}", detail_type)
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise RunReportRejected("detail", "an object", detail)
    execution_id = _text(detail, "execution-id")
    if not execution_id:
        raise RunReportRejected("execution-id", "the run's execution id", detail.get("execution-id"))
    flow_name = _text(detail, "flow-name")
    if not flow_name:
        raise RunReportRejected("flow-name", "the flow's name", detail.get("flow-name"))
    kind = "END" if detail_type == END_REPORT else "START"
    bucket, prefix = parse_destination(detail.get("destination-object"))
    status = _text(detail, "status")
    error = detail.get("error") or detail.get("error-message")
    return FlowRunReport(
        kind=kind,
        event_id=str(event.get("id") or ""),
        execution_id=execution_id,
        flow_name=flow_name,
        trigger_type=_text(detail, "trigger-type"),
        status=status,
        outcome=classify_status(status, kind),
        source=_text(detail, "source"),
        source_object=_text(detail, "source-object"),
        destination=_text(detail, "destination"),
        destination_bucket=bucket,
        destination_prefix=prefix,
        start_time=parse_report_time(detail.get("start-time"), "start-time"),
        end_time=parse_report_time(detail.get("end-time"), "end-time"),
        records_processed=parse_count(detail.get("num-of-records-processed"), "num-of-records-processed"),
        records_filtered=parse_count(detail.get("num-of-records-filtered"), "num-of-records-filtered"),
        record_failures=parse_count(detail.get("num-of-record-failures"), "num-of-record-failures"),
        documents_processed=parse_count(detail.get("num-of-documents-processed"), "num-of-documents-processed"),
        bytes_processed=parse_count(detail.get("data-processed"), "data-processed"),
        error=None if error is None else (error if isinstance(error, str) else str(error)),
    )
