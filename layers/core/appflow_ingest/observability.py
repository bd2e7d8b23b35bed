"""Module-level Powertools Logger, Metrics and Tracer, configured by POWERTOOLS_* variables."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
