"""Track AppFlow runs: the ledger fed from both sides, settled and published when both are in.

- The planner counts each file of a run and its chunks (``file_planned``).
- The ingest path counts each finished chunk and its records by outcome (``chunk_finished``); a
  hand-over is recorded first (``hand_over``, before the remainder is queued): its offset, first
  writer wins, and the remainder as one more planned chunk. A re-ingested chunk
  (``appflow-ingest reingest``) counts both on its re-ingestion, never on the run.
- The run-report function records AppFlow's Start/End reports (``record_report``).

After each, the run is settled if it can be (End report in, no chunk pending) and a
``FlowRun Completed`` or ``FlowRun Incomplete`` event is published, unless the same settlement
was published already. Publishing comes before marking it published: a crash in between
publishes again with the same event id (at-least-once, like every event here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from appflow_ingest.domain.bus_events.flow_runs import flow_run_event
from appflow_ingest.domain.landing.chunks import Chunk, HandOver, LandedObject
from appflow_ingest.domain.landing.keys import LandingKey
from appflow_ingest.domain.runs.ledger import COMPLETED, RunState, settle
from appflow_ingest.domain.runs.reports import FlowRunReport, RunReportRejected, parse_run_report
from appflow_ingest.observability import correlate, emit_counts, logger, metrics
from appflow_ingest.ports.bus import EventPublisher
from appflow_ingest.ports.runs import FinishedChunk, RunLedger


@dataclass
class ReportOutcome:
    """What became of one of AppFlow's flow run reports: recorded or ignored (why), and the run's settlement."""

    execution_id: str | None
    recorded: bool
    ignored: str | None = None
    settled: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The outcome as a JSON-ready dict (the handler's response)."""
        return dict(self.__dict__)


class RunTracker:
    """The run ledger's keeper: counts files, chunks and records per AppFlow run and settles each run once."""

    def __init__(
        self, ledger: RunLedger, publisher: EventPublisher, *, event_source: str, landing_bucket: str = ""
    ) -> None:
        self._ledger = ledger
        self._publisher = publisher
        self._event_source = event_source
        self._landing_bucket = landing_bucket

    # ------------------------------------------------------------------ files
    def file_planned(self, obj: LandedObject, landing: LandingKey, chunks: int) -> None:
        """Count a planned file and its chunks in its run, once (nothing for a file outside any run)."""
        if not landing.execution_id:
            return  # a file laid out by hand, outside any AppFlow run: nothing to reconcile
        file_id = f"{obj.uri}@{obj.etag or obj.version_id or ''}"
        counted = self._ledger.file_planned(landing.execution_id, landing.flow_name, file_id, chunks)
        if not counted:
            logger.info(
                "file already counted for its run", extra={"uri": obj.uri, "execution_id": landing.execution_id}
            )

    def recorded_hand_over(self, chunk: Chunk) -> HandOver | None:
        """Where an earlier invocation of this chunk handed over, if one did (None outside a run)."""
        if not chunk.landing.execution_id:
            return None
        found = self._ledger.hand_over_of(chunk.landing.execution_id, chunk.id, chunk.reingestion)
        return HandOver(*found) if found is not None else None

    def hand_over(self, chunk: Chunk, at: HandOver) -> HandOver:
        """Record the hand-over (and its remainder as planned) before it is queued; the first writer's wins.

        A re-ingested chunk's hand-over is recorded on its re-ingestion, like its counts.
        """
        if not chunk.landing.execution_id:
            return at
        offset, row = self._ledger.hand_over(
            chunk.landing.execution_id, chunk.landing.flow_name, chunk.id, at.offset, at.row, chunk.reingestion
        )
        return HandOver(offset, row)

    def chunk_finished(self, chunk: Chunk, report: FinishedChunk) -> bool:
        """Count the chunk and its records in its run, once; False if it was counted before. Settle the run."""
        execution_id = chunk.landing.execution_id
        if not execution_id:
            return True
        counts = {
            "chunks_finished": 1,
            "read": report.read,
            "written": report.written,
            "stale": report.stale,
            "quarantined": report.quarantined,
        }
        if chunk.reingestion:
            # A re-ingestion's counts are its own: the run's (what AppFlow's files gave first) stay as settled.
            return self._ledger.reingested_chunk_finished(execution_id, chunk.reingestion, chunk.id, counts)
        counted = self._ledger.chunk_finished(execution_id, chunk.landing.flow_name, chunk.id, counts)
        if not counted:
            metrics.add_metric(name="ChunksCountedBefore", unit=MetricUnit.Count, value=1)
            logger.info("chunk already counted for its run", extra={"chunk": chunk.id})
        # Settle even when counted before: the earlier attempt may have failed before publishing.
        self.settle(execution_id)
        return counted

    # ------------------------------------------------------------------ AppFlow's reports
    def record_report(self, event: Mapping[str, Any]) -> ReportOutcome:
        """Record one of AppFlow's flow run reports (one for another destination is ignored), then settle its run if complete."""
        try:
            report = parse_run_report(event)
        except RunReportRejected as error:
            # A report is AppFlow's best-effort summary, not data: logged and counted, never retried.
            metrics.add_metric(name="RunReportsRejected", unit=MetricUnit.Count, value=1)
            logger.error("run report rejected", extra={"reason": str(error), "event_id": event.get("id")})
            return ReportOutcome(None, recorded=False, ignored=str(error))
        correlate(flow=report.flow_name, execution_id=report.execution_id, event_id=report.event_id)
        if report.destination and report.destination != "S3":
            return self._ignore(report, f"destination {report.destination}, not S3")
        if self._landing_bucket and report.destination_bucket and report.destination_bucket != self._landing_bucket:
            return self._ignore(report, f"lands in {report.destination_bucket}, not in {self._landing_bucket}")
        self._ledger.record_report(report)
        metrics.add_metric(name=f"RunReports{report.kind.title()}", unit=MetricUnit.Count, value=1)
        logger.info(
            "run report recorded",
            extra={"execution_id": report.execution_id, "kind": report.kind, "status": report.status},
        )
        state = self.settle(report.execution_id)
        return ReportOutcome(report.execution_id, recorded=True, settled=state.outcome if state else None)

    def _ignore(self, report: FlowRunReport, why: str) -> ReportOutcome:
        metrics.add_metric(name="RunReportsIgnored", unit=MetricUnit.Count, value=1)
        logger.info("run report ignored", extra={"execution_id": report.execution_id, "why": why})
        return ReportOutcome(report.execution_id, recorded=False, ignored=why)

    # ------------------------------------------------------------------ settling
    def settle(self, execution_id: str) -> RunState | None:
        """Publish the run's outcome if it is settled and this settlement was not published yet."""
        state = self._ledger.read(execution_id)
        settlement = settle(state)
        if settlement is None or state.published_signature == settlement.signature:
            return None
        self._publisher.publish([flow_run_event(state, settlement)], self._event_source)
        self._ledger.mark_published(execution_id, settlement.signature, settlement.outcome, list(settlement.reasons))
        state.outcome, state.reasons = settlement.outcome, list(settlement.reasons)
        metric = "RunsReconciled" if settlement.outcome == COMPLETED else "RunsIncomplete"
        emit_counts({metric: 1}, flow=state.flow_name)  # per flow: RunsIncompleteAlarm groups by it
        log = logger.info if settlement.outcome == COMPLETED else logger.warning
        log("flow run settled", extra={"execution_id": execution_id, "outcome": settlement.outcome,
                                        "reasons": list(settlement.reasons)})  # fmt: skip
        return state
