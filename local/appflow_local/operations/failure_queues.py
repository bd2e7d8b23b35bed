"""What each dead-letter / failure queue of the application holds, read from the template's wiring.

Three kinds, each sent back its own way (``redrive``):

- ``chunk-messages``: the dead-letter queue of an SQS queue (its ``RedrivePolicy``): messages that
  kept failing, moved back to that queue.
- ``eventbridge-events``: a rule's (or a schedule's) ``DeadLetterConfig`` or a function's
  ``DeadLetterQueue``: the events themselves, sent back to the function the rule feeds
  (asynchronously, as the rule would).
- ``stream-batches``: a stream event source's ``OnFailure`` destination: pointers to a range of
  stream records, re-read from the stream (or re-derived from the table once the stream has
  dropped them) and handed to the function again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appflow_local.stack.template import Template

SQS_MESSAGES = "chunk-messages"
EVENTBRIDGE_EVENTS = "eventbridge-events"
STREAM_BATCHES = "stream-batches"

HOLDS = {
    SQS_MESSAGES: "messages that failed maxReceiveCount times; redrive moves them back to their queue",
    EVENTBRIDGE_EVENTS: "events a function could not handle after its retries; redrive sends them to it again",
    STREAM_BATCHES: "pointers to stream records a function gave up on; redrive re-reads them and invokes it again",
}


@dataclass(frozen=True)
class StreamConsumer:
    function: str  # logical id
    table: str  # logical id of the table whose stream it reads


@dataclass
class FailureQueue:
    logical_id: str
    kind: str
    source_queue: str | None = None  # chunk-messages: the queue it is the dead-letter queue of
    functions: list[str] = field(default_factory=list)  # eventbridge-events: the function(s) it feeds
    consumers: list[StreamConsumer] = field(default_factory=list)  # stream-batches

    @property
    def holds(self) -> str:
        return HOLDS[self.kind]


def _logical_id(reference: Any) -> str | None:
    """``!GetAtt X.Arn`` / ``!Ref X`` (long or short form) -> ``X``."""
    if isinstance(reference, dict):
        if "Fn::GetAtt" in reference:
            value = reference["Fn::GetAtt"]
            return str(value[0] if isinstance(value, list) else str(value).split(".", 1)[0])
        if "Ref" in reference:
            return str(reference["Ref"])
    return None


def failure_queues(template: Template) -> dict[str, FailureQueue]:
    """Every queue the template wires as a dead-letter queue or failure destination, by logical id."""
    found: dict[str, FailureQueue] = {}

    def queue(logical_id: str | None, kind: str) -> FailureQueue | None:
        if logical_id is None or template.resources.get(logical_id, {}).get("Type") != "AWS::SQS::Queue":
            return None
        return found.setdefault(logical_id, FailureQueue(logical_id, kind))

    for logical_id, props in template.resources_of_type("AWS::SQS::Queue"):
        redrive = props.get("RedrivePolicy") or {}
        dead_letter = queue(_logical_id(redrive.get("deadLetterTargetArn")), SQS_MESSAGES)
        if dead_letter is not None:
            dead_letter.source_queue = logical_id
    for function in template.functions():
        dead_letter = queue(
            _logical_id((function.properties.get("DeadLetterQueue") or {}).get("TargetArn")), EVENTBRIDGE_EVENTS
        )
        if dead_letter is not None and function.logical_id not in dead_letter.functions:
            dead_letter.functions.append(function.logical_id)
        for event in function.events:
            if event.type in ("EventBridgeRule", "CloudWatchEvent", "Schedule", "ScheduleV2"):
                target = queue(
                    _logical_id((event.properties.get("DeadLetterConfig") or {}).get("Arn")), EVENTBRIDGE_EVENTS
                )
                if target is not None and function.logical_id not in target.functions:
                    target.functions.append(function.logical_id)
            elif event.type == "DynamoDB":
                on_failure = ((event.properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                    "Destination"
                )
                target = queue(_logical_id(on_failure), STREAM_BATCHES)
                table = _logical_id(event.properties.get("Stream"))
                if target is not None and table is not None:
                    target.consumers.append(StreamConsumer(function.logical_id, table))
    return found
