"""The reference consumer (examples/consumer/) against the real events of a local pipeline run.

Its own template is provisioned beside the stack in the same emulator (rule on the downstream
bus, queue, DLQ, tables) and its handler runs in-process through the local runtime, as Lambda
would run it from the SQS event source. It is bootstrapped by `replay-events` from the archive,
gets live changes, sees every message again duplicated and out of order, then a snapshot: its
read model must end equal to the entity table (`local dump`), with repeats dropped by event_id.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from appflow_local.cli import main
from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.sample_run.generator import ACCOUNT_FLOW
from appflow_local.stack.description import StackDescription, load_stack
from appflow_local.stack.provision import provision
from appflow_local.stack.readback import stored_records
from appflow_local.stack.template import Template

pytestmark = pytest.mark.integration
CONSUMER_TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "consumer" / "template.yaml"


@pytest.fixture
def consumer(sample_stack) -> dict[str, Any]:
    """The reference consumer's stack, provisioned from its template beside the sample stack."""
    emulator = Emulator(sample_stack["endpoint"])
    pipeline = load_stack(emulator, sample_stack["name"])
    template = Template.load(CONSUMER_TEMPLATE)
    stack = provision(
        template,
        emulator,
        stack_name=f"consumer{uuid.uuid4().hex[:6]}",
        parameter_overrides={"DownstreamBusName": pipeline.resources["DownstreamBus"]["Ref"]},
    )
    return {"emulator": emulator, "pipeline": pipeline, "stack": stack, "template": template, **sample_stack}


def _cli(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, [line for line in captured.out.splitlines() if line.strip()], captured.err


def _read_model(emulator: Emulator, stack: StackDescription) -> list[dict[str, Any]]:
    """The read model in `local dump`'s shape."""
    rows = []
    table = stack.resources["ReadModelTable"]["Ref"]
    for page in emulator.dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            rows.append(
                {
                    "object": item["object"]["S"],
                    "id": item["record_id"]["S"],
                    "version": item["version"]["S"],
                    "deleted": item["deleted"]["BOOL"],
                    "record": json.loads(item["record"]["S"]) if "record" in item else None,
                }
            )
    return sorted(rows, key=lambda r: (r["object"], r["id"]))


def _land_newer_accounts(capsys, consumer: dict[str, Any], directory: Path) -> None:
    """Newer versions of three Accounts and the deletion of a fourth, landed as one more AppFlow run."""
    accounts = [
        r
        for r in stored_records(consumer["emulator"], consumer["pipeline"])
        if r["object"] == "Account" and not r["deleted"]
    ][:4]
    lines = []
    for position, stored in enumerate(accounts):
        newer = datetime.fromisoformat(stored["version"].replace("Z", "+00:00")) + timedelta(days=1)
        record = {**stored["record"], "LastModifiedDate": newer.strftime("%Y-%m-%dT%H:%M:%S.000+0000")}
        if position == 3:
            record["IsDeleted"] = True
        else:
            record["Name"] = f"{record.get('Name', '')} (renamed)"
        lines.append(json.dumps({"attributes": {"type": "Account"}, **record}))
    path = directory / "newer-accounts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, _, err = _cli(
        capsys, "local", "replay", "--endpoint-url", consumer["endpoint"], "--stack-name", consumer["name"],
        "--flow", ACCOUNT_FLOW, str(path),
    )  # fmt: skip
    assert code == 0, err


def _take_messages(emulator: Emulator, queue_url: str) -> list[str]:
    bodies = []
    while batch := emulator.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(message["Body"])
            emulator.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _deliver(emulator: Emulator, queue_url: str, bodies: list[str]) -> None:
    for first in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[first : first + 10])]
        assert not emulator.sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


def test_the_read_model_equals_the_entity_table_after_duplicated_out_of_order_delivery(consumer, capsys, tmp_path):
    emulator, stack = consumer["emulator"], consumer["stack"]
    queue = stack.resources["EventQueue"]["Ref"]
    rule = stack.resources["RecordEventsRule"]["Ref"]
    target = ["--endpoint-url", consumer["endpoint"], "--stack", consumer["name"]]

    # Given the consumer, deployed after the pipeline ran, bootstrapped by a replay of the archive
    code, out, err = _cli(capsys, "replay-events", *target, "--since", "1d", "--to", rule, "--grace-seconds", "0")
    assert code == 0 and json.loads(out[-1])["state"] == "COMPLETED", err
    # ... and live changes after it subscribed: newer versions and a deletion
    _land_newer_accounts(capsys, consumer, tmp_path)

    # When every message it got is delivered newest first, a third of them twice, shuffled nearby
    bodies = _take_messages(emulator, queue)
    record_events = [json.loads(b) for b in bodies if json.loads(b)["detail-type"] == "Record Changed"]
    versions_per_record = Counter((e["detail"]["object"], e["detail"]["id"]) for e in record_events)
    assert max(versions_per_record.values()) >= 2  # some records have an older version to arrive late
    rng = random.Random(16)
    delivery = list(reversed(bodies)) + rng.sample(bodies, len(bodies) // 3)
    rng.shuffle(delivery)
    _deliver(emulator, queue, delivery)
    summary = LocalRuntime(emulator, stack, consumer["template"]).run_until_drained()

    # Then the read model is the entity table, tombstones included
    stored = stored_records(emulator, consumer["pipeline"])
    assert _read_model(emulator, stack) == stored
    assert summary.ok, summary.as_dict()
    # ... every distinct event was applied once (newer) or refused (older); repeats never reached it
    distinct = {json.loads(b)["detail"]["event_id"] for b in delivery}
    assert len(delivery) > len(distinct)
    assert summary.count("EventsApplied") + summary.count("EventsStale") == len(distinct)
    assert summary.count("EventsStale") > 0  # older versions did arrive after newer ones, and lost

    # When a snapshot of the Accounts is published (same versions, other event ids)
    code, out, err = _cli(capsys, "snapshot", *target, "--object", "Account", "--checkpoint", str(tmp_path / "s.json"))
    assert code == 0, err
    snapshot = LocalRuntime(emulator, stack, consumer["template"]).run_until_drained()

    # Then the same code path applied each as stale, and the read model did not move
    accounts = sum(1 for r in stored if r["object"] == "Account")
    assert snapshot.count("EventsStale") == accounts and snapshot.count("EventsApplied") == 0
    assert _read_model(emulator, stack) == stored_records(emulator, consumer["pipeline"])


def test_a_message_that_cannot_be_applied_fails_alone_and_ends_in_the_dead_letter_queue(consumer):
    emulator, stack = consumer["emulator"], consumer["stack"]
    queue = stack.resources["EventQueue"]["Ref"]
    good = {
        "source": "appflow-ingest",
        "detail-type": "Record Changed",
        "detail": {
            "event_id": "Account:001POISONTEST0001:1700000000000:UPSERT",
            "object": "Account",
            "id": "001POISONTEST0001",
            "version": "2023-11-14T22:13:20.000Z",
            "change": "UPSERT",
            "previous_version": None,
            "record": {"Id": "001POISONTEST0001", "Name": "Fine"},
            "source": "s3://landing/x",
        },
    }
    no_id = {**good, "detail": {k: v for k, v in good["detail"].items() if k != "event_id"}}

    # Given a batch holding a good event, a body that is not JSON and an event without event_id
    _deliver(emulator, queue, ["{not json", json.dumps(good), json.dumps(no_id)])

    # When the consumer runs until the queue is drained (the failures retried to maxReceiveCount)
    summary = LocalRuntime(emulator, stack, consumer["template"]).run_until_drained()

    # Then the good event is in the read model, and exactly the two bad ones are in the DLQ
    assert summary.count("EventsApplied") == 1
    rows = {(r["object"], r["id"]) for r in _read_model(emulator, stack)}
    assert ("Account", "001POISONTEST0001") in rows
    assert summary.failure_queue_depths == {"DeadLetterQueue": 2}
    assert not summary.ok  # someone is told: the DLQ has an alarm on AWS, and `ok` is false locally
