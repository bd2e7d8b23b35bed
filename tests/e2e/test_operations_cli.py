"""The operations verbs driven as a user drives them, against a fresh stack in moto's server.

Given a replayed run with known bad lines, `quarantine` must list exactly what the replay
quarantined (offsets, fields, reasons), `runs` and `report` must tell the run, every failure
queue kind must be redriven where it belongs (and a second redrive change nothing), and
`reingest` after a configuration fix must write what was quarantined, shown as a re-ingestion.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from appflow_local.cli import main
from appflow_local.emulator.server import Emulator
from appflow_local.stack.description import load_stack
from appflow_local.stack.readback import published_events

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FLOW = "sf-accounts"

GOOD = [
    {"Id": "001000000000001AAA", "Name": "Acme", "LastModifiedDate": "2024-04-16T19:00:00.000+0000"},
    {"Id": "001000000000002AAA", "Name": "Beta", "LastModifiedDate": "2024-04-16T19:00:00.000Z"},
]
NO_VERSION = {"Id": "001000000000003AAA", "Name": "Gamma"}
NO_ID = {"Name": "Delta", "LastModifiedDate": "2024-04-16T19:00:00.000Z"}
NOT_JSON = b"this is not json"


def cli(capsys, *argv: str) -> tuple[int, list[str], str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, [line for line in captured.out.splitlines() if line.strip()], captured.err


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


def landed_file(directory: Path) -> tuple[Path, dict[int, str]]:
    """A JSON Lines file of good and bad lines; the byte offset of each bad line and what is wrong with it."""
    lines = [json.dumps(GOOD[0]).encode(), json.dumps(NO_VERSION).encode(), NOT_JSON, json.dumps(NO_ID).encode()]
    lines.append(json.dumps(GOOD[1]).encode())
    offsets, position = [], 0
    for line in lines:
        offsets.append(position)
        position += len(line) + 1
    path = directory / "part-00000.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, {offsets[1]: "LastModifiedDate", offsets[2]: "undecodable", offsets[3]: "Id"}


def provision(capsys, endpoint: str, stack: str, flow_objects: dict[str, Any]) -> None:
    code, _, err = cli(
        capsys,
        "local", "provision", "--endpoint-url", endpoint, "--stack-name", stack,
        "--parameter-overrides", f"FlowObjects={json.dumps(flow_objects)}",
    )  # fmt: skip
    assert code == 0, err


def replay(capsys, endpoint: str, stack: str, execution_id: str, *files: Path, strict: bool = False):
    argv = ["local", "replay", "--endpoint-url", endpoint, "--stack-name", stack, "--flow", FLOW]
    argv += ["--execution-id", execution_id, *(["--strict"] if strict else []), *map(str, files)]
    code, out, err = cli(capsys, *argv)
    return code, json.loads(out[-1]), err


@pytest.fixture
def replayed(capsys, moto_endpoint, stack_name, tmp_path):
    """A stack with one replayed run: (endpoint, stack, execution id, bad offsets, replay summary)."""
    provision(capsys, moto_endpoint, stack_name, {FLOW: {"object": "Account"}})
    path, bad = landed_file(tmp_path)
    execution_id = str(uuid.uuid4())
    code, summary, err = replay(capsys, moto_endpoint, stack_name, execution_id, path)
    assert code == 0, err
    return moto_endpoint, stack_name, execution_id, bad, summary, err


def test_quarantine_lists_exactly_what_the_replay_quarantined(capsys, replayed):
    # Given a replay that quarantined three of five lines
    endpoint, stack, execution_id, bad, summary, err = replayed
    assert summary["quarantined"] == 3 and summary["written"] == 2 and summary["ok"] is True
    # ... whose summary names the location and the first reasons
    assert summary["quarantine"]["entries"] == 3
    assert summary["quarantine"]["location"].endswith(f"/quarantine/{FLOW}/{execution_id}/")
    assert any("LastModifiedDate" in reason for reason in summary["quarantine"]["first_reasons"])
    assert "first reasons:" in err and f"--execution-id {execution_id}" in err

    # When the user lists the run's quarantine
    code, out, _ = cli(
        capsys, "quarantine", "--endpoint-url", endpoint, "--stack", stack, "--execution-id", execution_id
    )

    # Then exactly those entries come back, each with where, which field and why, without the record
    assert code == 0
    found = json_lines(out)
    assert {e["offset"]: (e["field"] or e["kind"]) for e in found} == bad
    for entry in found:
        assert entry["flow_name"] == FLOW and entry["execution_id"] == execution_id
        assert entry["source"].endswith(f"{FLOW}/{execution_id}/part-00000.jsonl")
        assert entry["reason"] and entry["location"].startswith("s3://")
        assert "record" not in entry and "line" not in entry

    # And filters and the summary agree with them
    code, out, _ = cli(capsys, "quarantine", "--endpoint-url", endpoint, "--stack", stack, "--field", "Id")
    assert [e["offset"] for e in json_lines(out)] == [o for o, f in bad.items() if f == "Id"]
    code, out, _ = cli(
        capsys, "quarantine", "--endpoint-url", endpoint, "--stack", stack, "--reason", "one JSON object per line"
    )
    assert [e["kind"] for e in json_lines(out)] == ["undecodable"]
    code, out, _ = cli(capsys, "quarantine", "--endpoint-url", endpoint, "--stack", stack, "--summary")
    groups = json_lines(out)
    assert sum(g["count"] for g in groups) == 3
    assert {g["field"] for g in groups} == {"LastModifiedDate", "Id", None}
    code, out, _ = cli(
        capsys, "quarantine", "--endpoint-url", endpoint, "--stack", stack, "--with-record", "--field", "Id"
    )
    assert json_lines(out)[0]["record"] == NO_ID


def test_runs_and_report_tell_the_run(capsys, replayed, tmp_path):
    endpoint, stack, execution_id, _, _, _ = replayed
    code, out, _ = cli(capsys, "runs", "--endpoint-url", endpoint, "--stack", stack, "--flow", FLOW)
    (run,) = [r for r in json_lines(out) if r["execution_id"] == execution_id]
    assert (run["read"], run["written"], run["quarantined"], run["files_seen"]) == (5, 2, 3, 1)
    # `local runs` is the same verb
    code, out, _ = cli(capsys, "local", "runs", "--endpoint-url", endpoint, "--stack-name", stack)
    assert any(r["execution_id"] == execution_id and r["quarantined"] == 3 for r in json_lines(out))
    # A time filter in the future selects nothing (a run without a start time matches no time filter)
    code, out, _ = cli(capsys, "runs", "--endpoint-url", endpoint, "--stack", stack, "--since", "1h")
    assert code == 0 and out == []

    page = tmp_path / "run.html"
    code, out, _ = cli(
        capsys,
        "report",
        "--endpoint-url",
        endpoint,
        "--stack",
        stack,
        "--execution-id",
        execution_id,
        "--html",
        str(page),
    )
    assert code == 0
    text = "\n".join(out)
    assert "quarantined 3" in text and "LastModifiedDate" in text and "1/1 finished" in text
    html = page.read_text()
    assert "<svg" in html and "LastModifiedDate" in html and "http" not in html.split("<body>", 1)[0]
    code, out, _ = cli(
        capsys, "report", "--endpoint-url", endpoint, "--stack", stack, "--execution-id", execution_id, "--json"
    )
    report = json.loads(out[0])
    assert report["quarantine"]["entries"] == 3 and len(report["files"]) == 1


def test_replay_counts_its_own_run_and_reports_leftovers_and_earlier_dead_letters(capsys, replayed, tmp_path):
    endpoint, stack, _, _, _, _ = replayed
    emulator = Emulator(endpoint)
    description = load_stack(emulator, stack)
    # Given a dead letter from before, and a file landed by an earlier command that nobody drained
    dlq = description.resources["ChunkDeadLetterQueue"]["Ref"]
    emulator.sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"left": "by an earlier command"}))
    landing = description.resources["LandingBucket"]["Ref"]
    leftover = b"\n".join(json.dumps({**g, "Name": "leftover"}).encode() for g in GOOD) + b"\n"
    emulator.s3.put_object(Bucket=landing, Key=f"{FLOW}/earlier-run/part.jsonl", Body=leftover)

    # When a new run of one good record is replayed
    path = tmp_path / "one.jsonl"
    path.write_bytes(json.dumps({**GOOD[0], "LastModifiedDate": "2025-01-01T00:00:00.000Z"}).encode() + b"\n")
    code, summary, err = replay(capsys, endpoint, stack, str(uuid.uuid4()), path)

    # Then it counts only its own record, reports the leftovers apart, and the old dead letter is not fatal
    assert code == 0, err
    assert (summary["read"], summary["written"]) == (1, 1)
    assert summary["leftovers"]["read"] == 2
    assert summary["dead_letter_queues_before"]["ChunkDeadLetterQueue"] == 1
    assert "dead-letters" in err


def test_strict_replay_fails_on_quarantine(capsys, replayed, tmp_path):
    endpoint, stack, _, _, _, _ = replayed
    path = tmp_path / "bad.jsonl"
    path.write_bytes(json.dumps(NO_VERSION).encode() + b"\n")
    code, summary, err = replay(capsys, endpoint, stack, str(uuid.uuid4()), path, strict=True)
    assert code == 1 and summary["ok"] is True and summary["quarantined"] == 1
    assert "--strict" in err and "(every record read)" in err


def _failure_queue(endpoint: str, stack: str, logical_id: str) -> str:
    return load_stack(Emulator(endpoint), stack).resources[logical_id]["Ref"]


def _depth(endpoint: str, url: str) -> int:
    attributes = Emulator(endpoint).sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_dead_letters_and_redrive_of_chunk_messages(capsys, replayed):
    endpoint, stack, execution_id, _, _, _ = replayed
    emulator = Emulator(endpoint)
    description = load_stack(emulator, stack)
    # Given a chunk message of the run in the chunk dead-letter queue (as after maxReceiveCount failures)
    landing = description.resources["LandingBucket"]["Ref"]
    key = f"{FLOW}/{execution_id}/part-00000.jsonl"
    head = emulator.s3.head_object(Bucket=landing, Key=key)
    chunk = {
        "bucket": landing, "key": key, "size": head["ContentLength"], "start": 0, "end": head["ContentLength"],
        "format": "jsonl", "etag": head["ETag"].strip('"'),
        "landing": {"flow_name": FLOW, "execution_id": execution_id},
    }  # fmt: skip
    dlq = _failure_queue(endpoint, stack, "ChunkDeadLetterQueue")
    emulator.sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(chunk))

    # When the user looks at the dead letters
    code, out, _ = cli(capsys, "dead-letters", "--endpoint-url", endpoint, "--stack", stack)
    queues = {q["queue"]: q for q in json_lines(out)}
    assert {
        "ChunkDeadLetterQueue", "PlanDeadLetterQueue", "ChangesDeadLetterQueue", "RunsDeadLetterQueue",
        "PublishFailureQueue", "AggregateFailureQueue",
    } <= set(queues)  # fmt: skip
    held = queues["ChunkDeadLetterQueue"]
    assert held["kind"] == "chunk-messages" and held["messages"] == 1 and held["oldest_age_seconds"] is not None
    assert held["sample"][0]["execution_id"] == execution_id and key in held["sample"][0]["chunk"]
    assert queues["PublishFailureQueue"]["kind"] == "stream-batches"
    assert queues["PlanDeadLetterQueue"]["kind"] == "eventbridge-events"

    # A dry run changes nothing
    code, out, _ = cli(
        capsys, "redrive", "ChunkDeadLetterQueue", "--endpoint-url", endpoint, "--stack", stack, "--dry-run"
    )
    assert code == 0 and json.loads(out[-1])["messages"] == 1 and _depth(endpoint, dlq) == 1

    # Redrive sends it back to the chunk queue and the pipeline ingests it again: this chunk was
    # counted for its run already, so it writes nothing and its record metrics add nothing (they
    # stay equal to the run ledger's counts, issue 10); a chunk that really dead-lettered was not.
    code, out, _ = cli(capsys, "redrive", "chunkdeadletterqueue", "--endpoint-url", endpoint, "--stack", stack)
    result = json.loads(out[-1])
    assert code == 0 and result["redriven"] == 1 and _depth(endpoint, dlq) == 0
    assert result["drained"]["invocations"]["IngestFunction"] == 1
    assert result["drained"]["chunks_counted_before"] == 1
    assert result["drained"]["read"] == 0 and result["drained"]["written"] == 0

    # And redriving twice changes nothing more
    code, out, _ = cli(capsys, "redrive", "ChunkDeadLetterQueue", "--endpoint-url", endpoint, "--stack", stack)
    assert code == 0 and json.loads(out[-1])["messages"] == 0


def test_redrive_of_eventbridge_events_goes_through_the_function(capsys, replayed, tmp_path):
    endpoint, stack, _, _, _, _ = replayed
    emulator = Emulator(endpoint)
    description = load_stack(emulator, stack)
    # Given an Object Created event the plan function could not handle (its file lands only now)
    landing = description.resources["LandingBucket"]["Ref"]
    key = f"{FLOW}/{uuid.uuid4()}/late.jsonl"
    event = {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-11-30T00:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"bucket": {"name": landing}, "object": {"key": key, "size": 100}, "reason": "PutObject"},
    }  # fmt: skip
    dlq = _failure_queue(endpoint, stack, "PlanDeadLetterQueue")
    emulator.sqs.send_message(
        QueueUrl=dlq,
        MessageBody=json.dumps(event),
        MessageAttributes={"ErrorMessage": {"DataType": "String", "StringValue": "boom"}},
    )
    code, out, _ = cli(capsys, "dead-letters", "--endpoint-url", endpoint, "--stack", stack)
    sample = {q["queue"]: q for q in json_lines(out)}["PlanDeadLetterQueue"]["sample"][0]
    assert sample["error"] == "boom" and "Object Created" in sample["event"]
    body = json.dumps({**GOOD[0], "LastModifiedDate": "2026-01-01T00:00:00.000Z"}).encode() + b"\n"
    emulator.s3.put_object(Bucket=landing, Key=key, Body=body)

    # When it is redriven, the event reaches the plan function through its rule's delivery
    code, out, _ = cli(capsys, "redrive", "PlanDeadLetterQueue", "--endpoint-url", endpoint, "--stack", stack)
    result = json.loads(out[-1])
    assert code == 0 and result["redriven"] == 1 and _depth(endpoint, dlq) == 0
    assert result["drained"]["invocations"]["PlanFunction"] >= 1
    assert result["drained"]["written"] == 1  # its own notification and the redriven event: one write, newest wins


# A shard the stream no longer has (streams drop shards after 24 hours): its records are gone.
GONE_SHARD = "shardId-00000001700000000000-0000dead"


def _stream_records(endpoint: str, stream_arn: str) -> tuple[str, list[dict[str, Any]]]:
    streams = Emulator(endpoint).streams
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return shard, streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]


def _batch_pointer(function_arn: str, stream_arn: str, shard: str, first: str, last: str, size: int) -> str:
    return json.dumps(
        {
            "requestContext": {"functionArn": function_arn, "condition": "RetryAttemptsExhausted"},
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": first,
                "endSequenceNumber": last,
                "batchSize": size,
                "streamArn": stream_arn,
            },
        }  # fmt: skip
    )


def test_redrive_of_stream_batches_republishes_from_the_stream_or_the_table(capsys, replayed):
    endpoint, stack, _, _, _, _ = replayed
    emulator = Emulator(endpoint)
    description = load_stack(emulator, stack)
    stream_arn = description.resources["EntityTable"]["StreamArn"]
    function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{description.resources['PublishFunction']['Ref']}"
    shard, records = _stream_records(endpoint, stream_arn)
    first, last = records[0]["dynamodb"]["SequenceNumber"], records[-1]["dynamodb"]["SequenceNumber"]
    queue = _failure_queue(endpoint, stack, "PublishFailureQueue")
    # Given a batch the publisher gave up on, still in the stream, and one the stream no longer holds
    emulator.sqs.send_message(
        QueueUrl=queue, MessageBody=_batch_pointer(function_arn, stream_arn, shard, first, last, len(records))
    )
    emulator.sqs.send_message(
        QueueUrl=queue, MessageBody=_batch_pointer(function_arn, stream_arn, GONE_SHARD, "1" * 21, "2" * 21, 2)
    )

    code, out, err = cli(
        capsys, "redrive", "PublishFailureQueue", "--endpoint-url", endpoint, "--stack", stack, "--dry-run"
    )
    assert out, err
    actions = json.loads(out[-1])["actions"]
    assert any("re-read from the stream" in a for a in actions)
    assert any("no longer holds it" in a for a in actions)

    before = [e["detail"]["event_id"] for e in published_events(emulator, description)]
    code, out, err = cli(capsys, "redrive", "PublishFailureQueue", "--endpoint-url", endpoint, "--stack", stack)
    result = json.loads(out[-1])
    assert code == 0 and result["redriven"] == 2 and not result["failed"], err
    assert _depth(endpoint, queue) == 0
    # Both batches were published again, the second by re-deriving every stored record: the same
    # changes under the same event ids (consumers drop the repeats), once from each batch
    after = [e["detail"]["event_id"] for e in published_events(emulator, description)]
    repeated = after[len(before) :]
    assert sorted(repeated) == sorted(before + before)
    code, out, _ = cli(capsys, "redrive", "PublishFailureQueue", "--endpoint-url", endpoint, "--stack", stack)
    assert json.loads(out[-1])["messages"] == 0


def test_reingest_after_a_fix_writes_what_was_quarantined_as_a_reingestion(capsys, moto_endpoint, stack_name, tmp_path):
    # Given a flow configured with the wrong version field: every record is quarantined
    provision(capsys, moto_endpoint, stack_name, {FLOW: {"object": "Account", "version_field": "SystemModstamp"}})
    path = tmp_path / "accounts.jsonl"
    path.write_bytes(b"".join(json.dumps(g).encode() + b"\n" for g in GOOD))
    execution_id = str(uuid.uuid4())
    code, summary, err = replay(capsys, moto_endpoint, stack_name, execution_id, path)
    assert code == 0 and summary["quarantined"] == 2 and summary["written"] == 0, err

    # When the configuration is fixed and the quarantined records are re-ingested
    provision(capsys, moto_endpoint, stack_name, {FLOW: {"object": "Account"}})
    code, out, _ = cli(
        capsys, "reingest", "--endpoint-url", moto_endpoint, "--stack", stack_name, "--from-quarantine",
        "--field", "SystemModstamp", "--dry-run",
    )  # fmt: skip
    assert code == 0 and len(json.loads(out[-1])["chunks"]) == 1
    code, out, err = cli(
        capsys, "reingest", "--endpoint-url", moto_endpoint, "--stack", stack_name, "--from-quarantine",
        "--of-run", execution_id, "--note", "version field fixed",
    )  # fmt: skip
    result = json.loads(out[-1])

    # Then the records are written, the run's quarantine is empty, and the ledger shows a re-ingestion
    assert code == 0, err
    assert result["drained"]["written"] == 2 and result["drained"]["quarantined"] == 0
    code, out, _ = cli(
        capsys, "quarantine", "--endpoint-url", moto_endpoint, "--stack", stack_name, "--execution-id", execution_id
    )
    assert out == []
    code, out, _ = cli(
        capsys, "runs", "--endpoint-url", moto_endpoint, "--stack", stack_name, "--execution-id", execution_id
    )
    (run,) = json_lines(out)
    assert (run["read"], run["written"], run["quarantined"]) == (2, 0, 2)  # AppFlow's run as it was ingested
    (again,) = run["reingestions"]
    assert again["note"] == "version field fixed" and again["scope"] == "quarantine"
    assert (again["chunks_finished"], again["read"], again["written"], again["quarantined"]) == (1, 2, 2, 0)

    # And re-ingesting the whole run again changes nothing (newest wins): all stale
    code, out, _ = cli(
        capsys, "reingest", "--endpoint-url", moto_endpoint, "--stack", stack_name, "--execution-id", execution_id
    )
    result = json.loads(out[-1])
    assert result["drained"]["written"] == 0 and result["drained"]["stale"] == 2
    assert result["drained"]["events_published"] == 0


# ------------------------------------------------------------------------------------------ --stack through CloudFormation
def _plain_stack(endpoint: str, name: str) -> dict[str, str]:
    """The template's buckets, queues and tables as a plain CloudFormation stack in moto (no SAM transform)."""
    from appflow_local.stack.template import Template

    template = Template.load(TEMPLATE)
    kinds = ("AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::DynamoDB::Table")
    # Only what identifies each resource: the rest (encryption, policies, redrive) refers to the
    # template's parameters and conditions, which this plain stack does not carry.
    kept = ("KeySchema", "AttributeDefinitions", "BillingMode", "StreamSpecification")
    resources = {
        logical_id: {
            "Type": resource["Type"],
            "Properties": {k: v for k, v in resource.get("Properties", {}).items() if k in kept},
        }
        for logical_id, resource in template.resources.items()
        if resource["Type"] in kinds and "Condition" not in resource
    }
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": resources}))
    summaries = cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries}


def test_the_verbs_resolve_a_deployed_stack_through_cloudformation(capsys, moto_endpoint, tmp_path):
    from appflow_ingest.adapters.quarantine import S3Quarantine
    from appflow_ingest.adapters.run_ledger import DynamoRunLedger
    from appflow_ingest.domain.landing.chunks import Chunk
    from appflow_ingest.domain.landing.keys import LandingKey

    # Given a stack created by CloudFormation, with a run in its ledger, a quarantine entry and a dead letter
    name = f"cfn{uuid.uuid4().hex[:8]}"
    physical = _plain_stack(moto_endpoint, name)
    session = boto3.session.Session(region_name="us-east-1")
    dynamodb, s3, sqs = (session.client(s, endpoint_url=moto_endpoint) for s in ("dynamodb", "s3", "sqs"))
    execution_id = str(uuid.uuid4())
    ledger = DynamoRunLedger(dynamodb, physical["LedgerTable"])
    ledger.file_planned(execution_id, FLOW, f"s3://{physical['LandingBucket']}/{FLOW}/{execution_id}/f@e", 1)
    ledger.chunk_finished(execution_id, FLOW, "c1", {"chunks_finished": 1, "read": 3, "written": 2, "quarantined": 1})
    chunk = Chunk(
        bucket=physical["LandingBucket"], key=f"{FLOW}/{execution_id}/f", size=10, start=0, end=10, format="jsonl",
        landing=LandingKey(flow_name=FLOW, execution_id=execution_id),
    )  # fmt: skip
    S3Quarantine(s3, physical["QuarantineBucket"], raw_bucket=physical["RawQuarantineBucket"]).put(
        chunk, [{"source": chunk.uri, "offset": 4, "flow_name": FLOW, "execution_id": execution_id, "kind": "invalid",
                 "field": "Id", "reason": f"{chunk.uri} offset 4: field 'Id': expected an id", "expected": "an id"}]
    )  # fmt: skip
    sqs.send_message(QueueUrl=physical["ChunkDeadLetterQueue"], MessageBody=chunk.to_json())

    # When the verbs are pointed at it by name (--endpoint-url: moto's CloudFormation stands in for AWS's)
    where = ["--stack", name, "--endpoint-url", moto_endpoint, "--region", "us-east-1"]
    code, out, err = cli(capsys, "runs", *where)
    assert code == 0, err
    (run,) = json_lines(out)
    assert run["execution_id"] == execution_id and run["read"] == 3

    code, out, _ = cli(capsys, "quarantine", *where, "--execution-id", execution_id)
    assert [e["field"] for e in json_lines(out)] == ["Id"]

    code, out, _ = cli(capsys, "dead-letters", *where)
    assert {q["queue"]: q["messages"] for q in json_lines(out)}["ChunkDeadLetterQueue"] == 1

    code, out, _ = cli(capsys, "report", *where, "--execution-id", execution_id)
    assert code == 0 and "quarantined 1" in "\n".join(out)

    # Then a redrive moves the chunk back to the stack's chunk queue (AWS's event source mapping takes it from there)
    code, out, _ = cli(capsys, "redrive", "ChunkDeadLetterQueue", *where)
    assert code == 0 and json.loads(out[-1])["redriven"] == 1 and "drained" not in json.loads(out[-1])
    moved = sqs.receive_message(QueueUrl=physical["ChunkQueue"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["key"] for m in moved] == [chunk.key]

    # A stack that does not exist is one line, exit 2
    code, out, err = cli(capsys, "runs", "--stack", "no-such-stack", "--endpoint-url", moto_endpoint)
    assert code == 2 and out == [] and err.count("\n") == 1 and "no stack 'no-such-stack'" in err


def test_every_log_line_of_an_invocation_carries_its_correlation_keys(replayed):
    _, _, execution_id, _, _, err = replayed
    logs = [json.loads(line) for line in err.splitlines() if line.startswith('{"level"')]
    by_function: dict[str, list[dict[str, Any]]] = {}
    for log in logs:
        by_function.setdefault(log.get("function_name", "").rsplit("-", 1)[-1], []).append(log)
    assert by_function["IngestFunction"] and by_function["PlanFunction"]
    for log in by_function["IngestFunction"] + by_function["PlanFunction"]:
        assert (log["flow"], log["execution_id"]) == (FLOW, execution_id), log
    assert all(f"{execution_id}/part-00000.jsonl@" in log["chunk_id"] for log in by_function["IngestFunction"])
    assert all(log["file"].endswith("part-00000.jsonl") for log in by_function["PlanFunction"])
    # The stream consumers log only what goes wrong; such a line names its batch.
    assert all("first_sequence_number" in log for log in by_function.get("PublishFunction", []))


def test_reingest_reads_the_flows_from_the_pushed_configuration(capsys, moto_endpoint, stack_name, tmp_path):
    # Given a stack configured by a configuration file (flows in SSM, FlowObjects left empty)
    repo = Path(__file__).resolve().parents[2]
    code, _, err = cli(
        capsys, "local", "provision", "--endpoint-url", moto_endpoint, "--stack-name", stack_name,
        "--config", str(repo / "config/demo.yaml"),
    )  # fmt: skip
    assert code == 0, err
    path = tmp_path / "accounts.jsonl"
    path.write_bytes(json.dumps({**GOOD[0], "Id": "0015g00000AbCdEAAZ"}).encode() + b"\n")
    execution_id = str(uuid.uuid4())
    argv = ["local", "replay", "--endpoint-url", moto_endpoint, "--stack-name", stack_name]
    code, out, err = cli(capsys, *argv, "--flow", "salesforce-account", "--execution-id", execution_id, str(path))
    assert code == 0, err

    # When its run is re-ingested, the file is planned with the flow's configuration and written stale
    code, out, err = cli(
        capsys, "reingest", "--endpoint-url", moto_endpoint, "--stack", stack_name, "--execution-id", execution_id
    )
    result = json.loads(out[-1])
    assert code == 0, err
    assert result["runs"][execution_id]["read"] == 1 and result["runs"][execution_id]["stale"] == 1
