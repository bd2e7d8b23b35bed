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
from appflow_ingest.domain.change_events import ChangeEvent, change_event_for, superseded_body
from appflow_ingest.observability import correlate_stream_batch, logger, metrics


class ChangePublisher(Protocol):
    def publish(self, events: Sequence[ChangeEvent], source: str) -> None: ...


class SupersededBodies(Protocol):
    """Record bodies in S3 (adapters/record_bodies.py)."""

    def mark_superseded(self, uri: str) -> None: ...


def publish_changes(
    event: Mapping[str, Any],
    *,
    publisher: ChangePublisher,
    source: str,
    table: str,
    bodies: SupersededBodies | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Publish the batch's changes; tag the S3 bodies they replaced as superseded (the lifecycle expires them)."""
    pending: list[tuple[str, ChangeEvent]] = []
    superseded: list[tuple[str, str]] = []
    failed_at: str | None = None
    records = list(DynamoDBStreamEvent(event).records)
    correlate_stream_batch(records)
    for record in records:
        sequence_number = record.dynamodb.sequence_number
        try:
            if bodies is not None and (body := superseded_body(record.dynamodb.old_image, record.dynamodb.new_image)):
                superseded.append((sequence_number, body))
            change = change_event_for(record.dynamodb.old_image, record.dynamodb.new_image, table=table)
        except (KeyError, TypeError, ValueError) as error:
            logger.exception("stream record cannot be mapped", extra={"sequence_number": sequence_number})
            failed_at = sequence_number
            metrics.add_metric(name="StreamRecordsUnmappable", unit=MetricUnit.Count, value=1)
            del error
            break
        if change is not None:
            pending.append((sequence_number, change))

    published = len(pending)
    try:
        publisher.publish([change for _, change in pending], source)
    except PublishError as error:
        published = error.first_unpublished
        failed_at = pending[error.first_unpublished][0]
        logger.error("events not published", extra={"reason": str(error), "retry_from": failed_at})
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=published)
    # After publishing: an event names its body, so that body is not released before its event
    # is out. Tagging is idempotent; a failure here fails the batch and it is delivered again.
    for sequence_number, body in superseded:
        if failed_at is not None and int(sequence_number) >= int(failed_at):
            break
        bodies.mark_superseded(body)  # type: ignore[union-attr]
    if failed_at is None:
        return {"batchItemFailures": []}
    metrics.add_metric(name="PublishFailures", unit=MetricUnit.Count, value=1)
    return {"batchItemFailures": [{"itemIdentifier": failed_at}]}
