"""Module-level Powertools Logger, Metrics and Tracer, configured by POWERTOOLS_* variables.

The defaults apply where the template's variables are not set (tests, local scripts): metrics
need a namespace even when a service is used outside a handler and flushes on its own.

Dimensions: every metric carries ``service`` (the stack's name). The counts an operator filters
by flow carry ``flow`` and ``object`` too (``emit_counts``): records read / written / stale /
quarantined per flow, runs settled per flow, change events per object. That keeps the series
bounded by the flows and objects configured, not by files, runs or records (docs/operating.md
states what they cost).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

SERVICE = os.getenv("POWERTOOLS_SERVICE_NAME", "appflow-ingest")
# A dimension value must not be empty: a file outside any flow's layout, an unconfigured object.
UNKNOWN = "none"
# The only names that may go on every later log line or be a metric dimension: identifiers of the
# pipeline's own units of work (configuration, AWS and AppFlow ids), never a record's values, so
# personal data cannot reach a line nobody reviews one by one (docs/security.md, docs/operating.md).
CORRELATION_KEYS = frozenset(
    {
        "flow",
        "object",
        "execution_id",
        "chunk_id",
        "reingestion",
        "event_id",
        "file",
        "first_sequence_number",
        "last_sequence_number",
    }
)
METRIC_DIMENSIONS = frozenset({"flow", "object"})


def _allowed(values: Mapping[str, Any], allowed: frozenset[str], what: str) -> dict[str, Any]:
    """The listed names only: an unlisted one is dropped and its name (never its value) logged.

    Dropped, not raised: telemetry must never fail a chunk; the log line shows the slip, so the
    list is reviewed.
    """
    unknown = sorted(set(values) - allowed)
    if unknown:
        logger.warning(f"{what} not in the allow-list dropped", extra={"dropped_names": unknown})
    return {name: value for name, value in values.items() if name in allowed}


logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE", "AppFlowIngest"), service=SERVICE)
tracer = Tracer(service=SERVICE)


def emit_counts(counts: Mapping[str, int | float], **dimensions: str | None) -> None:
    """Counts under extra dimensions (``flow=..., object=...``), written at once as one EMF document.

    A separate metric set, not the handler's: one invocation may handle several flows or objects
    (a batch of chunks or events), and each must keep its own dimensions.
    """
    scoped = EphemeralMetrics(namespace=metrics.namespace, service=metrics.service)
    for name, value in _allowed(dimensions, METRIC_DIMENSIONS, "metric dimensions").items():
        scoped.add_dimension(name=name, value=value or UNKNOWN)
    for name, value in counts.items():
        scoped.add_metric(name=name, unit=MetricUnit.Count, value=value)
    scoped.flush_metrics()


def correlate(**keys: str | None) -> None:
    """Put the keys an operator searches logs by on every later log line of this invocation.

    The keys: flow, execution_id, chunk_id, event_id and the like (CORRELATION_KEYS); handlers
    clear them at the start of the next invocation.
    """
    allowed = _allowed(keys, CORRELATION_KEYS, "log keys")
    logger.append_keys(**{name: value for name, value in allowed.items() if value is not None})


def correlate_stream_batch(records: Sequence[DynamoDBRecord]) -> None:
    """Correlate a stream batch's logs by its first and last sequence numbers.

    An on-failure queue's ``DDBStreamBatchInfo`` names the same two, so a dead-lettered batch
    leads to its logs.
    """
    if records:
        correlate(
            first_sequence_number=_sequence_number(records[0]),
            last_sequence_number=_sequence_number(records[-1]),
        )


def _sequence_number(record: DynamoDBRecord) -> str | None:
    # Powertools types the stream part as optional; a record from a stream always has one.
    return record.dynamodb.sequence_number if record.dynamodb is not None else None
