"""Runs: AppFlow's Start/End Flow Run Reports -> the run ledger, settled and published when complete."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.adapters.run_ledger import DynamoRunLedger
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.track_runs import RunTracker
from appflow_ingest.settings import Settings

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url)
tracker = RunTracker(
    DynamoRunLedger(clients.dynamodb, settings.require_ledger_table()),
    EventBridgePublisher(clients.events, settings.event_bus_name),
    event_source=settings.event_source_name,
    landing_bucket=settings.landing_bucket,
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return tracker.record_report(event).as_dict()
