"""Module-level Powertools Logger, Metrics and Tracer, configured by POWERTOOLS_* variables.

The defaults apply where the template's variables are not set (tests, local scripts): metrics
need a namespace even when a service is used outside a handler and flushes on its own.
"""

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = os.getenv("POWERTOOLS_SERVICE_NAME", "appflow-ingest")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE", "AppFlowIngest"), service=SERVICE)
tracer = Tracer(service=SERVICE)
