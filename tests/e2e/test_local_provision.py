"""`local provision` creates what template.yaml declares, with the template's settings, idempotently.

Expectations are read from the template (with the project's loader), never listed here, so a new
queue or table in the template is checked without touching this file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from appflow_local.cli import main
from appflow_local.clients import Emulator
from appflow_local.stack.description import load_stack
from appflow_local.stack.template import load_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
pytestmark = pytest.mark.integration


def _short_forms(value: Any) -> Any:
    """The template's intrinsics as written (``{"!GetAtt": "Queue.Arn"}``, ``{"!Ref": name}``), so the
    test can follow references by itself; the project's loader gives the long form."""
    if isinstance(value, list):
        return [_short_forms(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key == "Ref" or key.startswith("Fn::"):
            if key == "Fn::GetAtt" and isinstance(inner, list):
                return {"!GetAtt": ".".join(inner)}
            return {"!" + key.removeprefix("Fn::"): _short_forms(inner)}
    return {key: _short_forms(inner) for key, inner in value.items()}


DOCUMENT: dict[str, Any] = _short_forms(load_yaml(TEMPLATE))
# Fn::ForEach loops (AWS::LanguageExtensions) make AppFlow flows, which have no local equivalent:
# what provisioning makes of them is tested in tests/e2e/test_flows_as_code.py.
RESOURCES: dict[str, Any] = {k: v for k, v in DOCUMENT["Resources"].items() if not k.startswith("Fn::ForEach::")}


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r.get("Properties", {}) for lid, r in RESOURCES.items() if r["Type"] == kind}


def _sends_object_created_to_eventbridge(emulator: Emulator, bucket: str) -> bool:
    """Observe it (moto does not report EventBridgeConfiguration back): watch the default bus, put an object."""
    watcher = f"watch-{bucket}"[:64]
    queue = emulator.sqs.create_queue(QueueName=watcher[:80])["QueueUrl"]
    arn = emulator.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    emulator.events.put_rule(
        Name=watcher,
        EventPattern=json.dumps(
            {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": [bucket]}}}
        ),
    )
    emulator.events.put_targets(Rule=watcher, Targets=[{"Id": "watch", "Arn": arn}])
    try:
        emulator.s3.put_object(Bucket=bucket, Key="probe/object", Body=b"{}\n")
        return bool(emulator.sqs.receive_message(QueueUrl=queue).get("Messages"))
    finally:
        emulator.events.remove_targets(Rule=watcher, Ids=["watch"])
        emulator.events.delete_rule(Name=watcher)
        emulator.s3.delete_object(Bucket=bucket, Key="probe/object")


def _provision(endpoint: str, stack_name: str, *overrides: str) -> None:
    argv = ["local", "provision", "--endpoint-url", endpoint, "--stack-name", stack_name, "--template", str(TEMPLATE)]
    if overrides:
        argv += ["--parameter-overrides", *overrides]
    assert main(argv) == 0


def test_provision_creates_every_resource_the_template_declares(moto_endpoint, stack_name, capsys):
    # Given the template; When provisioned (with the partner event source its conditional bus needs)
    source = f"aws.partner/appflow/salesforce.com/123456789012/{stack_name}"
    _provision(moto_endpoint, stack_name, "ChunkSizeBytes=4096", f"SalesforceEventSourceName={source}")
    capsys.readouterr()
    emulator = Emulator(moto_endpoint)
    stack = load_stack(emulator, stack_name)

    # Then every bucket exists, EventBridge notifications on where the template turns them on
    for logical_id, props in _of_type("AWS::S3::Bucket").items():
        bucket = stack.attribute(logical_id)
        emulator.s3.head_bucket(Bucket=bucket)
        wants_eventbridge = bool(props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration"))
        assert _sends_object_created_to_eventbridge(emulator, bucket) == wants_eventbridge, logical_id

    # ... every queue, with the template's visibility timeout and redrive policy
    queue_arns = {}
    for logical_id, props in _of_type("AWS::SQS::Queue").items():
        attributes = emulator.sqs.get_queue_attributes(QueueUrl=stack.attribute(logical_id), AttributeNames=["All"])[
            "Attributes"
        ]
        queue_arns[logical_id] = attributes["QueueArn"]
        if "VisibilityTimeout" in props:
            assert int(attributes["VisibilityTimeout"]) == props["VisibilityTimeout"], logical_id
        if "RedrivePolicy" in props:
            redrive = json.loads(attributes["RedrivePolicy"])
            dead_letter = props["RedrivePolicy"]["deadLetterTargetArn"]["!GetAtt"].split(".")[0]
            assert int(redrive["maxReceiveCount"]) == props["RedrivePolicy"]["maxReceiveCount"]
            assert redrive["deadLetterTargetArn"] == stack.attribute(dead_letter, "Arn")
        else:
            assert "RedrivePolicy" not in attributes, logical_id

    # ... every table, with its key schema and stream view type
    for logical_id, props in _of_type("AWS::DynamoDB::Table").items():
        table = emulator.dynamodb.describe_table(TableName=stack.attribute(logical_id))["Table"]
        assert table["KeySchema"] == props["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(props["AttributeDefinitions"], key=str)
        if "StreamSpecification" in props:
            assert table["StreamSpecification"]["StreamViewType"] == props["StreamSpecification"]["StreamViewType"]
            assert stack.attribute(logical_id, "StreamArn") == table["LatestStreamArn"]

    # ... every bus, and a rule with the template's pattern for every EventBridgeRule event
    for logical_id in _of_type("AWS::Events::EventBus"):
        emulator.events.describe_event_bus(Name=stack.attribute(logical_id))
    for function_id, props in _of_type("AWS::Serverless::Function").items():
        for event_name, event in props.get("Events", {}).items():
            if event["Type"] != "EventBridgeRule":
                continue
            delivery = next(d for d in stack.deliveries if (d.function, d.event) == (function_id, event_name))
            rule = emulator.events.describe_rule(Name=delivery.rule, EventBusName=delivery.bus)
            pattern = json.loads(rule["EventPattern"])
            assert set(pattern) == set(event["Properties"]["Pattern"])
            assert pattern["source"] == event["Properties"]["Pattern"]["source"]
            bus = event["Properties"].get("EventBusName")
            assert delivery.bus == ("default" if bus in (None, "default") else stack.attribute(bus["!If"][1]["!Ref"]))
            targets = emulator.events.list_targets_by_rule(Rule=delivery.rule, EventBusName=delivery.bus)["Targets"]
            assert [t["Arn"] for t in targets] == [delivery.queue_arn]

    # ... and the parameter override is what the functions will see
    assert stack.parameters["ChunkSizeBytes"] == "4096"
    # Every queue used as a dead-letter or on-failure destination is known as one.
    assert set(stack.failure_queues) >= {lid for lid in queue_arns if "DeadLetter" in lid or "Failure" in lid}


def test_provisioning_twice_is_harmless(moto_endpoint, stack_name, capsys):
    # Given a provisioned stack
    _provision(moto_endpoint, stack_name)
    emulator = Emulator(moto_endpoint)
    first = load_stack(emulator, stack_name)

    # When provisioned again with another parameter value
    _provision(moto_endpoint, stack_name, "ChunkSizeBytes=2048")
    capsys.readouterr()
    second = load_stack(emulator, stack_name)

    # Then the same resources are described and the new value is stored
    assert first.resources == second.resources
    assert first.deliveries == second.deliveries
    assert second.parameters["ChunkSizeBytes"] == "2048"


def test_commands_on_an_unprovisioned_stack_say_what_to_do(moto_endpoint, capsys):
    assert main(["local", "dump", "--endpoint-url", moto_endpoint, "--stack-name", "never-provisioned"]) == 2
    assert "local provision" in capsys.readouterr().err
