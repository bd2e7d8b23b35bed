"""Publish: the entity table's stream -> one downstream event per real change."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.publish_changes import publish_changes
from appflow_ingest.settings import Settings

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url)
publisher = EventBridgePublisher(clients.events, settings.event_bus_name)
volatile_fields = settings.volatile_fields_by_object()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return publish_changes(
        event,
        publisher=publisher,
        source=settings.event_source_name,
        table=settings.entity_table,
        volatile_fields=volatile_fields,
    )
