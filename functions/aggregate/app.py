"""Aggregate: the entity table's stream -> members' aggregates and wallet passes, exactly once."""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.record_bodies import S3RecordBodies
from appflow_ingest.adapters.wallet_store import DynamoWalletStore
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.aggregate_wallet import WalletAggregator, aggregate_wallet
from appflow_ingest.settings import Settings

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url)
aggregator = (
    WalletAggregator(DynamoWalletStore(clients.dynamodb, settings.derived_table), settings.wallet)
    if settings.wallet is not None
    else None
)
# Records too large for one item keep their body in S3: the wallet reads the full record.
bodies = S3RecordBodies(clients.s3, settings.record_body_bucket) if settings.record_body_bucket else None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    if aggregator is None:  # WALLET_CONFIG is empty: this deployment keeps no wallet passes
        metrics.add_metric(name="WalletChangesApplied", unit=MetricUnit.Count, value=0)
        return {"batchItemFailures": []}
    return aggregate_wallet(event, aggregator=aggregator, read_body=bodies.read if bodies else None)
