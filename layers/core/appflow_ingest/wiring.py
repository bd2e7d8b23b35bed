"""Pieces the handlers assemble the same way: built once per cold start from Settings and AwsClients."""

from __future__ import annotations

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.adapters.run_ledger import DynamoRunLedger
from appflow_ingest.services.track_runs import RunTracker
from appflow_ingest.settings import Settings


def run_tracker(settings: Settings, clients: AwsClients) -> RunTracker | None:
    """The run ledger (files and chunks counted per AppFlow execution id), or None without a ledger table."""
    if not settings.ledger_table:
        return None
    return RunTracker(
        DynamoRunLedger(clients.dynamodb, settings.ledger_table),
        EventBridgePublisher(clients.events, settings.event_bus_name),
        event_source=settings.event_source_name,
        landing_bucket=settings.landing_bucket,
    )
