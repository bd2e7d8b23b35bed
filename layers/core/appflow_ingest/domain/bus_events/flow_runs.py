"""``FlowRun Completed`` / ``FlowRun Incomplete``: the event a settled flow run publishes (domain/runs/ledger.py settles it)."""

from __future__ import annotations

from typing import Any

from appflow_ingest.domain.bus_events.envelope import BusEvent
from appflow_ingest.domain.runs.ledger import COMPLETED, RunState, Settlement
from appflow_ingest.domain.timestamps import to_iso

FLOW_RUN_COMPLETED = "FlowRun Completed"
FLOW_RUN_INCOMPLETE = "FlowRun Incomplete"


def flow_run_event(state: RunState, settlement: Settlement) -> BusEvent:
    """The ``FlowRun Completed`` or ``FlowRun Incomplete`` event of a settled run."""
    detail: dict[str, Any] = {
        "event_id": settlement.event_id,
        "execution_id": state.execution_id,
        "flow_name": state.flow_name,
        "trigger_type": state.trigger_type,
        "outcome": settlement.outcome,
        "reasons": list(settlement.reasons),
        "appflow": {
            "status": state.appflow_status,
            "records_processed": state.records_processed,
            "records_filtered": state.records_filtered,
            "record_failures": state.record_failures,
            "start_time": to_iso(state.start_time) if state.start_time is not None else None,
            "end_time": to_iso(state.end_time) if state.end_time is not None else None,
        },
        "ingested": {
            "files": state.files_seen,
            "chunks": state.chunks_finished,
            "read": state.read,
            "written": state.written,
            "stale": state.stale,
            "quarantined": state.quarantined,
        },
        "missing": max(0, (state.records_processed or 0) - state.read),
    }
    detail_type = FLOW_RUN_COMPLETED if settlement.outcome == COMPLETED else FLOW_RUN_INCOMPLETE
    return BusEvent(event_id=settlement.event_id, detail_type=detail_type, detail=detail)
