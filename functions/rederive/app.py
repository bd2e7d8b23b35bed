"""Rederive: the daily schedule -> the wallet passes a promotion's start or end changes, derived again on the day."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.wallet_store import DynamoWalletStore
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.rederive_passes import PassRederiver, rederive_passes
from appflow_ingest.settings import Settings

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url)
rederiver = (
    PassRederiver(DynamoWalletStore(clients.dynamodb, settings.derived_table), settings.wallet)
    if settings.wallet is not None
    else None
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    if rederiver is None:  # no wallet in this deployment: nothing is ever due
        metrics.add_metric(name="PassesDue", unit=MetricUnit.Count, value=0)
        return {"due": 0, "rederived": 0}
    return rederive_passes(event, rederiver=rederiver, remaining_ms=context.get_remaining_time_in_millis)
