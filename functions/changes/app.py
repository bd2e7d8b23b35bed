"""Changes: a Salesforce change event (AppFlow event-triggered flow) -> stored records, newest wins."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.entity_merge import DynamoEntityMerger
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.adapters.large_events import S3EventDocuments
from appflow_ingest.adapters.quarantine import S3Quarantine
from appflow_ingest.adapters.resync_marks import DynamoResyncMarks
from appflow_ingest.domain.rules import RULE_SETS, ObjectRules
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.apply_changes import ChangeApplier
from appflow_ingest.settings import Settings

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url)
applier = ChangeApplier(
    merger=DynamoEntityMerger(clients.dynamodb, settings.entity_table, compress_over=settings.compress_bodies_over),
    marks=DynamoResyncMarks(clients.dynamodb, settings.require_ledger_table()),
    publisher=EventBridgePublisher(clients.events, settings.event_bus_name),
    rejected=S3Quarantine(clients.s3, settings.quarantine_bucket),
    read_json=S3EventDocuments(clients.s3).read_json,
    event_source=settings.event_source_name,
    objects_by_flow=settings.flow_objects,
    # The file path's rule sets, applied to the fields each change delivers. New fields are
    # reported by the file path (this function does not write the derived table).
    rules=ObjectRules(
        {object_name: RULE_SETS[name] for object_name, name in settings.object_rules.items()},
        masking_key=settings.masking_key,
    ),
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return applier.apply(event).as_dict()
