"""Ingest: one chunk message -> its records read, checked and written newest-wins to DynamoDB."""

from functools import lru_cache

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.chunk_queue import SqsChunkQueue
from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.adapters.masking_key import SecretMaskingKey
from appflow_ingest.adapters.quarantine import S3Quarantine
from appflow_ingest.adapters.record_bodies import S3RecordBodies
from appflow_ingest.adapters.schema_registry import DynamoSchemaRegistry
from appflow_ingest.domain.rules import ObjectRules
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_ingest.services.schema_sightings import SchemaSightings
from appflow_ingest.settings import Settings
from appflow_ingest.wiring import run_tracker

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url, max_pool_connections=settings.write_concurrency)
# The masking key, from its secret (cached by Powertools Parameters; docs/security.md).
masking_key = SecretMaskingKey(clients.secretsmanager, settings.masking_key_secret)
schema_sightings = (
    SchemaSightings(DynamoSchemaRegistry(clients.dynamodb, settings.derived_table)).report
    if settings.derived_table
    else None
)
# The run ledger: files and chunks counted per AppFlow execution id, runs settled when complete.
runs = run_tracker(settings, clients)
store = DynamoEntityStore(
    clients.dynamodb,
    settings.entity_table,
    concurrency=settings.write_concurrency,
    strategy=settings.write_strategy,
    # Records too large for one item keep their body in S3 (the item points at it).
    bodies=S3RecordBodies(clients.s3, settings.record_body_bucket) if settings.record_body_bucket else None,
    compress_over=settings.compress_bodies_over,
)
quarantine = S3Quarantine(clients.s3, settings.quarantine_bucket, raw_bucket=settings.require_raw_quarantine_bucket())
processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def ingester_for(key: bytes) -> ChunkIngester:
    """The ingester whose rule sets (bound per object: FLOW_OBJECTS or the configuration document)
    are compiled with this masking key: once per cold start, and again only when the key was rotated."""
    rules = ObjectRules(
        settings.object_rule_sets(),
        masking_key=key,
        on_new_field=schema_sightings,
    )
    return ChunkIngester(
        objects=S3LandingObjects(clients.s3),
        store=store,
        quarantine=quarantine,
        queue=SqsChunkQueue(clients.sqs, settings.chunk_queue_url),
        objects_by_flow=settings.flow_objects,
        rules=rules,
        runs=runs,
        max_version_skew_ms=settings.max_version_skew_seconds * 1000,
    )


@tracer.capture_method
def ingest_message(record: SQSRecord, lambda_context: LambdaContext) -> dict:
    # Powertools injects lambda_context, so a chunk can hand over its rest before the time limit.
    # A message that cannot be read is quarantined by the service, not retried into the DLQ.
    ingester = ingester_for(masking_key.current())
    return ingester.ingest_message(record.body, remaining_ms=lambda_context.get_remaining_time_in_millis).as_dict()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=ingest_message, processor=processor, context=context)
