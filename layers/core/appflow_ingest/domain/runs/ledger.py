"""The run ledger's rules: when a flow run is settled, and whether it reconciles (its event: domain/bus_events/flow_runs.py).

A run is known by its execution id, from two independent sides that arrive in any order, twice,
or not at all: the files (planned and finished chunks, counted exactly once each) and AppFlow's
End Flow Run Report (best effort). A run is settled when the End report is in and every planned
chunk is finished. It then *reconciles* when AppFlow succeeded and the records read from its
files equal AppFlow's ``num-of-records-processed``. Files may still land after a mismatch was
published (S3 notifications are not ordered after the report): the run is then settled again
with new counts and publishes again, so the newest event about a run is the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appflow_ingest.domain.runs.reports import SUCCEEDED

COMPLETED, INCOMPLETE = "COMPLETED", "INCOMPLETE"
UNREPORTED = "UNREPORTED"


@dataclass
class RunState:
    """A ledger entry as read back: what each side has said about one execution."""

    execution_id: str
    flow_name: str | None = None
    trigger_type: str | None = None
    started: bool = False  # a Start report arrived
    reported: bool = False  # an End report arrived
    appflow_status: str | None = None
    appflow_outcome: str | None = None
    appflow_error: str | None = None
    records_processed: int | None = None
    records_filtered: int | None = None
    record_failures: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    files_seen: int = 0
    chunks_planned: int = 0
    chunks_finished: int = 0
    read: int = 0
    written: int = 0
    stale: int = 0
    quarantined: int = 0
    published_signature: str | None = None
    outcome: str | None = None
    reasons: list[str] = field(default_factory=list)
    reingestions: list[str] = field(default_factory=list)  # ids of `appflow-ingest reingest` requests, oldest first

    @property
    def status(self) -> str:
        """What to show for the run: AppFlow's outcome, RUNNING after a Start report only, else UNREPORTED."""
        if self.reported:
            return self.appflow_outcome or "UNKNOWN"
        return "RUNNING" if self.started else UNREPORTED

    @property
    def chunks_pending(self) -> int:
        """Planned chunks not yet finished."""
        return max(0, self.chunks_planned - self.chunks_finished)


@dataclass(frozen=True)
class Settlement:
    """How a settled run ends (COMPLETED or INCOMPLETE), why, and the signature its event is about."""

    outcome: str  # COMPLETED or INCOMPLETE
    reasons: tuple[str, ...]
    signature: str  # what the published event is about; the same state settles to the same signature

    @property
    def event_id(self) -> str:
        """The id of the run's event: one per distinct settlement."""
        return f"flowrun:{self.signature}"


def settle(state: RunState) -> Settlement | None:
    """The run's outcome once the End report is in and no planned chunk is pending; else None."""
    if not state.reported or state.chunks_pending:
        return None
    reasons: list[str] = []
    if state.appflow_outcome != SUCCEEDED:
        reasons.append(f"AppFlow ended the run with status {state.appflow_status or 'unknown'!r}")
        if state.appflow_error:
            reasons.append(f"AppFlow error: {state.appflow_error}")
    processed = state.records_processed
    if processed is None:
        reasons.append("AppFlow's report gives no num-of-records-processed to reconcile with")
    elif state.read < processed:
        reasons.append(
            f"{processed - state.read} of the {processed} records AppFlow processed were not read from the "
            f"landing bucket ({state.read} read from {state.files_seen} file(s))"
        )
    elif state.read > processed:
        reasons.append(f"{state.read} records read but AppFlow processed {processed}")
    outcome = INCOMPLETE if reasons else COMPLETED
    signature = f"{state.execution_id}:{outcome}:{state.read}:{state.chunks_finished}:{processed}"
    return Settlement(outcome, tuple(reasons), signature)
