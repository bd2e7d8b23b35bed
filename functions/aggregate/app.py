"""Aggregate: the entity table's stream -> members' aggregates and wallet passes, exactly once."""

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest import wiring
from appflow_ingest.observability import logger, metrics, tracer

# Built once per execution environment (the cold start): settings, clients, service (wiring.py).
function = wiring.aggregate_function()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    return function.handle(event, context)
