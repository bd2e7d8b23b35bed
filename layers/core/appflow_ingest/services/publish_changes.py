"""Publish one downstream event per real change read from the entity table's stream.

Hand-written rather than Powertools' BatchProcessor: that calls a handler per record, while
PutEvents takes ten entries a call; partial failures are reported the same way (the sequence
number to retry from), so Lambda retries, bisects and finally sends the batch to the on-failure
destination.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from appflow_ingest.domain.change_events import ChangeEvent, change_event_for, superseded_body, version_advanced
from appflow_ingest.observability import correlate_stream_batch, logger, metrics
from appflow_ingest.ports.bus import EventPublisher, PublishError
from appflow_ingest.ports.entities import RecordBodies, RecordBodyMissing


def _body_reader(bodies: RecordBodies | None) -> Callable[[str], Any] | None:
    """Reads a body for changed_fields; one that is gone (expired, deleted by hand) reads as unknown, never a stuck batch."""
    if bodies is None:
        return None

    def read(uri: str) -> Any:
        try:
            return bodies.read(uri)
        except RecordBodyMissing:
            logger.warning("record body missing: changed_fields counts every field", extra={"record_ref": uri})
            return None

    return read


def publish_changes(
    event: Mapping[str, Any],
    *,
    publisher: EventPublisher,
    source: str,
    table: str,
    volatile_fields: Mapping[str, frozenset[str]] | None = None,
    bodies: RecordBodies | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Publish the batch's changes; tag the S3 bodies they replaced as superseded (the lifecycle expires them).

    ``volatile_fields``: per object, the fields whose change alone is no event. ``bodies`` resolves
    records kept in S3, so that their ``changed_fields`` are told as for any other record.
    """
    pending: list[tuple[str, ChangeEvent]] = []
    superseded: list[tuple[str, str]] = []
    unchanged = 0  # stored versions that moved without a change of data: no event
    read_body = _body_reader(bodies)
    failed_at: str | None = None
    records = list(DynamoDBStreamEvent(event).records)
    correlate_stream_batch(records)
    for record in records:
        sequence_number = record.dynamodb.sequence_number
        try:
            if bodies is not None and (body := superseded_body(record.dynamodb.old_image, record.dynamodb.new_image)):
                superseded.append((sequence_number, body))
            change = change_event_for(
                record.dynamodb.old_image,
                record.dynamodb.new_image,
                table=table,
                volatile_fields=volatile_fields,
                read_body=read_body,
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
