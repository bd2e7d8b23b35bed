"""The embedded AWS emulator (moto's server over HTTP) and boto3 clients pointed at one.

Every client local mode makes goes through here, with dummy credentials, so nothing local mode
does can reach a real AWS account by accident.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from appflow_local.emulator import moto_dynamodb
from appflow_local.stack.template import DEFAULT_REGION

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


@contextmanager
def embedded_emulator(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run moto's server in a thread of this process for the duration; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request to stderr; that would drown the progress output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_dynamodb.install()  # DynamoDB's atomicity, and transactions that do not copy whole tables
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    try:
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.stop()
