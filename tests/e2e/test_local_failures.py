"""Failure paths of the local runtime: what Lambda would retry, redrive, bisect or give up, locally too.

The template's wiring is used as is; only the failing function's handler is swapped for a small
one that fails on purpose (and records the events it was given, to check their shape).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from appflow_local.cli import main
from appflow_local.clients import Emulator
from appflow_local.stack.description import load_stack
from appflow_local.stack.template import Template

pytestmark = pytest.mark.integration
FLOWS = json.dumps({"sf-accounts": {"object": "Account"}})


def _record(record_id: str, minute: int = 0) -> dict[str, Any]:
    return {
        "Id": record_id,
        "Name": f"Account {record_id}",
        "IsDeleted": False,
        "LastModifiedDate": f"2024-04-16T19:{minute:02d}:00.000+0000",
    }


def _land_and_replay(
    capsys, endpoint: str, stack_name: str, template: Path, tmp_path: Path, records: list[dict[str, Any]]
) -> tuple[int, dict[str, Any]]:
    assert (
        main(
            [
                "local",
                "provision",
                "--endpoint-url",
                endpoint,
                "--stack-name",
                stack_name,
                "--template",
                str(template),
                "--parameter-overrides",
                f"FlowObjects={FLOWS}",
            ]
        )
        == 0
    )
    data = tmp_path / "part-0001"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    capsys.readouterr()
    code = main(
        ["local", "replay", "--endpoint-url", endpoint, "--stack-name", stack_name, "--flow", "sf-accounts", str(data)]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(lines[-1])


def _recording_handler(log: Path, body: str) -> str:
    """Handler source that appends each event to ``log`` (JSON Lines), then runs ``body``."""
    return (
        f"import json\nLOG = {str(log)!r}\n\ndef handler(event, context):\n"
        f"    with open(LOG, 'a') as f:\n        f.write(json.dumps(event) + '\\n')\n{body}"
    )


def _events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_chunk_that_keeps_failing_is_redriven_to_the_dead_letter_queue(
    moto_endpoint, stack_name, tmp_path, capsys, template_with_handlers
):
    # Given an ingest handler that always raises
    log = tmp_path / "ingest-events.jsonl"
    template = template_with_handlers(
        {"IngestFunction": _recording_handler(log, "    raise RuntimeError('ingest is broken')\n")}
    )

    # When a file is replayed
    code, summary = _land_and_replay(capsys, moto_endpoint, stack_name, template, tmp_path, [_record("001A")])

    # Then the run fails, and after maxReceiveCount receives the chunk sits in the DLQ
    emulator = Emulator(moto_endpoint)
    stack = load_stack(emulator, stack_name)
    redrive = json.loads(
        emulator.sqs.get_queue_attributes(QueueUrl=stack.attribute("ChunkQueue"), AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    dead_letter = stack.logical_id_of_arn(redrive["deadLetterTargetArn"])
    assert code == 1 and summary["ok"] is False
    assert summary["dead_letter_queues"][dead_letter] == 1
    assert summary["failed_invocations_by_function"] == {"IngestFunction": redrive["maxReceiveCount"]}
    assert summary["undelivered"] == {}
    message = emulator.sqs.receive_message(QueueUrl=stack.attribute(dead_letter))["Messages"][0]
    assert "sf-accounts/" in message["Body"]  # the real planner's chunk message

    # ... and every attempt got Lambda's SQS event shape, with the receive count going up
    events = _events(log)
    records = [e["Records"][0] for e in events]
    assert [int(r["attributes"]["ApproximateReceiveCount"]) for r in records] == list(
        range(1, redrive["maxReceiveCount"] + 1)
    )
    first = records[0]
    assert set(first) >= {
        "messageId",
        "receiptHandle",
        "body",
        "attributes",
        "messageAttributes",
        "md5OfBody",
        "eventSource",
        "eventSourceARN",
        "awsRegion",
    }
    assert first["eventSource"] == "aws:sqs"
    assert first["eventSourceARN"] == stack.attribute("ChunkQueue", "Arn")
    assert first["body"] == message["Body"]


def test_a_poison_stream_record_is_bisected_out_and_sent_to_the_on_failure_destination(
    moto_endpoint, stack_name, tmp_path, capsys, template_with_handlers
):
    # Given a publish handler that fails any batch holding the poison record
    log = tmp_path / "publish-events.jsonl"
    template = template_with_handlers(
        {
            "PublishFunction": _recording_handler(
                log,
                (
                    "    keys = [r['dynamodb']['Keys']['pk']['S'] for r in event['Records']]\n"
                    "    if any('POISON' in k for k in keys):\n"
                    "        raise RuntimeError('poison record')\n"
                    "    return {'batchItemFailures': []}\n"
                ),
            )
        }
    )
    spec = Template.load(template).function("publish")
    stream_event = next(e for e in spec.events if e.type == "DynamoDB").properties

    # When three records are replayed, the poison one among them
    code, summary = _land_and_replay(
        capsys, moto_endpoint, stack_name, template, tmp_path, [_record("001A"), _record("001POISON"), _record("001C")]
    )

    # Then the run fails, the two good records were delivered, the poison one alone was given up
    assert code == 1
    events = _events(log)
    # Only the entity table's stream: the derived table's (schema sightings) feeds the publisher too.
    batches = [[r["dynamodb"]["Keys"]["pk"]["S"] for r in e["Records"]] for e in events]
    batches = [batch for batch in batches if not any(key.startswith("schema#") for key in batch)]
    delivered = {key for batch in batches if not any("POISON" in k for k in batch) for key in batch}
    assert delivered == {"Account#001A", "Account#001C"}
    assert ["Account#001POISON"] in batches  # bisected down to the poison record alone
    emulator = Emulator(moto_endpoint)
    stack = load_stack(emulator, stack_name)
    destination = stack.logical_id_of_arn(
        stack.resolver(Template.load(template)).resolve(stream_event["DestinationConfig"]["OnFailure"]["Destination"])
    )
    assert summary["dead_letter_queues"][destination] == 1
    failure = json.loads(emulator.sqs.receive_message(QueueUrl=stack.attribute(destination))["Messages"][0]["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert failure["requestContext"]["approximateInvokeCount"] == stream_event["MaximumRetryAttempts"] + 1

    # ... and records arrived in Lambda's DynamoDB stream shape, images in DynamoDB JSON
    record = events[0]["Records"][0]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == stack.attribute("EntityTable", "StreamArn")
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], (int, float))
    assert record["dynamodb"]["NewImage"]["version"]["N"].isdigit()
    assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"

    # When the pipeline is driven again, the checkpoint keeps the given-up record from coming back
    assert main(["local", "drain", "--endpoint-url", moto_endpoint, "--stack-name", stack_name]) == 1
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["invocations"] == {} and again["dead_letter_queues"][destination] == 1


def test_an_event_the_planner_keeps_failing_on_is_not_lost_silently(
    moto_endpoint, stack_name, tmp_path, capsys, template_with_handlers
):
    # Given a planner that always raises
    template = template_with_handlers({"PlanFunction": "def handler(event, context):\n    raise ValueError('no')\n"})
    spec = Template.load(template).function("plan")
    async_destination = spec.properties.get("DeadLetterQueue") or spec.properties.get("EventInvokeConfig")

    # When a file is replayed
    code, summary = _land_and_replay(capsys, moto_endpoint, stack_name, template, tmp_path, [_record("001A")])

    # Then the run fails: Lambda's asynchronous invocation was tried 1 + 2 times, then the event went to
    # the function's failure destination, or, if the template declares none, was dropped, loudly
    assert code == 1
    assert summary["failed_invocations_by_function"] == {"PlanFunction": 3}
    if async_destination:
        assert sum(summary["dead_lettered"].values()) == 1
    else:
        assert summary["dropped"] == 1
