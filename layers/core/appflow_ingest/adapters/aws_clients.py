"""boto3 clients with retry configuration, pointed at the local emulator when one is configured."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:  # the stub packages are a dev dependency; Lambda never imports them
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient


class AwsClients:
    """Lazily created boto3 clients sharing one retry policy and endpoint override."""

    def __init__(self, endpoint_url: str | None = None, *, max_pool_connections: int = 10) -> None:
        self._endpoint_url = endpoint_url
        # Standard mode retries throttling and transient errors with jittered backoff; the
        # conditional-write path relies on it instead of hand-written retry loops.
        self._config = Config(
            retries={"mode": "standard", "max_attempts": 8},
            max_pool_connections=max(10, max_pool_connections),
            connect_timeout=5,
            read_timeout=60,
        )
        self._session = boto3.session.Session()

    @cached_property
    def s3(self) -> S3Client:
        """The s3 client."""
        return self._session.client("s3", endpoint_url=self._endpoint_url, config=self._config)

    @cached_property
    def sqs(self) -> SQSClient:
        """The sqs client."""
        return self._session.client("sqs", endpoint_url=self._endpoint_url, config=self._config)

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client, without botocore's client-side parameter validation."""
        # botocore checks every parameter against the API model in Python before sending: ~40 µs a
        # record on the batched write path (bench/cost_scenarios.py), a sixth of its client CPU.
        # DynamoDB checks them anyway, and every write path handles its ValidationException.
        return self._session.client(
            "dynamodb", endpoint_url=self._endpoint_url, config=self._config.merge(Config(parameter_validation=False))
        )

    @cached_property
    def events(self) -> EventBridgeClient:
        """The events client."""
        return self._session.client("events", endpoint_url=self._endpoint_url, config=self._config)

    @cached_property
    def secretsmanager(self) -> SecretsManagerClient:
        """The secretsmanager client."""
        return self._session.client("secretsmanager", endpoint_url=self._endpoint_url, config=self._config)

    @cached_property
    def ssm(self) -> SSMClient:
        """The ssm client."""
        return self._session.client("ssm", endpoint_url=self._endpoint_url, config=self._config)
