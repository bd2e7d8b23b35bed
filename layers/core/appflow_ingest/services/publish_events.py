"""Publish the downstream events of the two table streams, each routed explicitly.

The entity table's stream gives ``Record Changed`` (one event per new version whose data changed);
the derived table's stream gives ``MemberPass Changed`` and ``Schema Changed``. A Lambda batch
comes from one event source mapping, so every record of it names the same ``eventSourceARN``:
``publish_events`` routes the batch on that table, never on what an item holds.

Hand-written rather than Powertools' BatchProcessor: that calls a handler per record, while
PutEvents takes ten entries a call; partial failures are reported the same way (the sequence
number to retry from), so Lambda retries, bisects and finally sends the batch to the on-failure
destination.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from appflow_ingest.domain.bus_events.derived_items import derived_item_event
from appflow_ingest.domain.bus_events.envelope import BusEvent
from appflow_ingest.domain.bus_events.record_changed import record_changed_event, superseded_body, version_advanced
from appflow_ingest.observability import logger, metrics
from appflow_ingest.ports.bus import EventPublisher, PublishError
from appflow_ingest.ports.entities import RecordBodies, RecordBodyMissing
from appflow_ingest.services.stream_records import stream_records


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


def table_name_of(stream_arn: str) -> str:
    """The table a DynamoDB stream ARN belongs to (``arn:...:table/<name>/stream/<label>`` -> ``<name>``)."""
    return stream_arn.partition(":table/")[2].partition("/")[0]


def publish_events(
    event: Mapping[str, Any],
    *,
    publisher: EventPublisher,
    source: str,
    table: str,
    derived_table: str = "",
    volatile_fields: Mapping[str, frozenset[str]] | None = None,
    bodies: RecordBodies | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Publish a stream batch: from ``derived_table``'s stream as derived-item events, from any other (the entity table's) as records."""
    records = event.get("Records") or []
    if derived_table and records and table_name_of(str(records[0].get("eventSourceARN", ""))) == derived_table:
        return publish_derived_events(event, publisher=publisher, source=source)
    return publish_record_events(
        event, publisher=publisher, source=source, table=table, volatile_fields=volatile_fields, bodies=bodies
    )


def publish_record_events(
    event: Mapping[str, Any],
    *,
    publisher: EventPublisher,
    source: str,
    table: str,
    volatile_fields: Mapping[str, frozenset[str]] | None = None,
    bodies: RecordBodies | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Publish a batch of the entity table's stream as ``Record Changed``; tag the S3 bodies they replaced as superseded.

    ``volatile_fields``: per object, the fields whose change alone is no event. ``bodies`` resolves
    records kept in S3, so that their ``changed_fields`` are told as for any other record; the
    lifecycle rule expires the bodies tagged superseded.
    """
    superseded: list[tuple[str, str]] = []
    unchanged = 0  # stored versions that moved without a change of data: no event
    read_body = _body_reader(bodies)

    def to_event(
        old_image: dict[str, Any] | None, new_image: dict[str, Any] | None, sequence_number: str
    ) -> BusEvent | None:
        nonlocal unchanged
        if bodies is not None and (body := superseded_body(old_image, new_image)):
            superseded.append((sequence_number, body))
        published = record_changed_event(
            old_image, new_image, table=table, volatile_fields=volatile_fields, read_body=read_body
        )
        if published is None and version_advanced(old_image, new_image):
            unchanged += 1
        return published

    failed_at = _publish(event, to_event, publisher, source)
    metrics.add_metric(name="VersionsWithoutChange", unit=MetricUnit.Count, value=unchanged)
    # After publishing: an event names its body, so that body is not released before its event
    # is out. Tagging is idempotent; a failure here fails the batch and it is delivered again.
    if bodies is not None:  # without a body store no body is superseded
        for sequence_number, body in superseded:
            if failed_at is not None and int(sequence_number) >= int(failed_at):
                break
            bodies.mark_superseded(body)
    return _response(failed_at)


def publish_derived_events(
    event: Mapping[str, Any], *, publisher: EventPublisher, source: str
) -> dict[str, list[dict[str, str]]]:
    """Publish a batch of the derived table's stream: ``MemberPass Changed`` and ``Schema Changed``."""
    failed_at = _publish(event, lambda old, new, _sequence_number: derived_item_event(old, new), publisher, source)
    metrics.add_metric(name="VersionsWithoutChange", unit=MetricUnit.Count, value=0)  # as before the split: one series
    return _response(failed_at)


def _publish(
    event: Mapping[str, Any],
    to_event: Callable[[dict[str, Any] | None, dict[str, Any] | None, str], BusEvent | None],
    publisher: EventPublisher,
    source: str,
) -> str | None:
    """Map the batch's records in order (stopping at the first unmappable one) and publish the events.

    Returns the sequence number to retry from (None: all published).
    """
    pending: list[tuple[str, BusEvent]] = []
    failed_at: str | None = None
    for sequence_number, images in stream_records(event):
        try:
            published = to_event(images.old_image, images.new_image, sequence_number)
        except (KeyError, TypeError, ValueError) as error:
            logger.exception("stream record cannot be mapped", extra={"sequence_number": sequence_number})
            failed_at = sequence_number
            metrics.add_metric(name="StreamRecordsUnmappable", unit=MetricUnit.Count, value=1)
            del error
            break
        if published is not None:
            pending.append((sequence_number, published))

    published_count = len(pending)
    try:
        publisher.publish([published for _, published in pending], source)
    except PublishError as error:
        published_count = error.first_unpublished
        failed_at = pending[error.first_unpublished][0]
        logger.error("events not published", extra={"reason": str(error), "retry_from": failed_at})
    metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=published_count)
    return failed_at


def _response(failed_at: str | None) -> dict[str, list[dict[str, str]]]:
    """The partial batch response: retry from ``failed_at`` (Lambda bisects and finally sends it to the on-failure destination)."""
    if failed_at is None:
        return {"batchItemFailures": []}
    metrics.add_metric(name="PublishFailures", unit=MetricUnit.Count, value=1)
    return {"batchItemFailures": [{"itemIdentifier": failed_at}]}
