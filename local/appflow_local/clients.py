"""boto3 clients pointed at one endpoint: the embedded emulator, or any server speaking the AWS APIs.

Every client local mode makes goes through here, with dummy credentials, so nothing local mode
does can reach a real AWS account by accident. It sits below both the emulator and the stack
(each uses it; it uses neither).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class Emulator:
    """Clients for one emulator endpoint (one boto3 session, so safe to share across threads)."""

    def __init__(self, endpoint_url: str, region: str = DEFAULT_REGION) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self._session = boto3.session.Session(
            region_name=region,
            aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
        )
        self._config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=120)

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self.endpoint_url, config=self._config)  # type: ignore[call-overload]

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def sqs(self) -> Any:
        return self.client("sqs")

    @cached_property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @cached_property
    def streams(self) -> Any:
        return self.client("dynamodbstreams")

    @cached_property
    def events(self) -> Any:
        return self.client("events")

    @cached_property
    def logs(self) -> Any:
        return self.client("logs")

    @cached_property
    def secretsmanager(self) -> Any:
        return self.client("secretsmanager")

    @cached_property
    def kms(self) -> Any:
        return self.client("kms")

    @cached_property
    def ssm(self) -> Any:
        return self.client("ssm")
