"""Reference consumer of appflow-ingest's downstream events: a read model of the stored records.

Rule on the downstream bus -> SQS queue (DLQ after 5 receives) -> this function, ten messages a
batch. Each message is applied once per ``event_id`` (Powertools Idempotency: a repeat returns the
first outcome without touching the read model) and newest-wins by ``version`` (ReadModel); a
message that fails is reported alone (partial batch response), so the rest of the batch is not
retried with it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from read_model import ReadModel, RecordVersion

logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
read_model = ReadModel(boto3.client("dynamodb"), os.environ["READ_MODEL_TABLE"])
idempotency = IdempotencyConfig(
    event_key_jmespath="detail.event_id",
    raise_on_no_idempotency_key=True,  # an event without an id cannot be deduplicated: fail it
    # A day covers EventBridge's own retries and redeliveries; a replay days later re-applies
    # harmlessly, because the version check makes an old event a no-op.
    expires_after_seconds=int(os.environ.get("IDEMPOTENCY_TTL_SECONDS", "86400")),
)
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])


@idempotent_function(data_keyword_argument="event", config=idempotency, persistence_store=persistence)
def apply_once(event: dict[str, Any]) -> dict[str, str]:
    version = RecordVersion.from_event(event)
    outcome = read_model.apply(version)
    metrics.add_metric(name="EventsApplied" if outcome == "applied" else "EventsStale", unit=MetricUnit.Count, value=1)
    return {"event_id": version.event_id, "outcome": outcome}


def record_handler(record: SQSRecord) -> dict[str, str]:
    return apply_once(event=json.loads(record.body))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    # Published on every batch, zeros included, so a batch that failed whole still reports.
    metrics.add_metric(name="EventsReceived", unit=MetricUnit.Count, value=len(event.get("Records", [])))
    try:
        result = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    except BatchProcessingError:  # every record failed: the batch is retried whole
        metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=len(event.get("Records", [])))
        raise
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=len(result.get("batchItemFailures", [])))
    return result
