"""Report a field seen for the first time: once per deployment, not per record or per invocation.

The rule sets remember, per warm function instance, the fields they already know, so the
registry is asked once per new field per instance; the registry's conditional write decides
which single sighting counts deployment-wide.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from appflow_ingest.observability import logger, metrics
from appflow_ingest.ports.entities import SchemaRegistry


class SchemaSightings:
    """Reports each field seen for the first time, once per deployment (metric and log line)."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self._registry = registry

    def report(self, object_name: str, field: str) -> None:
        """Report the field if this is its first sighting deployment-wide."""
        if self._registry.first_sighting(object_name, field):
            metrics.add_metric(name="SchemaFieldsDiscovered", unit=MetricUnit.Count, value=1)
            logger.info("new field", extra={"object": object_name, "field": field})
