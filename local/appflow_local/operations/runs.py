"""``runs``: the run ledger, one JSON object per AppFlow execution: AppFlow's counts against ours, and why."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from appflow_ingest.adapters.run_ledger import DynamoRunLedger
from appflow_ingest.domain.runs.ledger import RunState
from appflow_ingest.domain.timestamps import to_iso
from appflow_local.operations.target import Target

LEDGER_TABLE = "LedgerTable"


def ledger(target: Target) -> DynamoRunLedger:
    return DynamoRunLedger(target.client("dynamodb"), target.physical(LEDGER_TABLE))


def run_row(state: RunState) -> dict[str, Any]:
    """A run as printed: every ledger field, AppFlow's status, what is pending, and readable times."""
    return {
        "status": state.status,
        "chunks_pending": state.chunks_pending,
        **asdict(state),
        "start": to_iso(state.start_time) if state.start_time is not None else None,
        "end": to_iso(state.end_time) if state.end_time is not None else None,
    }


def list_runs(
    target: Target,
    *,
    flow: str | None = None,
    since: int | None = None,
    until: int | None = None,
    outcome: str | None = None,
) -> list[dict[str, Any]]:
    """The runs that match every filter given (times in epoch ms; a run with no start time matches none)."""
    rows = []
    runs = ledger(target)
    for state in runs.runs():
        if flow and state.flow_name != flow:
            continue
        if outcome and (state.outcome or "UNSETTLED") != outcome.upper():
            continue
        if since is not None and (state.start_time is None or state.start_time < since):
            continue
        if until is not None and (state.start_time is None or state.start_time > until):
            continue
        row = run_row(state)
        # Each re-ingestion of the run (`reingest`) with its own counts; the run's counts are AppFlow's run's.
        row["reingestions"] = [runs.reingestion(state.execution_id, r) for r in state.reingestions]
        rows.append(row)
    return rows
