"""A DynamoDB stream batch as the publisher and the aggregator read it: each record with its sequence number."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import StreamRecord

from appflow_ingest.observability import correlate_stream_batch


class StreamedRecord(NamedTuple):
    """One record of a stream batch: where a retry resumes (its sequence number) and its item images."""

    sequence_number: str
    images: StreamRecord  # Powertools deserializes an image when it is read


def stream_records(event: Mapping[str, Any]) -> list[StreamedRecord]:
    """The batch's records in order, its log lines correlated by its first and last sequence numbers.

    Powertools types a record's stream part and its sequence number as optional; a DynamoDB stream
    always sends both, so a record without them is a malformed event and fails the invocation.
    """
    records = list(DynamoDBStreamEvent(dict(event)).records)
    correlate_stream_batch(records)
    streamed = []
    for record in records:
        images = record.dynamodb
        if images is None or images.sequence_number is None:
            raise ValueError(f"stream record {record.event_id}: expected its dynamodb part with a SequenceNumber")
        streamed.append(StreamedRecord(images.sequence_number, images))
    return streamed
