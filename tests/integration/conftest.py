"""Fixtures for tests of the core services against moto's server over HTTP (no in-process mocks)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from appflow_local.stack.template import load_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def template_resource(logical_id: str) -> dict[str, Any]:
    return load_yaml(TEMPLATE)["Resources"][logical_id]["Properties"]


@dataclass
class CoreStack:
    """The resources the core services talk to, named uniquely per test."""

    endpoint: str
    landing_bucket: str
    quarantine_bucket: str
    chunk_queue_url: str
    entity_table: str
    bus_name: str
    tap_queue_url: str
    raw_quarantine_bucket: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1")

    def received_events(self) -> list[dict[str, Any]]:
        """Everything delivered to a consumer of the downstream bus so far (drains the tap)."""
        sqs, events = self.client("sqs"), []
        while True:
            batch = sqs.receive_message(QueueUrl=self.tap_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return events
            for message in batch:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.tap_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def raw_quarantined(self) -> list[dict[str, Any]]:
        """What was kept as it arrived (it could not be masked), from the raw quarantine bucket."""
        s3, entries = self.client("s3"), []
        for obj in s3.list_objects_v2(Bucket=self.raw_quarantine_bucket).get("Contents", []):
            body = s3.get_object(Bucket=self.raw_quarantine_bucket, Key=obj["Key"])["Body"].read()
            entries += [json.loads(line) for line in body.splitlines()]
        return entries

    def chunk_messages(self) -> list[str]:
        sqs, bodies = self.client("sqs"), []
        while batch := sqs.receive_message(QueueUrl=self.chunk_queue_url, MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=self.chunk_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bodies


@pytest.fixture
def core_stack(moto_endpoint) -> CoreStack:
    suffix = uuid.uuid4().hex[:8]
    session = boto3.session.Session(region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=moto_endpoint)
    sqs = session.client("sqs", endpoint_url=moto_endpoint)
    ddb = session.client("dynamodb", endpoint_url=moto_endpoint)
    events = session.client("events", endpoint_url=moto_endpoint)

    landing, quarantine = f"landing-{suffix}", f"quarantine-{suffix}"
    s3.create_bucket(Bucket=landing)
    s3.create_bucket(Bucket=quarantine)
    s3.create_bucket(Bucket=f"raw-{suffix}")
    chunk_queue = sqs.create_queue(QueueName=f"chunks-{suffix}")["QueueUrl"]
    table = template_resource("EntityTable")
    ddb.create_table(
        TableName=f"entities-{suffix}",
        BillingMode=table["BillingMode"],
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        StreamSpecification={"StreamEnabled": True, **table["StreamSpecification"]},
    )
    bus = f"downstream-{suffix}"
    events.create_event_bus(Name=bus)
    tap = sqs.create_queue(QueueName=f"tap-{suffix}")["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"tap-{suffix}", EventBusName=bus, EventPattern=json.dumps({"source": ["appflow-ingest"]}))
    events.put_targets(Rule=f"tap-{suffix}", EventBusName=bus, Targets=[{"Id": "tap", "Arn": tap_arn}])
    return CoreStack(moto_endpoint, landing, quarantine, chunk_queue, f"entities-{suffix}", bus, tap, f"raw-{suffix}")
