"""Publish one downstream event per real change read from the entity table's stream.

Hand-written rather than Powertools' BatchProcessor: that calls a handler per record, while
PutEvents takes ten entries a call; partial failures are reported the same way (the sequence
number to retry from), so Lambda retries, bisects and finally sends the batch to the on-failure
destination.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from appflow_ingest.adapters.event_bus import PublishError
from appflow_ingest.domain.change_events import ChangeEvent, change_event_for, version_advanced
from appflow_ingest.observability import logger, metrics


class ChangePublisher(Protocol):
    def publish(self, events: Sequence[ChangeEvent], source: str) -> None: ...


def publish_changes(
    event: Mapping[str, Any],
    *,
    publisher: ChangePublisher,
    source: str,
    table: str,
    volatile_fields: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Publish the events of a stream batch; ``volatile_fields``: per object, fields whose change alone is no event."""
    pending: list[tuple[str, ChangeEvent]] = []
    unchanged = 0  # stored versions that moved without a change of data: no event
    failed_at: str | None = None
    for record in DynamoDBStreamEvent(event).records:
        sequence_number = record.dynamodb.sequence_number
        try:
            change = change_event_for(
                record.dynamodb.old_image, record.dynamodb.new_image, table=table, volatile_fields=volatile_fields
            )
        except (KeyError, TypeError, ValueError) as error:
            logger.exception("stream record cannot be mapped", extra={"sequence_number": sequence_number})
            failed_at = sequence_number
            metrics.add_metric(name="StreamRecordsUnmappable", unit=MetricUnit.Count, value=1)
            del error
            break
        if change is not None:
            pending.append((sequence_number, change))
        elif version_advanced(record.dynamodb.old_image, record.dynamodb.new_image):
            unchanged += 1

    published = len(pending)
    try:
        publisher.publish([change for _, change in pending], source)
    except PublishError as error:
        published = error.first_unpublished
        failed_at = pending[error.first_unpublished][0]
        logger.error("events not published", extra={"reason": str(error), "retry_from": failed_at})
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=published)
    metrics.add_metric(name="VersionsWithoutChange", unit=MetricUnit.Count, value=unchanged)
    if failed_at is None:
        return {"batchItemFailures": []}
    metrics.add_metric(name="PublishFailures", unit=MetricUnit.Count, value=1)
    return {"batchItemFailures": [{"itemIdentifier": failed_at}]}
