"""Ingest: one chunk message -> its records read, checked and written newest-wins to DynamoDB."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.chunk_queue import SqsChunkQueue
from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.adapters.quarantine import S3Quarantine
from appflow_ingest.adapters.schema_registry import DynamoSchemaRegistry
from appflow_ingest.domain.chunks import Chunk
from appflow_ingest.domain.rules import RULE_SETS, ObjectRules
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_ingest.services.schema_sightings import SchemaSightings
from appflow_ingest.settings import Settings
from appflow_ingest.wiring import run_tracker

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url, max_pool_connections=settings.write_concurrency)
# Rule sets bound per object in FLOW_OBJECTS ("rules": "<name>"), compiled once per cold start.
rules = ObjectRules(
    {object_name: RULE_SETS[name] for object_name, name in settings.object_rules.items()},
    masking_key=settings.masking_key,
    on_new_field=(
        SchemaSightings(DynamoSchemaRegistry(clients.dynamodb, settings.derived_table)).report
        if settings.derived_table
        else None
    ),
)
# The run ledger: files and chunks counted per AppFlow execution id, runs settled when complete.
runs = run_tracker(settings, clients)
ingester = ChunkIngester(
    objects=S3LandingObjects(clients.s3),
    store=DynamoEntityStore(
        clients.dynamodb,
        settings.entity_table,
        concurrency=settings.write_concurrency,
        strategy=settings.write_strategy,
        compress_over=settings.compress_bodies_over,
    ),
    quarantine=S3Quarantine(clients.s3, settings.quarantine_bucket),
    queue=SqsChunkQueue(clients.sqs, settings.chunk_queue_url),
    objects_by_flow=settings.flow_objects,
    rules=rules,
    runs=runs,
)
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def ingest_message(record: SQSRecord, lambda_context: LambdaContext) -> dict:
    # Powertools injects lambda_context, so a chunk can hand over its rest before the time limit.
    chunk = Chunk.from_json(record.body)
    return ingester.ingest(chunk, remaining_ms=lambda_context.get_remaining_time_in_millis).as_dict()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=ingest_message, processor=processor, context=context)
