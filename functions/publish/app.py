"""Publish: the entity table's stream -> one downstream event per real change."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.adapters.record_bodies import S3RecordBodies
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.publish_events import publish_events
from appflow_ingest.settings import Settings

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url)
publisher = EventBridgePublisher(clients.events, settings.event_bus_name)
# Per object, the fields whose change alone publishes no event (FLOW_OBJECTS' volatile_fields).
volatile_fields = settings.volatile_fields_by_object()
# Bodies of records too large for one item: read to tell changed_fields, and one a newer version
# replaced is tagged for expiry.
bodies = S3RecordBodies(clients.s3, settings.record_body_bucket) if settings.record_body_bucket else None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return publish_events(
        event,
        publisher=publisher,
        source=settings.event_source_name,
        table=settings.entity_table,
        derived_table=settings.derived_table,  # its stream carries passes and sightings
        volatile_fields=volatile_fields,
        bodies=bodies,
    )
