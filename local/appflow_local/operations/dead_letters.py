"""``dead-letters`` and ``redrive``: what each failure queue holds, and sending it back where it belongs.

Redrive deletes a message only once what it stood for was handed back (sent to its queue, invoked,
re-published): a crash in between hands it back twice, which the pipeline absorbs (chunks and
files are counted once by the run ledger, writes are newest-wins, events carry deterministic ids).
A second redrive finds the queue empty and changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from appflow_local.emulator.event_sources import stream_record
from appflow_local.operations.errors import OperationFailed, UserError
from appflow_local.operations.failure_queues import (
    EVENTBRIDGE_EVENTS,
    SQS_MESSAGES,
    STREAM_BATCHES,
    FailureQueue,
    StreamConsumer,
    failure_queues,
)
from appflow_local.operations.functions import StackFunctions
from appflow_local.operations.target import Target

SAMPLE = 3
PEEK_LIMIT = 30
# Long enough for one message's redrive (a stream batch re-read and invoked) before it shows again.
REDRIVE_VISIBILITY_SECONDS = 300


def stack_failure_queues(target: Target) -> dict[str, FailureQueue]:
    """The template's failure queues that exist in this stack."""
    return {lid: q for lid, q in failure_queues(target.template).items() if target.has(lid)}


def find_queue(target: Target, name: str) -> FailureQueue:
    """A failure queue by logical id (``ChunkDeadLetterQueue``), any case, or its physical name."""
    queues = stack_failure_queues(target)
    for logical_id, queue in queues.items():
        physical = target.physical(logical_id)
        if name.lower() in (logical_id.lower(), physical.lower(), physical.rsplit("/", 1)[-1].lower()):
            return queue
    raise UserError(f"no failure queue {name!r} in this stack; it has {', '.join(sorted(queues))}")


# ------------------------------------------------------------------------------------------ looking
def _depth(target: Target, queue_url: str) -> int:
    attributes = target.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def _peek(target: Target, queue_url: str, limit: int = PEEK_LIMIT) -> list[dict[str, Any]]:
    """Up to ``limit`` messages, left visible (a dead-letter queue has no redrive of its own to count receives)."""
    sqs, seen = target.client("sqs"), {}
    for _ in range(limit // 10):
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        new = [m for m in batch if m["MessageId"] not in seen]
        if not new:
            break
        seen.update((m["MessageId"], m) for m in new)
    return list(seen.values())


def describe_message(queue: FailureQueue, message: dict[str, Any]) -> dict[str, Any]:
    """One message made readable: what it stands for and why it failed."""
    attributes = {k: v.get("StringValue") for k, v in (message.get("MessageAttributes") or {}).items()}
    sent = int(message.get("Attributes", {}).get("SentTimestamp", "0")) / 1000
    described: dict[str, Any] = {
        "message_id": message["MessageId"],
        "sent": datetime.fromtimestamp(sent, UTC).isoformat(timespec="seconds") if sent else None,
    }
    try:
        body = json.loads(message["Body"])
    except ValueError:
        return {**described, "body": message["Body"][:300]}
    if queue.kind == SQS_MESSAGES:
        landing = body.get("landing") or {}
        described.update(
            chunk=f"{body.get('bucket') and 's3://' + body['bucket'] + '/' + body.get('key', '')} bytes "
            f"[{body.get('start')}, {body.get('end')})",
            flow=landing.get("flow_name"),
            execution_id=landing.get("execution_id"),
            receives=message.get("Attributes", {}).get("ApproximateReceiveCount"),
        )
    elif queue.kind == EVENTBRIDGE_EVENTS:
        detail = body.get("detail") or {}
        described.update(
            event=f"{body.get('detail-type')} from {body.get('source')} ({body.get('id')})",
            about=detail.get("object", {}).get("key")
            if isinstance(detail.get("object"), dict)
            else detail.get("execution-id"),
            error=attributes.get("ErrorMessage") or attributes.get("ERROR_MESSAGE"),
            rule=attributes.get("RULE_ARN"),
        )
    else:
        info = body.get("DDBStreamBatchInfo") or {}
        context = body.get("requestContext") or {}
        described.update(
            batch=f"{info.get('batchSize')} record(s) {info.get('startSequenceNumber')}..{info.get('endSequenceNumber')} "
            f"of shard {info.get('shardId')}",
            stream=info.get("streamArn"),
            function=str(context.get("functionArn", "")).rsplit(":function:", 1)[-1] or None,
            condition=context.get("condition"),
        )
    return {k: v for k, v in described.items() if v is not None}


def dead_letters(target: Target) -> Iterator[dict[str, Any]]:
    """Per failure queue: its kind, what it holds, how many, the oldest age seen, and a readable sample."""
    now = time.time()
    for logical_id, queue in sorted(stack_failure_queues(target).items()):
        url = target.physical(logical_id)
        count = _depth(target, url)
        peeked = _peek(target, url) if count else []
        sent = [int(m.get("Attributes", {}).get("SentTimestamp", "0")) / 1000 for m in peeked]
        yield {
            "queue": logical_id,
            "kind": queue.kind,
            "holds": queue.holds,
            "messages": count,
            "oldest_age_seconds": round(now - min(sent)) if sent else None,
            "sample": [describe_message(queue, m) for m in peeked[:SAMPLE]],
            "redrive": f"appflow-ingest redrive {logical_id} {target.where}" if count else None,
        }


# ------------------------------------------------------------------------------------------ redriving
@dataclass
class RedriveOutcome:
    queue: str
    kind: str
    dry_run: bool
    messages: int = 0
    redriven: int = 0
    failed: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def redrive(target: Target, queue: FailureQueue, functions: StackFunctions, *, dry_run: bool = False) -> RedriveOutcome:
    """Send every message of ``queue`` back where it belongs (``dry_run``: only say what would be done)."""
    url = target.physical(queue.logical_id)
    outcome = RedriveOutcome(queue.logical_id, queue.kind, dry_run)
    sqs = target.client("sqs")
    handled: set[str] = set()
    while True:
        batch = (
            _peek(target, url, limit=1000)
            if dry_run
            else sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=REDRIVE_VISIBILITY_SECONDS,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )
        batch = [m for m in batch if m["MessageId"] not in handled]
        if not batch:
            return outcome
        for message in batch:
            handled.add(message["MessageId"])
            outcome.messages += 1
            try:
                action = _send_back(target, queue, functions, message, dry_run)
            except OperationFailed as error:
                # Left in the queue (visible again after the timeout) for a later redrive.
                outcome.failed.append(f"{message['MessageId']}: {error}")
                continue
            outcome.actions.append(action)
            if not dry_run:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                outcome.redriven += 1
        if dry_run:
            return outcome


def _send_back(
    target: Target, queue: FailureQueue, functions: StackFunctions, message: dict[str, Any], dry_run: bool
) -> str:
    if queue.kind == SQS_MESSAGES:
        return _to_source_queue(target, queue, message, dry_run)
    if queue.kind == EVENTBRIDGE_EVENTS:
        return _to_function(queue, functions, message, dry_run)
    if queue.kind == STREAM_BATCHES:
        return _stream_batch(target, queue, functions, message, dry_run)
    raise OperationFailed(f"{queue.logical_id}: no redrive for kind {queue.kind}")


def _to_source_queue(target: Target, queue: FailureQueue, message: dict[str, Any], dry_run: bool) -> str:
    # By hand rather than SQS's StartMessageMoveTask: the emulator lacks it, and each message is reported.
    assert queue.source_queue is not None
    action = f"message {message['MessageId']} -> {queue.source_queue}"
    if not dry_run:
        attributes = {
            name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
            for name, value in (message.get("MessageAttributes") or {}).items()
        }
        target.client("sqs").send_message(
            QueueUrl=target.physical(queue.source_queue),
            MessageBody=message["Body"],
            **({"MessageAttributes": attributes} if attributes else {}),
        )
    return action


def _to_function(queue: FailureQueue, functions: StackFunctions, message: dict[str, Any], dry_run: bool) -> str:
    try:
        event = json.loads(message["Body"])
    except ValueError:
        raise OperationFailed("the message is not an event (not JSON); left in the queue") from None
    if len(queue.functions) != 1:
        raise OperationFailed(f"{queue.logical_id} feeds {queue.functions}: cannot tell which function to send it to")
    function = queue.functions[0]
    action = f"event {event.get('id')} ({event.get('detail-type')}) -> {function}"
    if not dry_run:
        functions.invoke_async(function, event)
    return action


def _stream_batch(
    target: Target, queue: FailureQueue, functions: StackFunctions, message: dict[str, Any], dry_run: bool
) -> str:
    try:
        info = json.loads(message["Body"])["DDBStreamBatchInfo"]
        stream_arn, shard = info["streamArn"], info["shardId"]
        start, end = info["startSequenceNumber"], info["endSequenceNumber"]
    except (ValueError, KeyError, TypeError):
        raise OperationFailed("not a stream batch pointer (no DDBStreamBatchInfo); left in the queue") from None
    consumer = _consumer(target, queue, stream_arn, message)
    records = _read_stream(target, stream_arn, shard, start, end)
    if records is None:
        action = f"batch {start}..{end}: the stream no longer holds it; every item of {consumer.table} -> {consumer.function}"
        if not dry_run:
            _rederive_from_table(target, consumer.function, consumer.table, stream_arn, functions)
        return action
    action = f"batch {start}..{end} ({len(records)} record(s)) re-read from the stream -> {consumer.function}"
    if not dry_run:
        _invoke_with_records(functions, consumer.function, [stream_record(r, stream_arn) for r in records])
    return action


def _consumer(target: Target, queue: FailureQueue, stream_arn: str, message: dict[str, Any]) -> StreamConsumer:
    """Which consumer gave up on the batch: the function its failure record names, reading that stream."""
    function_arn = str((json.loads(message["Body"]).get("requestContext") or {}).get("functionArn", ""))
    parts = function_arn.split(":")
    function_name = parts[6] if len(parts) > 6 else None
    candidates = [c for c in queue.consumers if function_name in (None, target.physical(c.function))]
    on_stream = [c for c in candidates if target.stream_arn(c.table) == stream_arn]
    if on_stream:
        return on_stream[0]
    if len(candidates) == 1:  # the table's stream was re-created since; its consumer is still the one named
        return candidates[0]
    raise OperationFailed(f"no consumer of {stream_arn} sends its failures to {queue.logical_id}")


def _read_stream(target: Target, stream_arn: str, shard: str, start: str, end: str) -> list[dict[str, Any]] | None:
    """The records ``start..end`` of the shard, or None when the stream no longer holds them."""
    streams = target.client("dynamodbstreams")
    try:
        if shard not in _shards(streams, stream_arn):
            return None  # a stream drops a shard 24 hours after it closed
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=start
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in response["Records"]:
                if int(record["dynamodb"]["SequenceNumber"]) > int(end):
                    return records
                records.append(record)
            if not response["Records"]:
                return records
            iterator = response.get("NextShardIterator")
        return records
    except ClientError as error:
        if error.response["Error"]["Code"] in (
            "TrimmedDataAccessException",
            "ResourceNotFoundException",
            "ExpiredIteratorException",
            "ValidationException",
        ):
            return None
        raise


def _shards(streams: Any, stream_arn: str) -> set[str]:
    shards: set[str] = set()
    request: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        description = streams.describe_stream(**request)["StreamDescription"]
        shards.update(shard["ShardId"] for shard in description["Shards"])
        if not description.get("LastEvaluatedShardId"):
            return shards
        request["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]


def _invoke_with_records(functions: StackFunctions, function: str, records: list[dict[str, Any]]) -> None:
    for start in range(0, len(records), 100):
        batch = records[start : start + 100]
        result = functions.invoke(function, {"Records": batch})
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        if failures:
            raise OperationFailed(f"{function} failed again from sequence number {failures[0].get('itemIdentifier')}")


def _rederive_from_table(
    target: Target, function: str, table_logical_id: str, stream_arn: str, functions: StackFunctions
) -> None:
    """Every item of the table as an INSERT stream record: the consumer re-derives what it missed.

    The batch pointer names sequence numbers, not keys; once the stream has dropped them, only the
    whole table says what changed. Consumers absorb the repeats (events carry deterministic ids,
    aggregation counts each contribution version once).
    """
    table = target.physical(table_logical_id)
    dynamodb = target.client("dynamodb")
    key_names = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
    sequence = int(time.time() * 1e6)
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, PaginationConfig={"PageSize": 100}):
        records = []
        for item in page["Items"]:
            sequence += 1
            records.append(
                stream_record(
                    {
                        "eventID": f"rederived-{sequence}",
                        "eventName": "INSERT",
                        "awsRegion": target.region,
                        "dynamodb": {
                            "ApproximateCreationDateTime": datetime.now(UTC),
                            "Keys": {k: item[k] for k in key_names if k in item},
                            "NewImage": item,
                            "SequenceNumber": str(sequence),
                            "StreamViewType": "NEW_AND_OLD_IMAGES",
                        },
                    },
                    stream_arn,
                )
            )
        if records:
            _invoke_with_records(functions, function, records)
