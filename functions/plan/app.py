"""Plan: an AppFlow output file landed in S3 -> one chunk message per byte range."""

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.chunk_queue import SqsChunkQueue
from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.plan_file import FilePlanner, landed_objects_from_event
from appflow_ingest.settings import Settings
from appflow_ingest.wiring import run_tracker

settings = Settings.from_env()
clients = AwsClients(settings.endpoint_url)
# The run ledger: files and chunks counted per AppFlow execution id, runs settled when complete.
runs = run_tracker(settings, clients)
planner = FilePlanner(
    objects=S3LandingObjects(clients.s3),
    queue=SqsChunkQueue(clients.sqs, settings.chunk_queue_url),
    chunk_size=settings.chunk_size_bytes,
    formats=settings.flow_formats,
    flows=settings.flow_objects.keys(),
    runs=runs,
)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: object) -> dict:
    plans = [planner.plan(obj) for obj in landed_objects_from_event(event)]
    return {"planned": [plan.summary() for plan in plans]}
