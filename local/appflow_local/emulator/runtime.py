"""Drive the stack's functions until every queue and stream is drained, and summarise the run.

The wiring comes from the template's function ``Events`` resolved against the provisioned stack;
the counts come from the functions' own EMF metrics, as CloudWatch would show them. The loop is
single-threaded on purpose: the handlers do their own concurrency, and one invocation at a time
keeps a local run deterministic and its failures readable.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from appflow_local.clients import Emulator
from appflow_local.emulator.event_sources import (
    CheckpointStore,
    EventBridgeDelivery,
    EventSource,
    SqsEventSource,
    StreamEventSource,
    queue_depth,
)
from appflow_local.emulator.function_runtime import Invocation, LocalFunction
from appflow_local.stack.description import StackDescription, function_environment
from appflow_local.stack.template import FunctionSpec, Template, TemplateError

# Summary keys for the metrics the functions emit; any other metric is reported in snake_case.
SUMMARY_NAMES = {
    "RecordsRead": "read",
    "RecordsWritten": "written",
    "RecordsStale": "stale",
    "RecordsQuarantined": "quarantined",
    "EventsPublished": "events_published",
}


def snake_case(name: str) -> str:
    return SUMMARY_NAMES.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 3)


@dataclass
class RunSummary:
    """Counts of one run: metrics summed from EMF, invocations, and everything that did not get through."""

    metrics: Counter[str] = field(default_factory=Counter)
    invocations: Counter[str] = field(default_factory=Counter)
    failed_invocations: Counter[str] = field(default_factory=Counter)
    overran_timeout: Counter[str] = field(default_factory=Counter)
    dead_lettered: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    failure_queue_depths: dict[str, int] = field(default_factory=dict)
    # What the failure queues held before this run: reported, but only what the run adds is a failure.
    failure_queue_depths_before: dict[str, int] = field(default_factory=dict)
    undelivered: dict[str, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    def record(self, invocation: Invocation) -> None:
        self.invocations[invocation.function] += 1
        self.metrics.update(invocation.metrics)
        if invocation.failed:
            self.failed_invocations[invocation.function] += 1
        if invocation.timed_out:
            self.overran_timeout[invocation.function] += 1

    def count(self, key: str) -> int | float:
        """A summary count by its summary name (``read``) or metric name (``RecordsRead``)."""
        totals = {snake_case(name): value for name, value in self.metrics.items()}
        return _number(totals.get(snake_case(key), 0))

    @property
    def ok(self) -> bool:
        """Nothing failed, nothing was dropped, no dead-letter queue holds anything, nothing is left."""
        return not (
            sum(self.failed_invocations.values())
            or self.dropped
            or any(depth > self.failure_queue_depths_before.get(q, 0) for q, depth in self.failure_queue_depths.items())
            or any(self.undelivered.values())
        )

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int | float] = {key: 0 for key in SUMMARY_NAMES.values()}
        counts.update({snake_case(name): _number(value) for name, value in sorted(self.metrics.items())})
        read = float(counts.get("read", 0))
        return {
            **counts,
            "invocations": dict(self.invocations),
            "failed_invocations": sum(self.failed_invocations.values()),
            "failed_invocations_by_function": dict(self.failed_invocations),
            "overran_timeout": dict(self.overran_timeout),
            "dead_lettered": dict(self.dead_lettered),
            "dropped": self.dropped,
            "dead_letter_queues": self.failure_queue_depths,
            **(
                {"dead_letter_queues_before": self.failure_queue_depths_before}
                if self.failure_queue_depths_before
                else {}
            ),
            "undelivered": self.undelivered,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "records_per_second": round(read / self.elapsed_seconds, 1) if self.elapsed_seconds else 0.0,
            "ok": self.ok,
        }


ProgressListener = Callable[[Invocation, RunSummary], None]


class LocalRuntime:
    """The stack's functions and their triggers, ready to run against one emulator."""

    def __init__(
        self,
        emulator: Emulator,
        stack: StackDescription,
        template: Template | None = None,
        *,
        log_sink: TextIO | None = None,
        progress: ProgressListener | None = None,
    ) -> None:
        self.emulator = emulator
        self.stack = stack
        self.template = template or stack.load_template()
        self.log_sink = log_sink or sys.stderr
        self.progress = progress
        self.summary = RunSummary()
        self._functions: dict[str, LocalFunction] = {}
        self.sources: list[EventSource] = self._build_sources()

    # ------------------------------------------------------------------ functions
    def function(self, name: str) -> LocalFunction:
        """The function by logical id or short name, loaded like one Lambda execution environment."""
        spec = self.template.function(name)
        if spec.logical_id not in self._functions:
            self._functions[spec.logical_id] = LocalFunction(
                spec,
                function_name=self.stack.function_name(spec),
                environment=function_environment(spec, self.stack, self.template),
                region=self.stack.region,
                endpoint_url=self.emulator.endpoint_url,
                log_sink=self.log_sink,
            )
        return self._functions[spec.logical_id]

    def invoke(self, name: str, event: Any) -> Invocation:
        """One synchronous invocation, as ``sam local invoke`` does (no retries, no destinations)."""
        invocation = self.function(name).invoke(event)
        self._on_invocation(invocation)
        return invocation

    # ------------------------------------------------------------------ the loop
    def run_until_drained(self) -> RunSummary:
        """Poll every source, upstream first, until a full pass finds nothing to deliver."""
        started = time.monotonic()
        while True:
            handled = 0
            for source in self.sources:
                while (count := source.poll()) > 0:
                    handled += count
            if handled == 0:
                break
        self.summary.elapsed_seconds += time.monotonic() - started
        queue_ids = {attrs.get("Ref"): logical for logical, attrs in self.stack.resources.items()}
        for source in self.sources:
            outcome = source.outcome
            self.summary.dead_lettered.update({queue_ids.get(url, url): n for url, n in outcome.dead_lettered.items()})
            self.summary.dropped += outcome.dropped
            outcome.dead_lettered.clear()
            outcome.dropped = 0
        self.summary.undelivered = {source.name: n for source in self.sources if (n := source.pending())}
        self.summary.failure_queue_depths = self.failure_queue_depths()
        return self.summary

    def failure_queue_depths(self) -> dict[str, int]:
        """Messages in each dead-letter / failure queue of the stack, by logical id."""
        return {logical: queue_depth(self.emulator, url) for logical, url in sorted(self.stack.failure_queues.items())}

    def _on_invocation(self, invocation: Invocation) -> None:
        self.summary.record(invocation)
        if self.progress:
            self.progress(invocation, self.summary)

    # ------------------------------------------------------------------ wiring from the template
    def _build_sources(self) -> list[EventSource]:
        sources: list[EventSource] = []
        for spec in self.template.functions():
            resolver = self.stack.resolver(self.template)
            for event in spec.events:
                name = f"{spec.logical_id}.{event.name}"
                if event.type in ("EventBridgeRule", "CloudWatchEvent"):
                    sources.append(self._eventbridge_source(spec, event.name, name))
                elif event.type in ("SQS", "DynamoDB"):
                    props = resolver.resolve(event.properties) or {}
                    if props.get("Enabled") is False:
                        continue
                    sources.append(
                        self._sqs_source(spec, name, props)
                        if event.type == "SQS"
                        else self._stream_source(spec, event.name, name, props)
                    )
                else:
                    self.log_sink.write(f"[local] {name}: event type {event.type} is not emulated; ignored\n")
        order = {EventBridgeDelivery: 0, SqsEventSource: 1, StreamEventSource: 2}
        return sorted(sources, key=lambda source: order[type(source)])

    def _queue_url(self, arn: str, what: str) -> str:
        logical_id = self.stack.logical_id_of_arn(arn)
        if logical_id is None:
            raise TemplateError(f"{what}: {arn} is not a queue of this stack")
        return str(self.stack.attribute(logical_id))

    def _eventbridge_source(self, spec: FunctionSpec, event: str, name: str) -> EventBridgeDelivery:
        delivery = next((d for d in self.stack.deliveries if d.function == spec.logical_id and d.event == event), None)
        if delivery is None:
            raise TemplateError(f"{name} has no delivery queue: provision the stack again")
        async_config = self.stack.resolver(self.template).resolve(
            {k: spec.properties.get(k) for k in ("DeadLetterQueue", "EventInvokeConfig")}
        )
        invoke_config = async_config.get("EventInvokeConfig") or {}
        dead_letter = async_config.get("DeadLetterQueue") or {}
        on_failure = (invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}
        return EventBridgeDelivery(
            self.emulator,
            self.function(spec.logical_id),
            name=name,
            queue_url=delivery.queue_url,
            max_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
            dead_letter_queue_url=(
                self._queue_url(dead_letter["TargetArn"], name)
                if dead_letter.get("Type", "SQS") == "SQS" and dead_letter.get("TargetArn")
                else None
            ),
            on_failure_queue_url=(
                self._queue_url(on_failure["Destination"], name)
                if on_failure.get("Type", "SQS") == "SQS" and on_failure.get("Destination")
                else None
            ),
            on_invocation=self._on_invocation,
            log=self.log_sink,
        )

    def _sqs_source(self, spec: FunctionSpec, name: str, props: dict[str, Any]) -> SqsEventSource:
        return SqsEventSource(
            self.emulator,
            self.function(spec.logical_id),
            name=name,
            queue_url=self._queue_url(props["Queue"], name),
            queue_arn=props["Queue"],
            batch_size=int(props.get("BatchSize", 10)),
            report_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            on_invocation=self._on_invocation,
        )

    def _stream_source(self, spec: FunctionSpec, event: str, name: str, props: dict[str, Any]) -> StreamEventSource:
        # StartingPosition LATEST is read like TRIM_HORIZON: locally the stream only holds this stack's
        # own writes, and delivering them all is the at-least-once superset of what AWS would deliver.
        stream_arn = props["Stream"]
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        # Keyed by the stream's label too: a re-created table has a new stream, read from its start.
        checkpoints = CheckpointStore(
            self.emulator,
            self.stack.state_bucket,
            f"checkpoints/{spec.logical_id}/{event}/{stream_arn.rsplit('/', 1)[-1]}",
        )
        return StreamEventSource(
            self.emulator,
            self.function(spec.logical_id),
            name=name,
            stream_arn=stream_arn,
            checkpoints=checkpoints,
            batch_size=int(props.get("BatchSize", 100)),
            report_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            bisect_on_error=str(props.get("BisectBatchOnFunctionError", False)).lower() == "true",
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            on_failure_queue_url=self._queue_url(on_failure, name) if on_failure else None,
            on_invocation=self._on_invocation,
            log=self.log_sink,
        )
