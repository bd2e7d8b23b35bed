"""Changes: a Salesforce change event (AppFlow event-triggered flow) -> stored records, newest wins."""

from functools import lru_cache

from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.entity_merge import DynamoEntityMerger
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.adapters.large_events import S3EventDocuments
from appflow_ingest.adapters.masking_key import SecretMaskingKey
from appflow_ingest.adapters.quarantine import S3Quarantine
from appflow_ingest.adapters.record_bodies import S3RecordBodies
from appflow_ingest.adapters.resync_marks import DynamoResyncMarks
from appflow_ingest.domain.rules import ObjectRules
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.apply_changes import ChangeApplier
from appflow_ingest.settings import Settings

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url)
# The masking key, from its secret (cached by Powertools Parameters; docs/security.md).
masking_key = SecretMaskingKey(clients.secretsmanager, settings.masking_key_secret)
merger = DynamoEntityMerger(
    clients.dynamodb,
    settings.entity_table,
    # Records too large for one item keep their body in S3 (read to merge, written before the item).
    S3RecordBodies(clients.s3, settings.record_body_bucket) if settings.record_body_bucket else None,
    compress_over=settings.compress_bodies_over,
)
marks = DynamoResyncMarks(clients.dynamodb, settings.require_ledger_table())
publisher = EventBridgePublisher(clients.events, settings.event_bus_name)
rejected = S3Quarantine(clients.s3, settings.quarantine_bucket, raw_bucket=settings.require_raw_quarantine_bucket())
large_events = S3EventDocuments(clients.s3)


@lru_cache(maxsize=1)
def applier_for(key: bytes) -> ChangeApplier:
    """The applier whose rule sets are compiled with this masking key: once per cold start, and
    again only when the key was rotated."""
    return ChangeApplier(
        merger=merger,
        marks=marks,
        publisher=publisher,
        rejected=rejected,
        read_json=large_events.read_json,
        event_source=settings.event_source_name,
        objects_by_flow=settings.flow_objects,
        # The file path's rule sets, applied to the fields each change delivers. New fields are
        # reported by the file path (this function does not write the derived table).
        rules=ObjectRules(
            settings.object_rule_sets(),
            masking_key=key,
        ),
        max_version_skew_ms=settings.max_version_skew_seconds * 1000,
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return applier_for(masking_key.current()).apply(event).as_dict()
