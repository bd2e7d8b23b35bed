"""The local runtime's pieces: template resolution, EMF metrics, one-off invocations, isolation."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from appflow_local.cli import main
from appflow_local.clients import Emulator
from appflow_local.emulator.handler_output import HandlerOutput, emf_metrics
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.stack.description import landing_bucket
from appflow_local.stack.provision import provision
from appflow_local.stack.template import Resolver, Template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _object_created(bucket: str, key: str) -> dict:
    """The EventBridge envelope S3 sends for a new object (as in the S3 user guide)."""
    return {
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
        "source": "aws.s3", "account": "123456789012", "time": "2024-04-16T19:00:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket}, "object": {"key": key, "size": 1},
                   "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject"},
    }  # fmt: skip


def test_intrinsic_functions_resolve_against_the_given_resources():
    template = Template.load(TEMPLATE)
    resolver = Resolver(
        template,
        template.parameter_values({"LogLevel": "DEBUG"}),
        lambda logical_id, attribute: f"<{logical_id}.{attribute or 'Ref'}>",
        stack_name="demo",
    )
    assert resolver.resolve({"Fn::Sub": "${AWS::StackName}-downstream"}) == "demo-downstream"
    assert resolver.resolve({"Fn::Sub": "${LandingBucket.Arn}/*"}) == "<LandingBucket.Arn>/*"
    assert resolver.resolve({"Fn::GetAtt": ["ChunkQueue", "Arn"]}) == "<ChunkQueue.Arn>"
    assert resolver.resolve({"Ref": "LogLevel"}) == "DEBUG"
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Fn::Select": [1, ["x", "y"]]}]]}) == "a-y"


def test_conditions_and_no_value():
    template = Template(TEMPLATE, {
        "Parameters": {"Env": {"Type": "String", "Default": "dev"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        "Resources": {},
    })  # fmt: skip
    for env, expected in (("dev", {"B": 2}), ("prod", {"A": 1, "B": 2})):
        resolver = Resolver(template, template.parameter_values({"Env": env}), lambda *_: None)
        value = {"A": {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}, "B": 2}
        assert resolver.resolve(value) == expected
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Fn::Select": [1, ["x", "y"]]}]]}) == "a-y"


def test_emf_documents_are_summed_and_other_lines_pass_through(tmp_path):
    sink = (tmp_path / "log").open("w+")
    output = HandlerOutput(sink)
    document = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["service"]],
                "Metrics": [{"Name": "RecordsRead", "Unit": "Count"}, {"Name": "EventsPublished", "Unit": "Count"}]}]},
                "service": "s", "RecordsRead": [2.0, 3.0], "EventsPublished": 4.0}  # fmt: skip
    output.write(json.dumps(document) + "\n" + '{"level":"INFO","message":"hello"}\npartial')
    output.flush()
    assert output.metrics == {"RecordsRead": 5.0, "EventsPublished": 4.0}
    sink.seek(0)
    assert sink.read() == '{"level":"INFO","message":"hello"}\npartial\n'
    assert emf_metrics({"RecordsRead": 1}) == {}


@pytest.mark.integration
def test_local_invoke_runs_one_function_with_an_event_file(moto_endpoint, stack_name, tmp_path, capsys):
    # Given a provisioned stack and a landed file
    emulator = Emulator(moto_endpoint)
    template = Template.load(TEMPLATE)
    stack = provision(template, emulator, stack_name=stack_name)
    bucket = landing_bucket(stack, template)
    emulator.s3.put_object(Bucket=bucket, Key="sf-accounts/run-1/part-1", Body=b'{"Id": "001A"}\n')
    # moto already delivered the real notification; this test is about invoking by hand
    event = tmp_path / "event.json"
    event.write_text(json.dumps(_object_created(bucket, "sf-accounts/run-1/part-1")))

    # When the planner is invoked by its short name
    code = main(
        ["local", "invoke", "plan", "--event", str(event), "--endpoint-url", moto_endpoint, "--stack-name", stack_name]
    )

    # Then it returns the handler's result, and its chunk message is on the chunk queue
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["planned"][0]["chunks"] == 1
    depth = emulator.sqs.get_queue_attributes(
        QueueUrl=stack.attribute("ChunkQueue"), AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "1"


@contextmanager
def _moto_server_process() -> Iterator[str]:
    """A second emulator in its own process: moto's backends are per process, so in-process servers share state."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)  # noqa: S310 - local emulator
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.integration
def test_two_runtimes_on_two_emulators_do_not_share_module_state(moto_endpoint, stack_name):
    # Given the same stack provisioned in two emulators, a file landed only in the second one
    template = Template.load(TEMPLATE)
    first = Emulator(moto_endpoint)
    first_stack = provision(template, first, stack_name=stack_name)
    with _moto_server_process() as other_endpoint:
        second = Emulator(other_endpoint)
        second_stack = provision(template, second, stack_name=stack_name)
        bucket = landing_bucket(second_stack, template)
        second.s3.put_object(Bucket=bucket, Key="sf-accounts/run-1/part-1", Body=b'{"Id": "001A"}\n')
        event = _object_created(bucket, "sf-accounts/run-1/part-1")

        # When each runtime invokes its own planner
        in_first = LocalRuntime(first, first_stack, template).invoke("plan", event)
        in_second = LocalRuntime(second, second_stack, template).invoke("plan", event)

    # Then each function module talked to its own emulator
    assert not in_first.failed and not in_second.failed, (in_first.error, in_second.error)
    assert in_first.result["planned"][0]["skipped"] == "object no longer exists"
    assert in_second.result["planned"][0]["chunks"] == 1
