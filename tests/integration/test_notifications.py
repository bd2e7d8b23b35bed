"""Both S3 notification forms reach the planner: EventBridge "Object Created" and classic ``Records[]``.

Classic notifications URL-encode keys (spaces as ``+``, a literal ``+`` as ``%2B``, ``=`` as
``%3D``); AppFlow partition folders hold spaces and ``=``, so a wrong decoding plans nothing.
"""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import orjson
import pytest

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.chunk_queue import SqsChunkQueue
from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.adapters.quarantine import S3Quarantine
from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.domain.records.versions import ObjectConfig
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_ingest.services.plan_file import FilePlanner, landed_objects_from_event

EXECUTION = "5c6d2b1e-90a4-4f8e-8f51-0d6a1c2b3e4f"
KEY = f"salesforce/sf-accounts/2024/04/16/{EXECUTION}/Account Rating=Warm/Billing City=Saint Denis/part 1+2=3"


def classic_notification(bucket: str, key: str, size: int, etag: str) -> dict:
    """The shape of `sam local generate-event s3 put`, with the key encoded as S3 encodes it."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2024-04-16T19:05:12.345Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AROAEXAMPLE:appflow"},
                "requestParameters": {"sourceIPAddress": "10.0.0.1"},
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "appflow-landing",
                    "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": "0A1B2C3D4E5F678901"},
                },
            }
        ]
    }  # fmt: skip


@pytest.fixture
def services(core_stack):
    clients = AwsClients(core_stack.endpoint)
    objects = S3LandingObjects(clients.s3)
    queue = SqsChunkQueue(clients.sqs, core_stack.chunk_queue_url)
    planner = FilePlanner(objects, queue, chunk_size=64)
    ingester = ChunkIngester(
        objects=objects,
        store=DynamoEntityStore(clients.dynamodb, core_stack.entity_table, concurrency=4),
        quarantine=S3Quarantine(clients.s3, core_stack.quarantine_bucket, raw_bucket=core_stack.raw_quarantine_bucket),
        queue=queue,
        objects_by_flow={"sf-accounts": ObjectConfig("Account")},
    )
    return clients, planner, ingester


def land(clients, bucket: str, key: str, count: int = 5) -> tuple[int, str]:
    body = b"".join(
        orjson.dumps({"Id": f"001{i:015d}", "Name": f"A{i}", "LastModifiedDate": "2024-04-16T19:00:00.000+0000"})
        + b"\n"
        for i in range(count)
    )
    etag = clients.s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    return len(body), etag


def test_a_classic_notification_with_spaces_plus_and_equals_in_the_key_is_planned_and_ingested(core_stack, services):
    clients, planner, ingester = services
    size, etag = land(clients, core_stack.landing_bucket, KEY)
    event = classic_notification(core_stack.landing_bucket, KEY, size, etag)
    encoded = event["Records"][0]["s3"]["object"]["key"]
    assert " " not in encoded and "%2B" in encoded and "%3D" in encoded  # really encoded as S3 does

    (notified,) = landed_objects_from_event(event)
    plan = planner.plan(notified)

    assert plan.skipped is None and len(plan.chunks) > 1
    chunk = plan.chunks[0]
    assert chunk.key == KEY
    assert chunk.landing.flow_name == "sf-accounts" and chunk.landing.execution_id == EXECUTION
    assert chunk.landing.partitions == {"Account Rating": "Warm", "Billing City": "Saint Denis"}
    assert chunk.landing.file_name == "part 1+2=3"
    reports = [ingester.ingest(Chunk.from_json(body)) for body in core_stack.chunk_messages()]
    assert sum(r.read for r in reports) == 5 and sum(r.written for r in reports) == 5


def test_sam_generate_event_s3_put_shape_with_an_encoded_slash(core_stack, services):
    # `sam local generate-event s3 put` encodes the whole key, "/" included ("test%2Fkey").
    clients, planner, _ = services
    key = f"sf-accounts/{EXECUTION}/part-0"
    size, etag = land(clients, core_stack.landing_bucket, key)
    event = classic_notification(core_stack.landing_bucket, key, size, etag)
    event["Records"][0]["s3"]["object"]["key"] = quote_plus(key, safe="")

    (notified,) = landed_objects_from_event(event)
    assert notified.key == key
    assert planner.plan(notified).chunks


def test_classic_notifications_delivered_through_sqs_and_the_test_event(core_stack, services):
    clients, planner, _ = services
    key = f"sf-accounts/{EXECUTION}/via sqs"
    size, etag = land(clients, core_stack.landing_bucket, key)
    body = json.dumps(classic_notification(core_stack.landing_bucket, key, size, etag))
    sqs_event = {
        "Records": [
            {"messageId": "1", "receiptHandle": "h", "body": body, "attributes": {}, "messageAttributes": {},
             "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
             "awsRegion": "us-east-1"},
            {"messageId": "2", "receiptHandle": "h", "body": json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent",
             "Bucket": core_stack.landing_bucket}), "attributes": {}, "messageAttributes": {}, "md5OfBody": "",
             "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"},
        ]
    }  # fmt: skip
    assert [o.key for o in landed_objects_from_event(sqs_event)] == [key]


def test_the_eventbridge_form_is_not_decoded(core_stack, services):
    # EventBridge delivers the key as it is: a literal "+" must stay a "+".
    clients, planner, _ = services
    key = f"sf-accounts/{EXECUTION}/a+b c"
    size, etag = land(clients, core_stack.landing_bucket, key)
    event = {
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "123456789012", "time": "2024-04-16T19:05:12Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{core_stack.landing_bucket}"],
        "detail": {"version": "0", "bucket": {"name": core_stack.landing_bucket},
                   "object": {"key": key, "size": size, "etag": etag, "sequencer": "00617F08299329D189"},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"},
    }  # fmt: skip
    (notified,) = landed_objects_from_event(event)
    assert notified.key == key
    assert planner.plan(notified).chunks[0].key == key
