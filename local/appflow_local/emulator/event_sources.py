"""Lambda's triggers, emulated against the emulator's real queues and streams.

Each source polls one thing and invokes one function with events in the exact shape Lambda
builds, and applies Lambda's failure semantics, compressed in time:

- ``EventBridgeDelivery``: an EventBridgeRule event. moto matched the rule's pattern and put the
  envelope on a delivery queue; the function is invoked asynchronously as Lambda would (retried,
  then sent to the function's dead-letter queue or on-failure destination).
- ``SqsEventSource``: an SQS event source mapping. Batches carry receipt handles and attributes;
  successes are deleted, failures become visible again at once, so after ``maxReceiveCount``
  receives moto's redrive moves them to the dead-letter queue, as on AWS.
- ``StreamEventSource``: a DynamoDB stream event source mapping. Records are read from the real
  stream from a checkpoint kept in the emulator; partial batch responses, bisection on error,
  ``MaximumRetryAttempts`` and the on-failure destination behave as documented for Lambda.
"""

from __future__ import annotations

import base64
import json
import sys
from collections import Counter, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from botocore.exceptions import ClientError

from appflow_local.clients import Emulator
from appflow_local.emulator.function_runtime import Invocation, LocalFunction

# Locally a record that keeps failing must not spin forever where AWS would retry for days.
LOCAL_RETRY_CAP = 100
# Without a redrive policy SQS redelivers forever; locally a message is set aside after this many.
LOCAL_MAX_RECEIVES = 10
_SQS_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader", "SequenceNumber", "MessageGroupId", "MessageDeduplicationId",
)  # fmt: skip


class Outcome:
    """What a source's polls did, summed over a run."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []
        self.dead_lettered: Counter[str] = Counter()  # sent by the runtime to a failure destination
        self.dropped = 0  # given up with no destination to keep them (AWS would discard them too)


class EventSource(Protocol):
    name: str
    function: LocalFunction
    outcome: Outcome

    def poll(self) -> int:
        """Deliver what is waiting now (one batch); return how many messages or records were handled."""

    def pending(self) -> int:
        """How many messages or records are still waiting or in flight."""


InvocationListener = Callable[[Invocation], None]


def queue_depth(emulator: Emulator, queue_url: str) -> int:
    attributes = emulator.sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------------- EventBridge
class EventBridgeDelivery:
    """An EventBridgeRule trigger: rule -> delivery queue -> asynchronous invocation."""

    def __init__(
        self,
        emulator: Emulator,
        function: LocalFunction,
        *,
        name: str,
        queue_url: str,
        max_retries: int = 2,
        dead_letter_queue_url: str | None = None,
        on_failure_queue_url: str | None = None,
        on_invocation: InvocationListener | None = None,
        log: TextIO | None = None,
    ) -> None:
        self.emulator, self.function, self.name = emulator, function, name
        self.queue_url = queue_url
        self.max_retries = max_retries
        self.dead_letter_queue_url = dead_letter_queue_url
        self.on_failure_queue_url = on_failure_queue_url
        self.on_invocation = on_invocation or (lambda _: None)
        self.log = log or sys.stderr
        self.outcome = Outcome()

    def poll(self) -> int:
        messages = self.emulator.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        for message in messages:
            self._invoke_async(json.loads(message["Body"]))
            self.emulator.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def pending(self) -> int:
        return queue_depth(self.emulator, self.queue_url)

    def _invoke_async(self, event: dict[str, Any]) -> None:
        """Lambda's asynchronous invocation: the first attempt plus ``max_retries``, then a destination."""
        attempts = self.max_retries + 1
        for _ in range(attempts):
            invocation = self.function.invoke(event)
            self.outcome.invocations.append(invocation)
            self.on_invocation(invocation)
            if not invocation.failed:
                return
        self._give_up(event, invocation, attempts)

    def _give_up(self, event: dict[str, Any], invocation: Invocation, attempts: int) -> None:
        sqs = self.emulator.sqs
        if self.on_failure_queue_url:
            record = {
                "version": "1.0",
                "timestamp": _now_iso(),
                "requestContext": {
                    "requestId": invocation.request_id,
                    "functionArn": f"{self.function.arn}:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": attempts,
                },
                "requestPayload": event,
                "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
                "responsePayload": {"errorMessage": invocation.error, "errorType": invocation.error_type},
            }
            sqs.send_message(QueueUrl=self.on_failure_queue_url, MessageBody=json.dumps(record))
            self.outcome.dead_lettered[self.on_failure_queue_url] += 1
        elif self.dead_letter_queue_url:
            sqs.send_message(
                QueueUrl=self.dead_letter_queue_url,
                MessageBody=json.dumps(event),
                MessageAttributes={
                    "RequestID": {"DataType": "String", "StringValue": invocation.request_id},
                    "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    "ErrorMessage": {"DataType": "String", "StringValue": (invocation.error or "")[:1024]},
                },
            )
            self.outcome.dead_lettered[self.dead_letter_queue_url] += 1
        else:
            self.outcome.dropped += 1
            self.log.write(
                f"[{self.name}] event {event.get('id')} failed {attempts} times and was DROPPED: "
                f"{self.function.spec.logical_id} declares no DeadLetterQueue or EventInvokeConfig "
                f"OnFailure destination, so AWS would discard it too\n"
            )


# ---------------------------------------------------------------------------------------------------- SQS
def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One message as Lambda's SQS event source delivers it."""
    attributes = message.get("Attributes", {})
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: attributes[k] for k in _SQS_SYSTEM_ATTRIBUTES if k in attributes},
        "messageAttributes": {
            name: _lambda_message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return converted


def reported_failures(invocation: Invocation, identifiers: Sequence[str], report_item_failures: bool) -> set[str]:
    """Which items of a batch failed, by Lambda's rules for partial batch responses."""
    if invocation.failed:
        return set(identifiers)
    if not report_item_failures or not isinstance(invocation.result, dict):
        return set()
    failures = invocation.result.get("batchItemFailures") or []
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in identifiers:
            return set(identifiers)  # a malformed response fails the whole batch
        failed.add(identifier)
    return failed


class SqsEventSource:
    """An SQS event source mapping (``Type: SQS``)."""

    def __init__(
        self,
        emulator: Emulator,
        function: LocalFunction,
        *,
        name: str,
        queue_url: str,
        queue_arn: str,
        batch_size: int = 10,
        report_item_failures: bool = False,
        on_invocation: InvocationListener | None = None,
    ) -> None:
        self.emulator, self.function, self.name = emulator, function, name
        self.queue_url, self.queue_arn = queue_url, queue_arn
        self.batch_size = batch_size
        self.report_item_failures = report_item_failures
        self.on_invocation = on_invocation or (lambda _: None)
        self.outcome = Outcome()
        attributes = emulator.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
        self.has_redrive = "RedrivePolicy" in attributes.get("Attributes", {})

    def poll(self) -> int:
        messages = self._receive_batch()
        if not messages:
            return 0
        event = {"Records": [sqs_record(m, self.queue_arn, self.emulator.region) for m in messages]}
        invocation = self.function.invoke(event)
        self.outcome.invocations.append(invocation)
        self.on_invocation(invocation)
        failed = reported_failures(invocation, [m["MessageId"] for m in messages], self.report_item_failures)
        succeeded = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed and self._may_retry(m)]
        for start in range(0, len(succeeded), 10):
            self.emulator.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(succeeded[start : start + 10])
                ],
            )
        for start in range(0, len(retry), 10):
            # Visible again at once instead of after VisibilityTimeout: local time runs compressed.
            self.emulator.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(retry[start : start + 10])
                ],
            )
        return len(messages)

    def pending(self) -> int:
        return queue_depth(self.emulator, self.queue_url)

    def _receive_batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        while len(batch) < self.batch_size:
            received = self.emulator.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(batch)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            batch.extend(received)
        return batch

    def _may_retry(self, message: dict[str, Any]) -> bool:
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        # With a redrive policy moto moves it to the DLQ on a later receive; without one, set it
        # aside (it stays in flight and the run reports it undelivered).
        return self.has_redrive or receives < LOCAL_MAX_RECEIVES


# ---------------------------------------------------------------------------------------------------- DynamoDB streams
def _base64_binaries(value: Any) -> Any:
    """boto3 decodes B/BS attribute values to bytes; Lambda delivers them base64-encoded."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _base64_binaries(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_base64_binaries(v) for v in value]
    return value


def stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """One stream record as Lambda's DynamoDB event source delivers it (images stay DynamoDB JSON)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in dynamodb:
            dynamodb[image] = _base64_binaries(dynamodb[image])
    converted = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion"),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:
        converted["userIdentity"] = record["userIdentity"]
    return converted


class CheckpointStore:
    """Per-shard positions kept in the emulator, as an event source mapping keeps them on AWS."""

    def __init__(self, emulator: Emulator, bucket: str, prefix: str) -> None:
        self.emulator, self.bucket, self.prefix = emulator, bucket, prefix

    def _key(self, shard_id: str) -> str:
        return f"{self.prefix}/{shard_id}"

    def get(self, shard_id: str) -> str | None:
        try:
            body = self.emulator.s3.get_object(Bucket=self.bucket, Key=self._key(shard_id))["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        return body.decode() or None

    def put(self, shard_id: str, sequence_number: str) -> None:
        self.emulator.s3.put_object(Bucket=self.bucket, Key=self._key(shard_id), Body=sequence_number.encode())


class StreamEventSource:
    """A DynamoDB stream event source mapping (``Type: DynamoDB``)."""

    def __init__(
        self,
        emulator: Emulator,
        function: LocalFunction,
        *,
        name: str,
        stream_arn: str,
        checkpoints: CheckpointStore,
        batch_size: int = 100,
        report_item_failures: bool = False,
        bisect_on_error: bool = False,
        max_retries: int = -1,
        on_failure_queue_url: str | None = None,
        on_invocation: InvocationListener | None = None,
        log: TextIO | None = None,
    ) -> None:
        self.emulator, self.function, self.name = emulator, function, name
        self.stream_arn = stream_arn
        self.checkpoints = checkpoints
        self.batch_size = batch_size
        self.report_item_failures = report_item_failures
        self.bisect_on_error = bisect_on_error
        self.max_retries = LOCAL_RETRY_CAP if max_retries < 0 else max_retries
        self.on_failure_queue_url = on_failure_queue_url
        self.on_invocation = on_invocation or (lambda _: None)
        self.log = log or sys.stderr
        self.outcome = Outcome()

    def poll(self) -> int:
        handled = 0
        for shard_id in self._shards():
            records = self._read(shard_id, self.batch_size)
            if records:
                self._deliver(shard_id, records)
                handled += len(records)
        return handled

    def pending(self) -> int:
        return sum(len(self._read(shard_id, self.batch_size)) for shard_id in self._shards())

    def _shards(self) -> list[str]:
        description = self.emulator.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description["Shards"]]

    def _read(self, shard_id: str, limit: int) -> list[dict[str, Any]]:
        checkpoint = self.checkpoints.get(shard_id)
        position = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": checkpoint}
            if checkpoint
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = self.emulator.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **position)[
            "ShardIterator"
        ]
        return self.emulator.streams.get_records(ShardIterator=iterator, Limit=limit)["Records"]

    def _deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        """Invoke until every record succeeded or was given up, checkpointing as Lambda does."""
        segments: deque[tuple[list[dict[str, Any]], int]] = deque([(records, 0)])
        while segments:
            batch, retries = segments.popleft()
            invocation = self.function.invoke({"Records": [stream_record(r, self.stream_arn) for r in batch]})
            self.outcome.invocations.append(invocation)
            self.on_invocation(invocation)
            failed_at = self._first_failure(invocation, batch)
            if failed_at is None:
                self._advance(shard_id, batch)
                continue
            done, rest = batch[:failed_at], batch[failed_at:]
            self._advance(shard_id, done)
            if retries >= self.max_retries:
                self._give_up(shard_id, rest, invocation, retries + 1)
                self._advance(shard_id, rest)
            elif invocation.failed and self.bisect_on_error and len(rest) > 1:
                middle = len(rest) // 2
                segments.appendleft((rest[middle:], retries + 1))
                segments.appendleft((rest[:middle], retries + 1))
            else:
                segments.appendleft((rest, retries + 1))

    def _first_failure(self, invocation: Invocation, batch: list[dict[str, Any]]) -> int | None:
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in batch]
        failed = reported_failures(invocation, sequence_numbers, self.report_item_failures)
        if not failed:
            return None
        # Lambda restarts from the lowest reported sequence number.
        return min(sequence_numbers.index(s) for s in failed)

    def _advance(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        if records:
            self.checkpoints.put(shard_id, records[-1]["dynamodb"]["SequenceNumber"])

    def _give_up(self, shard_id: str, records: list[dict[str, Any]], invocation: Invocation, attempts: int) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        if not self.on_failure_queue_url:
            self.outcome.dropped += len(records)
            self.log.write(
                f"[{self.name}] {len(records)} stream record(s) {first['SequenceNumber']}.."
                f"{last['SequenceNumber']} failed {attempts} times and were SKIPPED "
                f"(no DestinationConfig OnFailure)\n"
            )
            return

        def arrival(image: dict[str, Any]) -> str:
            created = image.get("ApproximateCreationDateTime")
            return created.isoformat() if isinstance(created, datetime) else str(created)

        record = {
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": self.function.arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if invocation.failed else None,
            },
            "version": "1.0",
            "timestamp": _now_iso(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": arrival(first),
                "approximateArrivalOfLastRecord": arrival(last),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self.emulator.sqs.send_message(QueueUrl=self.on_failure_queue_url, MessageBody=json.dumps(record))
        self.outcome.dead_lettered[self.on_failure_queue_url] += len(records)
